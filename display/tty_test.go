package display

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/morikuni/aec"
)

func TestTTYDrawsInPlaceAndLeavesTheFinalState(t *testing.T) {
	var out bytes.Buffer
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d := NewTTY(&out, "up", func() int { return 60 }, false)
	d.now = func() time.Time { return clock }
	d.Event("Network p_default", Working, "Creating")
	d.Event("Container p-web-1", Working, "Creating")
	d.Event("Volume v", Working, "Creating")
	d.draw()
	first := out.String()
	if !strings.Contains(first, "[+] up 0/3") || !strings.Contains(first, " ⠋ Container p-web-1 Creating") {
		t.Fatalf("first frame:\n%q", first)
	}
	if strings.Contains(first, aec.Up(1).String()) {
		t.Error("the first frame moved the cursor up")
	}
	clock = clock.Add(1500 * time.Millisecond)
	d.Event("Network p_default", Done, "Created")
	d.Event("Container p-web-1", Done, "Started")
	d.Event("Volume v", Done, "Created")
	out.Reset()
	d.Done()
	last := out.String()
	if !strings.HasPrefix(last, aec.Hide.String()+aec.Up(4).String()) {
		t.Errorf("the redraw does not go back up over the 4 lines: %q", last)
	}
	for _, want := range []string{"[+] up 3/3", " ✔ Network p_default Created", " ✔ Container p-web-1 Started", " ✔ Volume v          Created"} {
		if !strings.Contains(last, want) {
			t.Errorf("final frame lacks %q:\n%s", want, last)
		}
	}
	for _, l := range strings.Split(strings.TrimSuffix(strings.TrimPrefix(last, aec.Hide.String()+aec.Up(4).String()+aec.Column(0).String()), aec.Show.String()), "\n") {
		if l != "" && len([]rune(l)) != 60 {
			t.Errorf("line %q is %d wide, want the terminal's 60", l, len([]rune(l)))
		}
		if strings.Contains(l, "Container") && !strings.HasSuffix(l, "1.5s") {
			t.Errorf("line %q does not end with its time", l)
		}
	}
	// After Done, events are plain lines.
	out.Reset()
	d.Event("Container p-web-1", Done, "Running")
	if out.String() != " ✔ Container p-web-1 Running\n" {
		t.Errorf("after Done: %q", out.String())
	}
}

func TestTTYNarrowTerminal(t *testing.T) {
	var out bytes.Buffer
	d := NewTTY(&out, "up", func() int { return 30 }, false)
	d.Event("Container a-very-long-project-name-web-1", Working, "Starting")
	d.draw()
	for _, l := range strings.Split(out.String(), "\n")[1:] {
		if strings.Contains(l, "Container") && len([]rune(l)) > 30 {
			t.Errorf("line wider than the terminal: %q", l)
		}
	}
}

// An image's layers draw no lines: while the image is pulled its line
// shows a mark per layer and the bytes of all, as Docker Compose's does,
// and the header counts them.
func TestTTYChildProgress(t *testing.T) {
	var out bytes.Buffer
	d := NewTTY(&out, "pull", func() int { return 80 }, false)
	d.Event("Image busybox", Working, "Pulling")
	d.Progress("Image busybox", "aaaaaaaaaaaa", Working, "Downloading", 512*1000, 1000*1000)
	d.Progress("Image busybox", "bbbbbbbbbbbb", Done, "Already exists", 0, 1000*1000)
	d.draw()
	frame := out.String()
	for _, want := range []string{"[+] pull 1/3", " Image busybox [⣤⣿] 1.512MB / 2MB     Pulling"} {
		if !strings.Contains(frame, want) {
			t.Errorf("frame lacks %q:\n%s", want, frame)
		}
	}
	if strings.Contains(frame, "aaaaaaaaaaaa") {
		t.Errorf("a layer has a line of its own:\n%s", frame)
	}
	d.Progress("Image busybox", "aaaaaaaaaaaa", Done, "Pull complete", 0, 1000*1000)
	d.Event("Image busybox", Done, "Pulled")
	out.Reset()
	d.Done()
	if last := out.String(); !strings.Contains(last, "[+] pull 3/3") || !strings.Contains(last, " ✔ Image busybox Pulled") || strings.Contains(last, "[") && strings.Contains(last, "⣿]") {
		t.Errorf("final frame:\n%s", last)
	}
}

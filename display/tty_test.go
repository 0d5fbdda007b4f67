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
	d := NewTTY(&out, func() int { return 60 }, false)
	d.now = func() time.Time { return clock }
	d.Event("Network p_default", Working, "Creating")
	d.Event("Container p-web-1", Working, "Creating")
	d.Event("Volume v", Working, "Creating")
	d.draw()
	first := out.String()
	if !strings.Contains(first, "[+] Running 0/3") || !strings.Contains(first, " ⠋ Container p-web-1 Creating") {
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
	for _, want := range []string{"[+] Running 3/3", " ✔ Network p_default Created", " ✔ Container p-web-1 Started", " ✔ Volume v          Created"} {
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
	d := NewTTY(&out, func() int { return 30 }, false)
	d.Event("Container a-very-long-project-name-web-1", Working, "Starting")
	d.draw()
	for _, l := range strings.Split(out.String(), "\n")[1:] {
		if strings.Contains(l, "Container") && len([]rune(l)) > 30 {
			t.Errorf("line wider than the terminal: %q", l)
		}
	}
}

package integration

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/console"
)

// terminal is a pseudo-terminal a test runs gocompose on, recording what
// it shows.
type terminal struct {
	pty   console.Console
	slave *os.File
	mu    sync.Mutex // guards seen
	seen  strings.Builder
}

// newTerminal makes a pseudo-terminal of the given size, closed when the
// test ends.
func newTerminal(t *testing.T, height, width uint16) *terminal {
	t.Helper()
	pty, slavePath, err := console.NewPty()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pty.Close() })
	if err := pty.Resize(console.WinSize{Height: height, Width: width}); err != nil {
		t.Fatal(err)
	}
	slave, err := os.OpenFile(slavePath, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { slave.Close() })
	tm := &terminal{pty: pty, slave: slave}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := pty.Read(buf)
			tm.mu.Lock()
			tm.seen.Write(buf[:n])
			tm.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return tm
}

// command is gocompose with its stdio on the terminal.
func (tm *terminal) command(dir string, args ...string) *exec.Cmd {
	cmd := gcCommand(dir, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tm.slave, tm.slave, tm.slave
	return cmd
}

// shown is everything the terminal received so far.
func (tm *terminal) shown() string {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return tm.seen.String()
}

// waitFor reports whether the terminal shows text within d.
func (tm *terminal) waitFor(text string, d time.Duration) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if strings.Contains(tm.shown(), text) {
			return true
		}
	}
	return false
}

// runInTerminal runs gocompose with stderr (and stdout) on a pseudo-terminal
// 90 columns wide and returns what the terminal received.
func runInTerminal(t *testing.T, dir string, args ...string) string {
	t.Helper()
	tm := newTerminal(t, 30, 90)
	cmd := tm.command(dir, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	werr := make(chan error, 1)
	go func() { werr <- cmd.Wait() }()
	select {
	case err := <-werr:
		if err != nil {
			t.Fatalf("gocompose %s in a terminal: %v\n%q", strings.Join(args, " "), err, tm.shown())
		}
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("gocompose did not end in 60 s")
	}
	time.Sleep(200 * time.Millisecond) // the last bytes
	return tm.shown()
}

// colors are the SGR sequences (colours) the display puts around marks.
var colors = regexp.MustCompile("\x1b\\[[0-9;]*m")

// In a terminal, up, down and the like draw Docker Compose's live display:
// a header and a line per resource, redrawn in place, the final state left.
// --progress plain keeps the scrolling lines.
func TestLiveProgressDisplay(t *testing.T) {
	requires(t)
	// b waits for a to be healthy, a probe 500 ms after a starts, so the
	// display draws several frames whatever the machine's speed.
	dir := project(t, "ttyshow", fmt.Sprintf("services:\n  a:\n    image: busybox\n    command: %[1]s\n    healthcheck:\n      test: [CMD, \"true\"]\n      interval: 500ms\n  b:\n    image: busybox\n    command: %[1]s\n    depends_on:\n      a:\n        condition: service_healthy\n", idle))
	raw := runInTerminal(t, dir, "up", "-d")
	got := colors.ReplaceAllString(raw, "")
	for _, want := range []string{"\x1b[?25l", "\x1b[4A", "[+] up 3/3", "✔ Container ttyshow-a-1   Healthy", "✔ Container ttyshow-b-1   Started", "✔ Network ttyshow_default Created"} {
		if !strings.Contains(got, want) {
			t.Errorf("the terminal lacks %q:\n%q", want, got)
		}
	}
	// Each drawn line fills the terminal's width (so a longer earlier
	// line is overwritten), and none is wider.
	for _, l := range strings.Split(got, "\n") {
		if i := strings.Index(l, "✔ Container ttyshow-b-1"); i >= 0 {
			line := strings.TrimRight(l[i-1:], "\r")
			if n := len([]rune(line)); n != 90 {
				t.Errorf("line %q is %d columns, want 90", line, n)
			}
		}
	}
	plain := runInTerminal(t, dir, "--progress", "plain", "down")
	if strings.Contains(plain, "\x1b[") || !strings.Contains(plain, " Container ttyshow-a-1 Removed ") {
		t.Errorf("--progress plain in a terminal: %q", plain)
	}
}

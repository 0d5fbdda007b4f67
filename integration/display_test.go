package integration

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/console"
)

// runInTerminal runs gocompose with stderr (and stdout) on a pseudo-terminal
// 90 columns wide and returns what the terminal received.
func runInTerminal(t *testing.T, dir string, args ...string) string {
	t.Helper()
	pty, slavePath, err := console.NewPty()
	if err != nil {
		t.Fatal(err)
	}
	defer pty.Close()
	if err := pty.Resize(console.WinSize{Height: 30, Width: 90}); err != nil {
		t.Fatal(err)
	}
	slave, err := os.OpenFile(slavePath, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	cmd := gcCommand(dir, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen strings.Builder
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := pty.Read(buf)
			mu.Lock()
			seen.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	werr := make(chan error, 1)
	go func() { werr <- cmd.Wait() }()
	select {
	case err := <-werr:
		if err != nil {
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("gocompose %s in a terminal: %v\n%q", strings.Join(args, " "), err, seen.String())
		}
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("gocompose did not end in 60 s")
	}
	slave.Close()
	time.Sleep(200 * time.Millisecond) // the last bytes
	mu.Lock()
	defer mu.Unlock()
	return seen.String()
}

// colors are the SGR sequences (colours) the display puts around marks.
var colors = regexp.MustCompile("\x1b\\[[0-9;]*m")

// In a terminal, up, down and the like draw Docker Compose's live display:
// a header and a line per resource, redrawn in place, the final state left.
// --progress plain keeps the scrolling lines.
func TestLiveProgressDisplay(t *testing.T) {
	requires(t)
	dir := project(t, "ttyshow", fmt.Sprintf("services:\n  a:\n    image: busybox\n    command: %[1]s\n  b:\n    image: busybox\n    command: %[1]s\n    depends_on: [a]\n", idle))
	raw := runInTerminal(t, dir, "up", "-d")
	got := colors.ReplaceAllString(raw, "")
	for _, want := range []string{"\x1b[?25l", "\x1b[4A", "[+] Running 3/3", "✔ Container ttyshow-a-1   Started", "✔ Network ttyshow_default Created"} {
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

package integration

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// stdioDir is where gocompose keeps a stdin_open container's FIFOs and
// attach socket (runtime.StdioDir).
func stdioDir(id string) string {
	sum := sha256.Sum256([]byte(namespace + "/" + id))
	return filepath.Join(state, "stdio", fmt.Sprintf("%x", sum[:10]))
}

// lineWaiter reads r and reports when a line containing a text has come.
type lineWaiter struct {
	mu    sync.Mutex
	lines []string
}

func (w *lineWaiter) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		w.mu.Lock()
		w.lines = append(w.lines, sc.Text())
		w.mu.Unlock()
	}
}

func (w *lineWaiter) wait(text string, d time.Duration) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if strings.Contains(w.text(), text) {
			return true
		}
	}
	return false
}

func (w *lineWaiter) text() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.lines, "\n")
}

// attachPiped starts `attach` with its stdin, stdout and stderr on pipes.
func attachPiped(t *testing.T, dir string, args ...string) (*exec.Cmd, io.WriteCloser, *lineWaiter, *lineWaiter) {
	t.Helper()
	cmd := gcCommand(dir, append([]string{"attach"}, args...)...)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, _ := cmd.StdoutPipe()
	errp, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	o, e := &lineWaiter{}, &lineWaiter{}
	go o.read(out)
	go e.read(errp)
	return cmd, in, o, e
}

// A stdin_open service without a terminal: attach sends what it reads to
// the container's stdin and shows stdout and stderr apart; the end of the
// client's input does not end the container's, a later attach reaches the
// same stdin, the log has it all, and a restarted container is attached
// to again.
func TestAttachStdin(t *testing.T) {
	requires(t)
	dir := project(t, "attachin", `services:
  echo:
    image: busybox
    stdin_open: true
    command: ["sh", "-c", "while read l; do echo \"got:$$l\"; echo \"err:$$l\" >&2; done; echo stdin-ended"]
`)
	gc(t, dir, "up", "-d")
	t.Cleanup(func() { gcRun(dir, nil, "down", "-t", "0") })

	cmd, in, out, errs := attachPiped(t, dir, "--sig-proxy=false", "echo")
	fmt.Fprintln(in, "one")
	if !out.wait("got:one", 10*time.Second) || !errs.wait("err:one", 5*time.Second) {
		t.Fatalf("attach: typed one; stdout %q, stderr %q", out.text(), errs.text())
	}
	if strings.Contains(out.text(), "err:") || strings.Contains(errs.text(), "got:") {
		t.Errorf("streams mixed: stdout %q, stderr %q", out.text(), errs.text())
	}
	in.Close() // the client's input ends; the container's stdin stays open
	time.Sleep(700 * time.Millisecond)
	if strings.Contains(out.text(), "stdin-ended") {
		t.Errorf("the container's stdin ended with the client's: %q", out.text())
	}
	_ = cmd.Process.Signal(os.Interrupt) // --sig-proxy=false: gocompose leaves, the container runs on
	if err := cmd.Wait(); err != nil {
		t.Errorf("attach --sig-proxy=false after an interrupt: %v", err)
	}
	if st := strings.TrimSpace(gc(t, dir, "ps", "--format", "{{.State}}").stdout); st != "running" {
		t.Errorf("after the attach left, the container is %q", st)
	}

	cmd, in, out, _ = attachPiped(t, dir, "--sig-proxy=false", "echo")
	fmt.Fprintln(in, "two")
	if !out.wait("got:two", 10*time.Second) {
		t.Errorf("second attach: typed two; stdout %q", out.text())
	}
	if strings.Contains(out.text(), "got:one") {
		t.Errorf("second attach showed output from before it attached: %q", out.text())
	}
	_ = cmd.Process.Signal(os.Interrupt)
	_ = cmd.Wait()
	logs := gc(t, dir, "logs", "--no-log-prefix", "echo").stdout
	if !strings.Contains(logs, "got:one") || !strings.Contains(logs, "got:two") {
		t.Errorf("logs of the attached container:\n%s", logs)
	}

	gc(t, dir, "restart", "-t", "0", "echo")
	cmd, in, out, _ = attachPiped(t, dir, "echo")
	fmt.Fprintln(in, "three")
	if !out.wait("got:three", 10*time.Second) {
		t.Errorf("attach after restart: typed three; stdout %q", out.text())
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()

	gc(t, dir, "down", "-t", "0")
	if _, err := os.Stat(stdioDir("attachin-echo-1")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after down the container's stdio directory is still there: %v", err)
	}
	if pids := processesWith(stdioDir("attachin-echo-1")); len(pids) > 0 {
		t.Errorf("after down its log driver still runs: %v", pids)
	}
}

// processesWith lists processes whose command line contains s.
func processesWith(s string) []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(b), s) {
			out = append(out, e.Name()+": "+strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return out
}

// A tty and stdin_open service, attached from a real terminal: the program
// sees a terminal of the client's size, typed keys reach it, ctrl-p ctrl-q
// leaves it running with Docker's message and exit code, other detach keys
// can be set, and the container's exit code is attach's.
func TestAttachTerminal(t *testing.T) {
	requires(t)
	dir := project(t, "attachtty", "services:\n  sh:\n    image: busybox\n    tty: true\n    stdin_open: true\n    command: sh\n")
	gc(t, dir, "up", "-d")
	t.Cleanup(func() { gcRun(dir, nil, "down", "-t", "0") })

	attach := func(keys []string, args ...string) (string, error) {
		tm := newTerminal(t, 37, 111)
		cmd := tm.command(dir, append([]string{"attach"}, args...)...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second) // attached
		for _, k := range keys {
			_, _ = tm.pty.Write([]byte(k))
			time.Sleep(300 * time.Millisecond)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var err error
		select {
		case err = <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			err = <-done
		}
		time.Sleep(100 * time.Millisecond)
		return tm.shown(), err
	}

	shown, err := attach([]string{"stty size; echo $((6*7))x\r", "\x10", "\x11"}, "sh")
	if !strings.Contains(shown, "37 111") || !strings.Contains(shown, "42x") {
		t.Errorf("attach in a terminal: typed stty size and a sum; the terminal shows %q", shown)
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(shown, "read escape sequence") {
		t.Errorf("ctrl-p ctrl-q: %v, the terminal shows %q; want exit 1 and read escape sequence", err, shown)
	}
	if st := strings.TrimSpace(gc(t, dir, "ps", "--format", "{{.State}}").stdout); st != "running" {
		t.Fatalf("after detaching the container is %q", st)
	}

	shown, err = attach([]string{"\x10", "\x11", "\x03", "echo still-$((1+1))\r", "exit 3\r"}, "--detach-keys", "ctrl-x", "sh")
	if !strings.Contains(shown, "still-2") {
		t.Errorf("with --detach-keys ctrl-x, ctrl-p ctrl-q are typed, not a detach; the terminal shows %q", shown)
	}
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Errorf("attach after the container exited 3: %v; the terminal shows %q", err, shown)
	}
}

package logdriver

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestLineSplitter(t *testing.T) {
	var got []string
	s := &Lines{Emit: func(b []byte) { got = append(got, string(b)) }}
	_, _ = s.Write([]byte("a\nb"))
	_, _ = s.Write([]byte("c\n\nd"))
	long := strings.Repeat("x", MaxLine+5)
	_, _ = s.Write([]byte(long))
	s.Flush()
	want := []string{"a\n", "bc\n", "\n", "d" + long[:MaxLine-1], long[MaxLine-1:]}
	if len(got) != len(want) {
		t.Fatalf("lines %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d: %q, want %q", i, got[i], want[i])
		}
	}
}

func TestFrameRoundTrip(t *testing.T) {
	var b bytes.Buffer
	b.Write(Frame(Stderr, []byte("oops")))
	b.Write(Frame(Stdout, nil))
	s, p, err := ReadFrame(&b)
	if err != nil || s != Stderr || string(p) != "oops" {
		t.Errorf("first frame: %d %q %v", s, p, err)
	}
	if s, p, err := ReadFrame(&b); err != nil || s != Stdout || len(p) != 0 {
		t.Errorf("empty frame: %d %q %v", s, p, err)
	}
}

// Hold between FIFOs the test plays the shim's side of: output reaches an
// attach client as it comes (a prompt without a newline included) and the
// log by lines; the client's input reaches stdin; the end of the output
// ends Hold.
func TestHoldServesAttachAndLogs(t *testing.T) {
	logs, dir := t.TempDir(), t.TempDir()
	for _, f := range []string{StdinFile, StdoutFile, StderrFile} {
		if err := syscall.Mkfifo(filepath.Join(dir, f), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- Hold(logs, dir, "ns", "c1", HoldOptions{Stdin: true}, nil) }()
	stdout, err := os.OpenFile(filepath.Join(dir, StdoutFile), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := os.OpenFile(filepath.Join(dir, StderrFile), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	stdin, err := os.OpenFile(filepath.Join(dir, StdinFile), os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	var conn net.Conn
	for i := 0; i < 100; i++ {
		if conn, err = net.Dial("unix", filepath.Join(dir, SocketFile)); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	time.Sleep(50 * time.Millisecond) // the driver has the client
	_, _ = stdout.WriteString("$ ")
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if s, p, err := ReadFrame(conn); err != nil || s != Stdout || string(p) != "$ " {
		t.Fatalf("prompt frame: %d %q %v", s, p, err)
	}
	_, _ = stderr.WriteString("warn\n")
	if s, p, err := ReadFrame(conn); err != nil || s != Stderr || string(p) != "warn\n" {
		t.Fatalf("stderr frame: %d %q %v", s, p, err)
	}
	_, _ = conn.Write([]byte("typed\n"))
	buf := make([]byte, 64)
	_ = stdin.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := stdin.Read(buf); err != nil || string(buf[:n]) != "typed\n" {
		t.Fatalf("stdin got %q %v", buf[:n], err)
	}
	_, _ = stdout.WriteString("ls\n")
	stdout.Close()
	stderr.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Hold did not end with the output")
	}
	b, err := os.ReadFile(filepath.Join(Dir(logs, "ns", "c1"), "json.log"))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var e Entry
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, e.Stream+":"+e.Log)
	}
	slices.Sort(lines) // the streams are written by their own goroutines
	if got := strings.Join(lines, "|"); got != "stderr:warn\n|stdout:$ ls\n" {
		t.Errorf("log lines %q", got)
	}
}

package integration

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// watch: files synced into the running container (and removed), ignored
// ones not, never through a symlink onto the host; a sync+restart path
// restarts the service; a rebuild path rebuilds and recreates it.
func TestWatch(t *testing.T) {
	requiresBuildkit(t)
	dir := project(t, "watch", fmt.Sprintf(`
services:
  app:
    build:
      dockerfile_inline: |
        FROM busybox
        RUN mkdir /app
    command: %s
    develop:
      watch:
        - {path: ./src, action: sync, target: /app, ignore: ["*.tmp"]}
        - {path: ./conf, action: sync+restart, target: /etc/app}
        - {path: ./rebuild, action: rebuild}
`, idle))
	for _, d := range []string{"src", "conf", "rebuild"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := gcCommand(dir, "watch")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var lines []string
	enabled := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			mu.Lock()
			lines = append(lines, sc.Text())
			mu.Unlock()
			if sc.Text() == "Watch enabled" {
				close(enabled)
			}
		}
	}()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	select {
	case <-enabled:
	case <-time.After(90 * time.Second):
		t.Fatalf("watch did not start:\n%s", strings.Join(lines, "\n"))
	}
	output := func() string { mu.Lock(); defer mu.Unlock(); return strings.Join(lines, "\n") }
	eventually := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			if ok() {
				return
			}
		}
		t.Fatalf("%s did not happen; watch printed:\n%s", what, output())
	}
	inContainer := func(script string) string {
		return gcRun(dir, nil, "exec", "-T", "app", "sh", "-c", script).stdout
	}
	write := func(rel, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, rel), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	write("src/main.py", "print('v1')\n")
	write("src/scratch.tmp", "ignored\n")
	eventually("sync of src/main.py", func() bool { return inContainer("cat /app/main.py") == "print('v1')\n" })
	if got := inContainer("ls /app/scratch.tmp 2>&1"); !strings.Contains(got, "No such file") {
		t.Errorf("an ignored file was synced: %q", got)
	}
	if !strings.Contains(output(), `Syncing service "app" after 1 changes were detected`) {
		t.Errorf("watch output:\n%s", output())
	}
	// Deleted on the host, deleted in the container.
	if err := os.Remove(filepath.Join(dir, "src/main.py")); err != nil {
		t.Fatal(err)
	}
	eventually("removal of /app/main.py", func() bool { return strings.Contains(inContainer("ls /app/main.py 2>&1"), "No such file") })
	// A symlink in the container to / does not lead a sync onto the host.
	inContainer("ln -s / /app/escape")
	if err := os.MkdirAll(filepath.Join(dir, "src/escape"), 0o755); err != nil {
		t.Fatal(err)
	}
	marker := fmt.Sprintf("gocompose-watch-escape-%d", time.Now().UnixNano())
	write("src/escape/"+marker, "x\n")
	eventually("sync through the container's symlink", func() bool { return inContainer("cat /"+marker+" 2>/dev/null") == "x\n" })
	if _, err := os.Stat("/" + marker); err == nil {
		os.Remove("/" + marker)
		t.Fatal("a sync followed the container's symlink onto the host's /")
	}
	// sync+restart.
	write("conf/app.conf", "level=3\n")
	eventually("sync+restart", func() bool { return strings.Contains(output(), `service(s) ["app"] restarted`) })
	if got := inContainer("cat /etc/app/app.conf"); got != "level=3\n" {
		t.Errorf("after sync+restart the container has %q", got)
	}
	// rebuild: a new container.
	id := strings.TrimSpace(gc(t, dir, "ps", "-q").stdout)
	write("rebuild/trigger", "1\n")
	eventually("rebuild", func() bool { return strings.Contains(output(), `service(s) ["app"] successfully built`) })
	eventually("recreate after rebuild", func() bool {
		got := strings.TrimSpace(gc(t, dir, "ps", "-q").stdout)
		return got != "" && got != id && strings.Count(output(), "Container watch-app-1 Started") >= 3
	})
	if n := strings.Count(output(), "Service app Built"); n != 2 {
		t.Errorf("the image was built %d times (the first up and one rebuild make 2)", n)
	}
	// Ctrl-C ends the watch.
	_ = cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("watch after SIGINT: %v\n%s", err, output())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("watch did not end on SIGINT")
	}
	if !strings.Contains(output(), "Watch disabled") {
		t.Errorf("watch output:\n%s", output())
	}
}

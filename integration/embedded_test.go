package integration

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gocompose/gocompose/internal/daemon"
)

// With no containerd at the system address and none named by the user,
// gocompose starts a private one, says so once, and reuses it.
func TestPrivateContainerdStartsWhenNoneRuns(t *testing.T) {
	requires(t)
	tmp, err := os.MkdirTemp("", "gcpriv")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	st := filepath.Join(tmp, "s")
	env := []string{
		"CONTAINERD_ADDRESS=", // the user names no address
		"GOCOMPOSE_SYSTEM_CONTAINERD=" + filepath.Join(tmp, "nothing.sock"),
		"GOCOMPOSE_STATE=" + st,
		"GOCOMPOSE_ROOT=" + filepath.Join(tmp, "r"),
	}
	pidFile := filepath.Join(st, "containerd", "containerd.pid")
	defer func() {
		b, err := os.ReadFile(pidFile)
		if err != nil {
			return
		}
		pid, _ := strconv.Atoi(string(b))
		// Only while it is still that containerd: the pid file outlives
		// it, and its pid may be another process's by now.
		daemon.Stop(pid, "containerd", 5*time.Second)
	}()

	r := gcRun(t.TempDir(), env, "ls", "-a")
	if r.code != 0 || !strings.Contains(r.stderr, "started a private one") || !strings.HasPrefix(r.stdout, "NAME") {
		t.Fatalf("first command: %s", r)
	}
	if _, err := os.Stat(filepath.Join(st, "containerd", "containerd.sock")); err != nil {
		t.Fatalf("private socket: %v", err)
	}
	r = gcRun(t.TempDir(), env, "ls", "-a")
	if r.code != 0 || strings.Contains(r.stderr, "started") {
		t.Fatalf("second command should reuse the private containerd: %s", r)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(string(b))
	// Detached: its own session, not our child's group.
	if sid, err := getsid(pid); err != nil || sid != pid {
		t.Errorf("private containerd sid=%d err=%v, want its own session %d", sid, err, pid)
	}

	// Another state root whose "system" containerd is this one: once its
	// projects live there, that containerd going away is an error naming
	// the socket, and no private containerd is started in its place.
	sock := filepath.Join(st, "containerd", "containerd.sock")
	st2 := filepath.Join(tmp, "s2")
	env2 := []string{"CONTAINERD_ADDRESS=", "GOCOMPOSE_SYSTEM_CONTAINERD=" + sock,
		"GOCOMPOSE_STATE=" + st2, "GOCOMPOSE_ROOT=" + filepath.Join(tmp, "r2")}
	if r := gcRun(t.TempDir(), env2, "ls", "-a"); r.code != 0 || strings.Contains(r.stderr, "started") {
		t.Fatalf("with a system containerd answering: %s", r)
	}
	if pid <= 1 {
		t.Fatalf("private containerd pid %d", pid) // 0 would be our own process group
	}
	if !daemon.Stop(pid, "containerd", 10*time.Second) {
		t.Fatalf("private containerd %d did not stop", pid)
	}
	r = gcRun(t.TempDir(), env2, "-p", "anything", "ps")
	if r.code == 0 || !strings.Contains(r.stderr, "containerd does not answer at "+sock) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("ps with the system containerd down: want a one-line error naming %s:\n%s", sock, r)
	}
	if _, err := os.Stat(filepath.Join(st2, "containerd", "containerd.sock")); err == nil {
		t.Errorf("a private containerd was started although the system one is in use")
	}
}

func getsid(pid int) (int, error) {
	sid, _, errno := syscall.RawSyscall(syscall.SYS_GETSID, uintptr(pid), 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(sid), nil
}

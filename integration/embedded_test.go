package integration

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
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
		if pid <= 0 {
			return
		}
		_ = syscall.Kill(pid, syscall.SIGTERM)
		for i := 0; i < 100 && syscall.Kill(pid, 0) == nil; i++ {
			time.Sleep(50 * time.Millisecond)
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
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
}

func getsid(pid int) (int, error) {
	sid, _, errno := syscall.RawSyscall(syscall.SYS_GETSID, uintptr(pid), 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(sid), nil
}

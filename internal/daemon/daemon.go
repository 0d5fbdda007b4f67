// Package daemon starts helper daemons (a private containerd, the
// supervisor, buildkitd) fully detached: their own session, stdin from
// /dev/null, output appended to a log file, so they outlive the command that
// started them and never hold its pipes open.
package daemon

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Start runs bin with args detached and returns its pid.
func Start(bin string, args []string, logPath string) (int, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return 0, err
	}
	defer logf.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return 0, err
	}
	defer devnull.Close()
	if strings.Contains(bin, "/") {
		if bin, err = filepath.Abs(bin); err != nil {
			return 0, err
		}
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	// A daemon outlives the command's directory (a project directory
	// removed later leaves buildkitd's git fetches failing: "Unable to
	// read current working directory").
	cmd.Dir = "/"
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start %s: %w", bin, err)
	}
	pid := cmd.Process.Pid
	_ = cmd.Process.Release()
	return pid, nil
}

// Runs says whether pid is a live process whose command line names want
// (its binary, "buildkitd", "containerd", "gocompose"). A pid file outlives
// its process, and pids are reused (pid_max is 32768 on many hosts): a
// signal sent on a pid file's word alone can hit an unrelated process.
func Runs(pid int, want string) bool {
	if pid <= 1 {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && bytes.Contains(b, []byte(want))
}

// Stop ends the daemon pid, if it is still the one named want: SIGTERM,
// up to grace for it to exit, then SIGKILL. It reports whether the process
// is gone.
func Stop(pid int, want string, grace time.Duration) bool {
	if !Runs(pid, want) {
		return true
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	for end := time.Now().Add(grace); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if !Runs(pid, want) {
			return true
		}
	}
	if Runs(pid, want) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	for range 50 {
		if !Runs(pid, want) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

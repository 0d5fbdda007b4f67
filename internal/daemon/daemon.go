// Package daemon starts helper daemons (a private containerd, the
// supervisor, buildkitd) fully detached: their own session, stdin from
// /dev/null, output appended to a log file, so they outlive the command that
// started them and never hold its pipes open.
package daemon

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
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
	cmd := exec.Command(bin, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start %s: %w", bin, err)
	}
	pid := cmd.Process.Pid
	_ = cmd.Process.Release()
	return pid, nil
}

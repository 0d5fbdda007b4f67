package supervisor

import (
	"context"
	"errors"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// WatchdogPidPath is the watchdog's pid file under state.
func WatchdogPidPath(state string) string { return filepath.Join(state, "supervisor-watchdog.pid") }

// Watch runs the supervisor (exe supervisor args...) as its child and
// starts it again whenever it dies other than by a stop request (exit 0),
// so DNS, healthchecks and restart policies come back within a second
// without waiting for a command. It is what the CLI starts where no init
// system keeps the supervisor running (under systemd, the unit's
// Restart=always does this). SIGTERM stops the child, then the watchdog.
func Watch(ctx context.Context, state, exe string, args []string, logger *log.Logger) error {
	// One watchdog per state directory: a second one (two commands both
	// found the supervisor away for a moment) leaves at once, touching
	// nothing of the first's.
	lf, err := os.OpenFile(filepath.Join(state, "supervisor-watchdog.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer lf.Close()
	if err := unix.Flock(int(lf.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return nil
	}
	if err := writePid(WatchdogPidPath(state)); err != nil {
		return err
	}
	defer os.Remove(WatchdogPidPath(state))
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(term)
	delay := 200 * time.Millisecond
	for {
		start := time.Now()
		cmd := exec.Command(exe, args...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Start(); err != nil {
			return err
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var err error
		select {
		case err = <-done:
		case <-term:
			_ = cmd.Process.Signal(syscall.SIGTERM)
			<-done
			return nil
		case <-ctx.Done():
			_ = cmd.Process.Signal(syscall.SIGTERM)
			<-done
			return ctx.Err()
		}
		var ee *exec.ExitError
		if err == nil || errors.As(err, &ee) && ee.ExitCode() == 0 {
			return nil // stopped on request
		}
		// Another supervisor holds the state directory: it is not ours
		// to replace.
		if errors.As(err, &ee) && ee.ExitCode() == exitAnotherRuns {
			return nil
		}
		logger.Printf("supervisor exited (%v): starting it again in %v", err, delay)
		if time.Since(start) > time.Minute {
			delay = 200 * time.Millisecond // it ran for a while: not a crash loop
		}
		select {
		case <-time.After(delay):
		case <-term:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
		delay = min(2*delay, 5*time.Second)
	}
}

// writePid writes this process's pid through a temporary file, so a reader
// never sees the file empty.
func writePid(path string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// exitAnotherRuns is the supervisor's exit code when another supervisor
// already serves its state directory.
const exitAnotherRuns = 3

// ErrAnotherRuns is returned by Run when another supervisor serves the
// state directory.
var ErrAnotherRuns = errors.New("another supervisor runs for this state directory")

// ExitCode maps Run's error to the supervisor process's exit code.
func ExitCode(err error) int {
	switch {
	case err == nil, errors.Is(err, context.Canceled):
		return 0
	case errors.Is(err, ErrAnotherRuns):
		return exitAnotherRuns
	}
	return 1
}

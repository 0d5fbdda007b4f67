package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The watchdog starts a supervisor that crashed again, and leaves it be
// once it exits on request (0) or finds another one serving (3).
func TestWatchRestartsACrashedSupervisor(t *testing.T) {
	state := t.TempDir()
	count := filepath.Join(state, "runs")
	// Crashes twice, then stops as on request.
	script := fmt.Sprintf(`echo x >> %[1]s; [ "$(wc -l < %[1]s)" -ge 3 ] && exit 0; exit 1`, count)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var logs strings.Builder
	if err := Watch(ctx, state, "/bin/sh", []string{"-c", script}, log.New(&logs, "", 0)); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(count)
	if n := strings.Count(string(b), "x"); n != 3 {
		t.Errorf("supervisor ran %d times, want 3", n)
	}
	if strings.Count(logs.String(), "starting it again") != 2 {
		t.Errorf("watchdog log:\n%s", logs.String())
	}
	if _, err := os.Stat(WatchdogPidPath(state)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pid file left: %v", err)
	}
	// Another supervisor serves the directory: not restarted.
	if err := Watch(ctx, state, "/bin/sh", []string{"-c", "exit 3"}, log.New(io.Discard, "", 0)); err != nil {
		t.Errorf("exit 3: %v", err)
	}
}

func TestWatchLeavesWhenAnotherWatches(t *testing.T) {
	state := t.TempDir()
	lf, err := os.OpenFile(filepath.Join(state, "supervisor-watchdog.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	if err := unix.Flock(int(lf.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(state, "ran")
	if err := Watch(context.Background(), state, "/bin/sh", []string{"-c", "touch " + marker}, log.New(io.Discard, "", 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("a second watchdog started a supervisor")
	}
}

func TestExitCode(t *testing.T) {
	for err, want := range map[error]int{
		nil: 0, context.Canceled: 0, fmt.Errorf("run: %w", ErrAnotherRuns): exitAnotherRuns, errors.New("boom"): 1,
	} {
		if got := ExitCode(err); got != want {
			t.Errorf("ExitCode(%v) = %d, want %d", err, got, want)
		}
	}
}

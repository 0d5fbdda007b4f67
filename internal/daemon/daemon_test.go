package daemon

import (
	"os/exec"
	"testing"
	"time"
)

// A pid is signalled only while it is the process named: a pid file's
// word is not enough.
func TestStopOnlyTheNamedProcess(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Skip("no sleep:", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	pid := cmd.Process.Pid
	// The parent resumes from the fork before the kernel has set up the
	// new program's arguments: its cmdline can read empty for a moment.
	for i := 0; i < 100 && !Runs(pid, "sleep"); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if !Runs(pid, "sleep") || Runs(pid, "buildkitd") || Runs(1, "init") || Runs(0, "") {
		t.Fatal("Runs")
	}
	// Not the process named: left alone.
	if !Stop(pid, "buildkitd", time.Second) {
		t.Fatal("Stop of a process that is not the one named reported it still there")
	}
	select {
	case <-done:
		t.Fatal("Stop signalled a process that was not the one named")
	case <-time.After(100 * time.Millisecond):
	}
	if !Stop(pid, "sleep", 2*time.Second) {
		t.Fatal("sleep did not stop")
	}
	<-done
	if Runs(pid, "sleep") {
		t.Error("still running")
	}
}

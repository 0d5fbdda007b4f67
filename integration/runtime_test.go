package integration

import (
	"fmt"
	"strings"
	"testing"
)

// runtime: names the containerd runtime (shim) the container runs under.
func TestServiceRuntime(t *testing.T) {
	requires(t)
	dir := project(t, "rtname", fmt.Sprintf("services:\n  ok:\n    image: busybox\n    command: %s\n    runtime: io.containerd.runc.v2\n", idle))
	gc(t, dir, "up", "-d")
	if out := gc(t, dir, "exec", "-T", "ok", "echo", "runs").stdout; out != "runs\n" {
		t.Errorf("exec under io.containerd.runc.v2: %q", out)
	}
	bad := project(t, "rtbad", fmt.Sprintf("services:\n  no:\n    image: busybox\n    command: %s\n    runtime: io.containerd.nosuch.v1\n", idle))
	if r := gcRun(bad, nil, "up", "-d"); r.code == 0 || !strings.Contains(r.stderr, "nosuch") {
		t.Errorf("an unknown containerd runtime: %s", r)
	}
}

package integration

import (
	"strings"
	"testing"
)

func TestScaleAndWait(t *testing.T) {
	requires(t)
	dir := project(t, "scalew", `
services:
  web:
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 100000 & wait"]
  job:
    image: busybox
    command: ["sh", "-c", "sleep 0.5; exit 5"]
`)
	gc(t, dir, "up", "-d")
	gc(t, dir, "scale", "web=3")
	if n := len(ps(t, dir, "web")); n != 3 {
		t.Errorf("after scale web=3: %d running", n)
	}
	gc(t, dir, "scale", "web=1")
	if es := ps(t, dir, "-a", "web"); len(es) != 1 || es[0].Name != "scalew-web-1" {
		t.Errorf("after scale web=1: %+v", es)
	}
	r := gcRun(dir, nil, "wait", "job")
	// Docker Compose's line per container, and the exit code.
	if r.code != 5 || !strings.HasSuffix(strings.TrimSpace(r.stdout), "exited with status code 5") {
		t.Errorf("wait job: %s", r)
	}
	gc(t, dir, "down")
}

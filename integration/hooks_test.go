package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// post_start and pre_stop hooks run in the container, with their user,
// working directory and environment, as Docker Compose runs them.
func TestLifecycleHooks(t *testing.T) {
	requires(t)
	dir := project(t, "hooks", fmt.Sprintf(`
services:
  web:
    image: busybox
    command: %s
    volumes: ["./out:/out"]
    post_start:
      - command: ["sh", "-c", "echo \"$$STAGE $$(id -u) $$(pwd)\" > /out/post"]
        user: "1234"
        working_dir: /tmp
        environment: {STAGE: started}
    pre_stop:
      - command: ["sh", "-c", "echo stopping > /out/pre"]
`, idle))
	out := filepath.Join(dir, "out")
	if err := os.MkdirAll(out, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(out, 0o777); err != nil {
		t.Fatal(err)
	}
	gc(t, dir, "up", "-d")
	if b, _ := os.ReadFile(filepath.Join(out, "post")); strings.TrimSpace(string(b)) != "started 1234 /tmp" {
		t.Errorf("post_start wrote %q", b)
	}
	if _, err := os.Stat(filepath.Join(out, "pre")); err == nil {
		t.Error("pre_stop ran before any stop")
	}
	gc(t, dir, "stop")
	if b, _ := os.ReadFile(filepath.Join(out, "pre")); strings.TrimSpace(string(b)) != "stopping" {
		t.Errorf("pre_stop wrote %q", b)
	}
	bad := project(t, "hooksbad", fmt.Sprintf("services:\n  web:\n    image: busybox\n    command: %s\n    post_start:\n      - command: [\"sh\", \"-c\", \"exit 4\"]\n", idle))
	if r := gcRun(bad, nil, "up", "-d"); r.code == 0 || !strings.Contains(r.stderr, "web hook exited with status 4") {
		t.Errorf("a failing post_start: %s", r)
	}
}

// pre_start steps run to completion, with the service's mounts, before its
// containers start; a failing one keeps the service from starting.
func TestPreStartHooks(t *testing.T) {
	requires(t)
	dir := project(t, "prestart", fmt.Sprintf(`
services:
  web:
    image: busybox
    command: %s
    volumes: ["data:/data"]
    environment: {WHO: service}
    pre_start:
      - command: ["sh", "-c", "echo \"seeded by $$WHO $$STEP\" > /data/seed"]
        environment: {STEP: one}
volumes:
  data: {}
`, idle))
	r := gc(t, dir, "up", "-d")
	if got := strings.TrimSpace(gc(t, dir, "exec", "-T", "web", "cat", "/data/seed").stdout); got != "seeded by service one" {
		t.Errorf("the pre_start step wrote %q", got)
	}
	if ps := gc(t, dir, "ps", "-a", "--format", "{{.Name}}").stdout; strings.Contains(ps, "pre_start") {
		t.Errorf("the pre_start container was left:\n%s", ps)
	}
	if !strings.Contains(r.stderr, "prestart-web-pre_start-0") {
		t.Errorf("up progress:\n%s", r.stderr)
	}
	bad := project(t, "prestartbad", fmt.Sprintf("services:\n  web:\n    image: busybox\n    command: %s\n    pre_start:\n      - command: [\"sh\", \"-c\", \"exit 3\"]\n", idle))
	if r := gcRun(bad, nil, "up", "-d"); r.code == 0 || !strings.Contains(r.stderr, `service "web" pre_start[0] exited with status 3`) {
		t.Errorf("a failing pre_start: %s", r)
	}
	if ps := gc(t, bad, "ps", "--format", "{{.Name}}").stdout; strings.Contains(ps, "web") {
		t.Errorf("the service started after its pre_start failed:\n%s", ps)
	}
}

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

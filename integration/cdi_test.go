package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// GPUs (and other devices) through CDI: a vendor's spec (here a fake one
// whose "GPU" is /dev/null under another name) is applied to the container
// a device request asks for; a device no spec defines fails up clearly and
// leaves nothing behind.
func TestCDIDeviceRequests(t *testing.T) {
	requires(t)
	specs := t.TempDir()
	spec := `cdiVersion: "0.6.0"
kind: "nvidia.com/gpu"
devices:
  - name: "0"
    containerEdits:
      env: ["FAKE_GPU=0"]
      deviceNodes:
        - {path: /dev/fakegpu0, hostPath: /dev/null}
`
	if err := os.WriteFile(filepath.Join(specs, "fake-gpu.yaml"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"GOCOMPOSE_CDI_SPEC_DIRS=" + specs}
	dir := project(t, "cdi", fmt.Sprintf(`
services:
  infer:
    image: busybox
    command: %s
    deploy:
      resources:
        reservations:
          devices:
            - {driver: nvidia, capabilities: [gpu], device_ids: ["0"]}
`, idle))
	if r := gcRun(dir, env, "up", "-d"); r.code != 0 {
		t.Fatalf("up: %s", r)
	}
	got := gc(t, dir, "exec", "-T", "infer", "sh", "-c", "echo $FAKE_GPU; ls -l /dev/fakegpu0").stdout
	if !strings.HasPrefix(got, "0\nc") {
		t.Errorf("in the container: %q, want FAKE_GPU=0 and a character device /dev/fakegpu0", got)
	}
	bad := project(t, "cdibad", fmt.Sprintf("services:\n  infer:\n    image: busybox\n    command: %s\n    gpus: all\n", idle))
	r := gcRun(bad, env, "up", "-d")
	if r.code == 0 || !strings.Contains(r.stderr, "nvidia.com/gpu=all") || !strings.Contains(r.stderr, specs) {
		t.Errorf("a device no spec defines: %s", r)
	}
	if ps := gc(t, bad, "ps", "-a", "-q").stdout; strings.TrimSpace(ps) != "" {
		t.Errorf("a failed create left containers: %q", ps)
	}
}

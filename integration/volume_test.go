package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Data in a named volume survives down + up and is gone after down -v; an
// empty volume is seeded from the image's content at its mount point.
func TestNamedVolumeLifecycleAndCopyUp(t *testing.T) {
	requires(t)
	dir := project(t, "vols", `
services:
  app:
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 100000 & wait"]
    volumes:
      - data:/data
      - seeded:/srv
      - ./host:/host:ro
volumes:
  data:
  seeded:
`)
	if err := os.MkdirAll(filepath.Join(dir, "host"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := gc(t, dir, "up", "-d")
	if !strings.Contains(r.stderr, "Volume vols_data Created") {
		t.Errorf("up output:\n%s", r.stderr)
	}
	gc(t, dir, "exec", "-T", "app", "sh", "-c", "echo kept > /data/file")
	if ls := gc(t, dir, "volume", "ls", "-q").stdout; !strings.Contains(ls, "vols_data\n") || !strings.Contains(ls, "vols_seeded\n") {
		t.Errorf("volume ls:\n%s", ls)
	}
	if ls := gc(t, dir, "volumes").stdout; ls != "DRIVER   VOLUME NAME\nlocal    vols_data\nlocal    vols_seeded\n" {
		t.Errorf("volumes:\n%q", ls)
	}
	for _, args := range [][]string{{"volume", "rm", "vols_data"}, {"volume", "rm", "-f", "vols_data"}} {
		if r := gcRun(dir, nil, args...); r.code == 0 || !strings.Contains(r.stderr, "in use") {
			t.Errorf("%v of a volume in use: %s", args, r)
		}
	}
	if r := gcRun(dir, nil, "volume", "rm", "-f", "no-such-volume"); r.code != 0 {
		t.Errorf("volume rm -f of an unknown volume: %s", r)
	}
	if out := gc(t, dir, "volume", "inspect", "vols_data").stdout; !strings.Contains(out, "vols_data/_data") {
		t.Errorf("volume inspect:\n%s", out)
	}
	if out := gc(t, dir, "exec", "-T", "app", "cat", "/srv/seed.txt").stdout; out != "seeded by the image\n" {
		t.Errorf("copy-up: %q", out)
	}
	if r := gcRun(dir, nil, "exec", "-T", "app", "sh", "-c", "echo x > /host/f"); r.code == 0 {
		t.Errorf("write to a read-only bind mount succeeded")
	}
	gc(t, dir, "down")
	gc(t, dir, "up", "-d")
	if out := gc(t, dir, "exec", "-T", "app", "cat", "/data/file").stdout; out != "kept\n" {
		t.Errorf("volume data after down + up: %q", out)
	}
	r = gc(t, dir, "down", "-v")
	if !strings.Contains(r.stderr, "Volume vols_data Removed") {
		t.Errorf("down -v output:\n%s", r.stderr)
	}
	if _, err := os.Stat(filepath.Join(root, "volumes", "vols_data")); !os.IsNotExist(err) {
		t.Errorf("volume directory remains after down -v: %v", err)
	}
	if ls := gc(t, dir, "volume", "ls", "-q").stdout; strings.Contains(ls, "vols_") {
		t.Errorf("volumes listed after down -v:\n%s", ls)
	}
	assertNothingLeft(t, "vols")
}

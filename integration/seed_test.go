package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// baseArchive is the offline Python base image that examples/base makes.
func baseArchive(t *testing.T) string {
	t.Helper()
	p := os.Getenv("GOCOMPOSE_BASE_ARCHIVE")
	if p == "" {
		home, _ := os.UserHomeDir()
		p = filepath.Join(home, ".cache", "gocompose", "python-flask-bookworm.oci.tar")
	}
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("base image archive %s missing under CI (make base-image)", p)
		}
		t.Skipf("base image archive %s missing: run make base-image", p)
	}
	return p
}

// The seed example: build both Flask images offline, up --wait, the page
// shows the backend's message; with the backend stopped the page shows the
// frontend's own error; down -v leaves nothing.
func TestSeedExampleEndToEnd(t *testing.T) {
	requiresBuildkit(t)
	archive := baseArchive(t)
	gc(t, "", "image", "load", "-i", archive)
	compose, err := filepath.Abs("../examples/seed/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// A project of its own on a port of its own, so the suite passes
	// while `make demo`'s seed project holds port 8000.
	dir := t.TempDir()
	override := filepath.Join(dir, "test-port.yaml")
	if err := os.WriteFile(override, []byte("services:\n  frontend:\n    ports: !override [\"127.0.0.1:18950:5000\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	files := []string{"-p", "seedtest", "-f", compose, "-f", override}
	gcf := func(args ...string) result { return gc(t, dir, append(slices.Clone(files), args...)...) }
	t.Cleanup(func() { gcRun(dir, nil, append(slices.Clone(files), "down", "-v", "-t", "1")...) })
	start := time.Now()
	r := gcf("up", "-d", "--build", "--wait")
	t.Logf("up -d --build --wait took %v", time.Since(start))
	if !strings.Contains(r.stderr, "Service frontend Built") || !strings.Contains(r.stderr, "Service backend Built") {
		t.Errorf("up output:\n%s", r.stderr)
	}
	if body := httpGet(t, "http://127.0.0.1:18950/"); !strings.Contains(body, "Hello from the backend!") {
		t.Fatalf("page:\n%s\nlogs:\n%s", body, gcf("logs").stdout)
	}
	if out := gcf("ps", "--format", "json").stdout; strings.Count(out, `"Health":"healthy"`) != 2 {
		t.Errorf("frontend and backend should be healthy:\n%s", out)
	}
	gcf("stop", "backend")
	if body := httpGet(t, "http://127.0.0.1:18950/"); !strings.Contains(body, "Could not reach the backend") {
		t.Errorf("page with the backend stopped:\n%s", body)
	}
	start = time.Now()
	gcf("down", "-v")
	t.Logf("down -v took %v", time.Since(start))
	assertNothingLeft(t, "seedtest")
	if out, _ := exec.Command("ip", "-o", "link").Output(); strings.Contains(string(out), "veth") {
		t.Logf("note: veth links present on the host:\n%s", out)
	}
}

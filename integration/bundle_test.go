package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gocompose/gocompose/bundle"
	"github.com/gocompose/gocompose/internal/daemon"
	"github.com/gocompose/gocompose/supervisor"
)

const bundleProject = `
services:
  app:
    build:
      dockerfile_inline: |
        FROM busybox
        RUN echo %s > /version
    command: %s
    env_file: app.env
    secrets: [token]
    configs: [settings]
  db:
    image: busybox
    command: %s
secrets:
  token: {file: ./token.txt}
configs:
  settings: {file: ./settings.ini}
`

// A project with a built image moves to another host (here: a fresh
// containerd namespace, data root and state directory, no registry) in one
// file; an update moves as a delta without the layers the target has; a
// cut bundle changes nothing.
func TestBundleMovesAProjectToAnotherHost(t *testing.T) {
	requiresBuildkit(t)
	src := project(t, "bndl", fmt.Sprintf(bundleProject, "v1", idle, idle))
	for name, content := range map[string]string{"app.env": "GREETING=hello\n", "token.txt": "s3cret\n", "settings.ini": "level=2\n"} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gc(t, src, "build")
	work := t.TempDir()
	b1 := filepath.Join(work, "b1.bundle")
	gc(t, src, "bundle", "create", "-o", b1, "--secrets")

	// The target host.
	troot, tstate := t.TempDir(), t.TempDir()
	tns := namespace + "-bundle"
	env := []string{"CONTAINERD_NAMESPACE=" + tns, "GOCOMPOSE_ROOT=" + troot, "GOCOMPOSE_STATE=" + tstate}
	tdir := filepath.Join(troot, "bundles", "bndl")
	t.Cleanup(func() {
		gcRun(tdir, env, "down", "-v", "-t", "0")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if b, err := os.ReadFile(supervisor.WatchdogPidPath(tstate)); err == nil {
			var pid int
			fmt.Sscan(string(b), &pid)
			daemon.Stop(pid, "supervisor", 5*time.Second)
		}
		_ = supervisor.Stop(ctx, tstate)
		if b, err := os.ReadFile(supervisor.PidPath(tstate)); err == nil {
			var pid int
			fmt.Sscan(string(b), &pid)
			daemon.Stop(pid, "supervisor", 5*time.Second)
		}
		deleteNamespace(tns)
	})
	run := func(args ...string) result {
		t.Helper()
		r := gcRun(tdir, env, args...)
		if r.code != 0 {
			t.Fatalf("target: gocompose %s: %s", strings.Join(args, " "), r)
		}
		return r
	}
	if err := os.MkdirAll(tdir, 0o755); err != nil {
		t.Fatal(err)
	}
	run("bundle", "up", b1)
	if got := strings.TrimSpace(run("exec", "-T", "app", "cat", "/version").stdout); got != "v1" {
		t.Errorf("the target runs version %q", got)
	}
	if got := run("exec", "-T", "app", "sh", "-c", "cat /run/secrets/token /settings; echo $GREETING").stdout; got != "s3cret\nlevel=2\nhello\n" {
		t.Errorf("secret, config and env file on the target: %q", got)
	}
	if fi, err := os.Stat(filepath.Join(tdir, "secrets", "token")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the secret's file on the target: %v %v", fi, err)
	}

	// An update: only app changes. The delta carries none of the layers
	// the target has.
	if err := os.WriteFile(filepath.Join(src, "compose.yaml"), []byte(fmt.Sprintf(bundleProject, "v2", idle, idle)), 0o644); err != nil {
		t.Fatal(err)
	}
	gc(t, src, "build")
	haveFile := filepath.Join(work, "have.txt")
	if err := os.WriteFile(haveFile, []byte(run("bundle", "have").stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	b2 := filepath.Join(work, "b2.bundle")
	gc(t, src, "bundle", "create", "-o", b2, "--secrets", "--have", haveFile)
	m1, m2 := readBundleManifest(t, b1), readBundleManifest(t, b2)
	var unchanged int64
	for d, size := range m2.Omitted {
		if _, ok := m1.Blobs[d]; ok {
			unchanged += size
		}
	}
	for d := range m2.Blobs {
		if _, ok := m1.Blobs[d]; ok {
			t.Errorf("the delta carries blob %s, which the target loaded with the first bundle", d)
		}
	}
	s1, s2 := fileSize(t, b1), fileSize(t, b2)
	if unchanged == 0 || s1-s2 < unchanged-16<<10 {
		t.Errorf("delta %d bytes, full %d: smaller by %d, the unchanged blobs are %d bytes", s2, s1, s1-s2, unchanged)
	}
	run("bundle", "up", b2)
	if got := strings.TrimSpace(run("exec", "-T", "app", "cat", "/version").stdout); got != "v2" {
		t.Errorf("after the delta the target runs version %q", got)
	}

	// A cut bundle is refused, and nothing changes.
	data, err := os.ReadFile(b1)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(work, "cut.bundle")
	if err := os.WriteFile(cut, data[:len(data)*2/3], 0o600); err != nil {
		t.Fatal(err)
	}
	composeBefore, _ := os.ReadFile(filepath.Join(tdir, "compose.yaml"))
	if r := gcRun(tdir, env, "bundle", "up", cut); r.code == 0 || !strings.Contains(r.stderr, "nothing was changed") {
		t.Errorf("a cut bundle: %s", r)
	}
	if after, _ := os.ReadFile(filepath.Join(tdir, "compose.yaml")); !bytes.Equal(after, composeBefore) {
		t.Error("a cut bundle changed the project directory")
	}
	if got := strings.TrimSpace(run("exec", "-T", "app", "cat", "/version").stdout); got != "v2" {
		t.Errorf("after a cut bundle the target runs version %q", got)
	}
	t.Logf("full bundle %d bytes, delta %d bytes (%d bytes of blobs left out)", s1, s2, unchanged)
}

func readBundleManifest(t *testing.T, path string) *bundle.Manifest {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := bundle.ReadManifest(f)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(m.Images)
	t.Logf("%s: images %s", filepath.Base(path), b)
	return m
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

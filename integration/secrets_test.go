package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Secrets and configs from a file, an environment variable and inline
// content are visible read-only in the container with Docker Compose's
// default or the given uid, gid and mode; the host copies sit on a 0700
// tmpfs that down removes.
func TestSecretsAndConfigs(t *testing.T) {
	requires(t)
	dir := project(t, "secrets", `services:
  app:
    image: busybox
    command: sleep 300
    secrets:
      - db_password
      - source: api_token
        target: token
        uid: "1000"
        gid: "1001"
        mode: 0400
    configs:
      - app_conf
      - source: app_conf
        target: /etc/app/app.conf
        mode: 0440
secrets:
  db_password:
    file: ./db_password.txt
  api_token:
    environment: API_TOKEN
configs:
  app_conf:
    content: |
      listen = 8080
`)
	if err := os.WriteFile(filepath.Join(dir, "db_password.txt"), []byte("hunter2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := gcRun(dir, []string{"API_TOKEN=tok-123"}, "up", "-d"); r.code != 0 {
		t.Fatalf("up: %s", r)
	}
	for _, tc := range []struct{ path, stat, content string }{
		{"/run/secrets/db_password", "444 0 0", "hunter2\n"},
		{"/run/secrets/token", "400 1000 1001", "tok-123"},
		{"/app_conf", "444 0 0", "listen = 8080\n"},
		{"/etc/app/app.conf", "440 0 0", "listen = 8080\n"},
	} {
		r := gc(t, dir, "exec", "-T", "app", "stat", "-c", "%a %u %g", tc.path)
		if strings.TrimSpace(r.stdout) != tc.stat {
			t.Errorf("%s: mode uid gid %q, want %q", tc.path, strings.TrimSpace(r.stdout), tc.stat)
		}
		r = gc(t, dir, "exec", "-T", "app", "cat", tc.path)
		if r.stdout != tc.content {
			t.Errorf("%s: content %q, want %q", tc.path, r.stdout, tc.content)
		}
	}
	r := gcRun(dir, nil, "exec", "-T", "app", "sh", "-c", "echo x > /run/secrets/db_password")
	if r.code == 0 || !strings.Contains(r.stderr, "Read-only file system") {
		t.Errorf("writing a secret: %s", r)
	}

	host := filepath.Join(state, "secrets", "secrets")
	var fs unix.Statfs_t
	if err := unix.Statfs(host, &fs); err != nil {
		t.Fatal(err)
	}
	if fs.Type != unix.TMPFS_MAGIC {
		t.Errorf("host copies are not on a tmpfs (type %#x)", fs.Type)
	}
	if st, err := os.Stat(host); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("host secrets dir: %v %v", st.Mode(), err)
	}

	// A reboot empties /run: start brings the copies back.
	gc(t, dir, "stop", "-t", "0")
	if err := unix.Unmount(host, unix.MNT_DETACH); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(host); err != nil {
		t.Fatal(err)
	}
	if r := gcRun(dir, []string{"API_TOKEN=tok-123"}, "start"); r.code != 0 {
		t.Fatalf("start: %s", r)
	}
	if r := gc(t, dir, "exec", "-T", "app", "cat", "/run/secrets/token"); r.stdout != "tok-123" {
		t.Errorf("secret after its tmpfs was lost and start: %s", r)
	}

	gc(t, dir, "down", "-t", "0")
	if _, err := os.Stat(host); !os.IsNotExist(err) {
		t.Errorf("down left %s: %v", host, err)
	}
	mounts, _ := os.ReadFile("/proc/self/mounts")
	if strings.Contains(string(mounts), host) {
		t.Errorf("down left the tmpfs mounted at %s", host)
	}
}

// An external secret is refused before anything is made, naming the file
// and field; an unset environment source names the variable.
func TestSecretErrors(t *testing.T) {
	requires(t)
	dir := project(t, "secretext", "services:\n  app:\n    image: busybox\n    secrets: [vault]\nsecrets:\n  vault:\n    external: true\n")
	r := gcRun(dir, nil, "up", "-d")
	if r.code == 0 || !strings.Contains(r.stderr, "compose.yaml:") || !strings.Contains(r.stderr, "secrets.vault") || !strings.Contains(r.stderr, "external") {
		t.Errorf("external secret: %s", r)
	}
	if ps := gc(t, dir, "ps", "-a", "-q"); ps.stdout != "" {
		t.Errorf("containers made despite the error: %q", ps.stdout)
	}
	dir = project(t, "secretenv", "services:\n  app:\n    image: busybox\n    secrets: [tok]\nsecrets:\n  tok:\n    environment: GOCOMPOSE_TEST_UNSET_VAR\n")
	r = gcRun(dir, nil, "up", "-d")
	if r.code == 0 || !strings.Contains(r.stderr, "GOCOMPOSE_TEST_UNSET_VAR is not set") {
		t.Errorf("unset environment secret: %s", r)
	}
	if ps := gc(t, dir, "ps", "-a", "-q"); ps.stdout != "" {
		t.Errorf("containers left after the error: %q", ps.stdout)
	}
	if nl := gc(t, dir, "network", "ls", "-q"); strings.Contains(nl.stdout, "secretenv_default") {
		t.Errorf("network made despite the error:\n%s", nl.stdout)
	}
}

package supervisor

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestInstallWritesUnit(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "gocompose-supervisor.service")
	if err := Install(path, "/usr/local/bin/gocompose", "/run/containerd/containerd.sock", "/var/lib/gocompose", "/run/gocompose"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"ExecStart=/usr/local/bin/gocompose supervisor --address /run/containerd/containerd.sock",
		"After=containerd.service", "Restart=always", "WantedBy=multi-user.target",
		"Environment=GOCOMPOSE_STATE=/run/gocompose",
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("unit lacks %q:\n%s", want, b)
		}
	}
}

// With gocompose-supervisor beside gocompose, the unit runs it (and the
// CLI starts it) instead of gocompose's own supervisor command.
func TestInstallUsesTheSmallSupervisor(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	exe := filepath.Join(dir, "gocompose")
	for _, f := range []string{exe, filepath.Join(dir, BinaryName)} {
		if err := os.WriteFile(f, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if bin, args := Command(exe); bin != filepath.Join(dir, BinaryName) || len(args) != 0 {
		t.Errorf("Command = %s %v", bin, args)
	}
	path := filepath.Join(dir, "unit.service")
	if err := Install(path, exe, "/run/containerd/containerd.sock", "/var/lib/gocompose", "/run/gocompose"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); !strings.Contains(string(b), "ExecStart="+filepath.Join(dir, BinaryName)+" --address /run/containerd/containerd.sock\n") {
		t.Errorf("unit:\n%s", b)
	}
	// Not executable: not used.
	if err := os.Chmod(filepath.Join(dir, BinaryName), 0o644); err != nil {
		t.Fatal(err)
	}
	if bin, args := Command(exe); bin != exe || strings.Join(args, " ") != "supervisor" {
		t.Errorf("Command with a non-executable gocompose-supervisor = %s %v", bin, args)
	}
}

func TestInstallInitScript(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "gocompose-supervisor")
	if err := InstallInitScript(path, "/usr/local/bin/gocompose", "/run/containerd/containerd.sock", "/var/lib/gocompose", "/run/gocompose"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode()&0o111 == 0 {
		t.Error("the init script is not executable")
	}
	for _, want := range []string{"# Provides:          gocompose-supervisor", "Required-Start:    $network $local_fs containerd",
		"setsid /usr/local/bin/gocompose supervisor --watchdog --address /run/containerd/containerd.sock", "GOCOMPOSE_STATE=/run/gocompose"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("init script lacks %q:\n%s", want, b)
		}
	}
	if out, err := exec.Command("sh", "-n", path).CombinedOutput(); err != nil {
		t.Errorf("sh -n: %v %s", err, out)
	}
}

func TestResolversSkipLoopbackStubs(t *testing.T) {
	t.Parallel()
	conf := "# comment\nnameserver 127.0.0.53\nnameserver 192.0.2.10\nsearch example\nnameserver 2001:db8::1\n"
	if got := resolvers([]byte(conf)); strings.Join(got, ",") != "192.0.2.10:53,[2001:db8::1]:53" {
		t.Errorf("resolvers = %v", got)
	}
	if got := resolvers([]byte("nameserver 127.0.0.53\n")); strings.Join(got, ",") != "127.0.0.53:53" {
		t.Errorf("stub only: %v", got)
	}
}

package doctor

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeHost is a healthy host made of files in a directory; each test case
// breaks one thing.
func fakeHost(t *testing.T) Host {
	t.Helper()
	dir := t.TempDir()
	write := func(rel, content string) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write("proc/sys/kernel/osrelease", "6.1.0-test\n")
	write("proc/self/mounts", "cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,cpu,cpuacct 0 0\n"+
		"cgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0\ncgroup /sys/fs/cgroup/devices cgroup rw,devices 0 0\n"+
		"cgroup /sys/fs/cgroup/freezer cgroup rw,freezer 0 0\ncgroup /sys/fs/cgroup/pids cgroup rw,pids 0 0\n")
	write("proc/filesystems", "nodev\tsysfs\nnodev\toverlay\n")
	write("proc/sys/net/ipv4/ip_forward", "1\n")
	write("proc/sys/user/max_user_namespaces", "1000\n")
	sockets := "  sl  local_address rem_address   st\n   0: 0100590A:0035 00000000:0000 07 00000000:00000000\n"
	write("proc/net/udp", sockets)
	write("proc/net/tcp", sockets)
	for _, p := range []string{"bridge", "host-local", "portmap"} {
		write("cni/"+p, "#!/bin/sh\n")
	}
	write("bin/buildkitd", "#!/bin/sh\n")
	write("bin/gocompose-build", "#!/bin/sh\n")
	write("bin/gocompose-bridge", "#!/bin/sh\n")
	write("bin/gocompose-logger", "#!/bin/sh\n")
	return Host{
		Proc: filepath.Join(dir, "proc"), Sys: filepath.Join(dir, "sys"), Euid: 0,
		LookPath: func(f string) (string, error) { return "/usr/bin/" + f, nil },
		CNIPaths: []string{filepath.Join(dir, "cni")}, BesidePaths: []string{filepath.Join(dir, "bin")},
		LoggerPaths: []string{filepath.Join(dir, "bin")},
		DataRoot:    filepath.Join(dir, "var/lib/gocompose"),
		FreeBytes:   func(string) (uint64, error) { return 100 << 30, nil },
		Netfilter:   func() error { return nil },
		Containerd:  func(context.Context) (string, string, error) { return "1.6.20", "/run/containerd/containerd.sock", nil },
	}
}

func statusOf(rs []Result, check string) Result {
	for _, r := range rs {
		if r.Check == check {
			return r
		}
	}
	return Result{}
}

func TestHealthyHostPasses(t *testing.T) {
	rs := Run(context.Background(), fakeHost(t))
	for _, r := range rs {
		if r.Status != Pass {
			t.Errorf("%s: %s %s", r.Check, r.Status, r.Detail)
		}
	}
	if len(rs) != 16 || Failed(rs) {
		t.Errorf("%d results, failed %v", len(rs), Failed(rs))
	}
}

// Each check, made to fail (or warn) on an otherwise healthy host, says so
// with a fix, and only that check changes.
func TestEachCheckFails(t *testing.T) {
	cases := []struct {
		check string
		want  Status
		brk   func(h *Host)
	}{
		{"root", Fail, func(h *Host) { h.Euid = 1000 }},
		{"kernel", Fail, func(h *Host) { writeFile(t, h.Proc, "sys/kernel/osrelease", "3.10.0") }},
		{"cgroups", Fail, func(h *Host) {
			writeFile(t, h.Proc, "self/mounts", "cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,cpu,cpuacct 0 0\n")
		}},
		{"cgroups", Fail, func(h *Host) { writeFile(t, h.Sys, "fs/cgroup/cgroup.controllers", "cpu io") }},
		{"overlayfs", Fail, func(h *Host) { writeFile(t, h.Proc, "filesystems", "nodev\tsysfs\n") }},
		{"netfilter", Fail, func(h *Host) { h.Netfilter = func() error { return errors.New("iptables: not found") } }},
		{"ip_forward", Warn, func(h *Host) { writeFile(t, h.Proc, "sys/net/ipv4/ip_forward", "0") }},
		{"cni-plugins", Fail, func(h *Host) { os.Remove(filepath.Join(h.CNIPaths[0], "portmap")) }},
		{"containerd", Warn, func(h *Host) {
			h.Containerd = func(context.Context) (string, string, error) { return "", "/run/x.sock", errors.New("refused") }
		}},
		{"containerd", Fail, func(h *Host) {
			h.Containerd = func(context.Context) (string, string, error) { return "", "/run/x.sock", errors.New("refused") }
			h.LookPath = func(f string) (string, error) {
				if f == "containerd" {
					return "", errors.New("not found")
				}
				return "/usr/bin/" + f, nil
			}
		}},
		{"containerd", Fail, func(h *Host) {
			h.Containerd = func(context.Context) (string, string, error) { return "1.5.9", "/run/x.sock", nil }
		}},
		{"runc", Fail, func(h *Host) { h.LookPath = func(string) (string, error) { return "", errors.New("not found") } }},
		{"buildkitd", Warn, func(h *Host) {
			h.BesidePaths = nil
			h.LookPath = func(f string) (string, error) {
				if f == "buildkitd" {
					return "", errors.New("not found")
				}
				return "/usr/bin/" + f, nil
			}
		}},
		{"build-helper", Warn, func(h *Host) {
			h.BesidePaths = nil
			h.LookPath = func(f string) (string, error) {
				if f == "gocompose-build" {
					return "", errors.New("not found")
				}
				return "/usr/bin/" + f, nil
			}
		}},
		{"bridge-helper", Warn, func(h *Host) {
			os.Remove(filepath.Join(h.BesidePaths[0], "gocompose-bridge"))
			h.LookPath = func(f string) (string, error) {
				if f == "gocompose-bridge" {
					return "", errors.New("not found")
				}
				return "/usr/bin/" + f, nil
			}
		}},
		{"log-driver", Warn, func(h *Host) { h.LoggerPaths = nil }},
		{"disk", Fail, func(h *Host) { h.FreeBytes = func(string) (uint64, error) { return 100 << 20, nil } }},
		{"disk", Warn, func(h *Host) { h.FreeBytes = func(string) (uint64, error) { return 2 << 30, nil } }},
		{"dns-port", Fail, func(h *Host) {
			writeFile(t, h.Proc, "net/udp", "  sl  local_address rem_address   st\n   0: 00000000:0035 00000000:0000 07 00000000:00000000\n")
		}},
		{"user-namespaces", Warn, func(h *Host) { writeFile(t, h.Proc, "sys/user/max_user_namespaces", "0") }},
	}
	for _, tc := range cases {
		h := fakeHost(t)
		tc.brk(&h)
		rs := Run(context.Background(), h)
		r := statusOf(rs, tc.check)
		if r.Status != tc.want || r.Fix == "" && tc.check != "disk" {
			t.Errorf("%s: got %s %q (fix %q), want %s with a fix", tc.check, r.Status, r.Detail, r.Fix, tc.want)
		}
		if Failed(rs) != (tc.want == Fail) {
			t.Errorf("%s: Failed = %v", tc.check, Failed(rs))
		}
		for _, other := range rs {
			if other.Check != tc.check && other.Status != Pass {
				t.Errorf("breaking %s changed %s: %s %s", tc.check, other.Check, other.Status, other.Detail)
			}
		}
	}
}

func writeFile(t *testing.T, root, rel, content string) {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFixSaysWhatToDo(t *testing.T) {
	h := fakeHost(t)
	h.Euid = 1000
	if r := statusOf(Run(context.Background(), h), "root"); !strings.Contains(r.Fix, "root") {
		t.Errorf("fix %q", r.Fix)
	}
}

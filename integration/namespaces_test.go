package integration

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/containerd/cgroups/v3"
	"github.com/moby/sys/mountinfo"
)

// ipc and pid: service:X and container:NAME join the other container's
// namespaces, as Docker does: System V and POSIX shared memory (/dev/shm)
// are shared with an ipc: shareable donor, processes are seen across a
// shared PID namespace; a donor that is not shareable is refused as Docker
// refuses it; down leaves no /dev/shm mount behind.
func TestSharedIPCAndPIDNamespaces(t *testing.T) {
	requires(t)
	dir := project(t, "nsshare", fmt.Sprintf(`services:
  db:
    image: busybox
    ipc: shareable
    shm_size: 8m
    command: ["sh", "-c", "echo shared > /dev/shm/marker; trap 'exit 0' TERM; sleep 1000 & wait"]
  app:
    image: busybox
    ipc: service:db
    pid: service:db
    cgroup: private
    command: %s
  peer:
    image: busybox
    pid: container:nsshare-db-1
    cgroup: host
    depends_on: [db]
    command: %s
`, sleeper, sleeper))
	gc(t, dir, "up", "-d", "--wait")
	t.Cleanup(func() { gcRun(dir, nil, "down", "-t", "0") })
	ns := func(svc, kind string) string {
		t.Helper()
		return strings.TrimSpace(gc(t, dir, "exec", "-T", svc, "readlink", "/proc/self/ns/"+kind).stdout)
	}
	if db, app := ns("db", "ipc"), ns("app", "ipc"); db == "" || db != app {
		t.Errorf("ipc: service:db: db's IPC namespace %q, app's %q", db, app)
	}
	for _, svc := range []string{"app", "peer"} {
		if db, other := ns("db", "pid"), ns(svc, "pid"); db == "" || db != other {
			t.Errorf("%s shares db's PID namespace: db %q, %s %q", svc, db, svc, other)
		}
	}
	if out := gc(t, dir, "exec", "-T", "app", "cat", "/dev/shm/marker").stdout; out != "shared\n" {
		t.Errorf("db's /dev/shm seen from app: %q", out)
	}
	if out := gc(t, dir, "exec", "-T", "app", "df", "-k", "/dev/shm").stdout; !strings.Contains(out, "8192") {
		t.Errorf("the shared /dev/shm has db's shm_size (8m):\n%s", out)
	}
	// cgroup: private is a cgroup namespace of its own, host the host's;
	// unset (db) is Docker's default: private on cgroup v2, host on v1.
	hostCgroup, err := os.Readlink("/proc/self/ns/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	if app := ns("app", "cgroup"); app == "" || app == hostCgroup {
		t.Errorf("cgroup: private: app's cgroup namespace %q, the host's %q", app, hostCgroup)
	}
	if peer := ns("peer", "cgroup"); peer != hostCgroup {
		t.Errorf("cgroup: host: peer's cgroup namespace %q, the host's %q", peer, hostCgroup)
	}
	if db := ns("db", "cgroup"); (db == hostCgroup) != (cgroups.Mode() != cgroups.Unified) {
		t.Errorf("db (no cgroup:) has cgroup namespace %q, the host's %q, on cgroup mode %v", db, hostCgroup, cgroups.Mode())
	}
	// The PID namespace is db's: app sees db's processes.
	if out := gc(t, dir, "exec", "-T", "app", "ps").stdout; !strings.Contains(out, "echo shared") && !strings.Contains(out, "sleep 1000") {
		t.Errorf("ps in app does not show db's processes:\n%s", out)
	}
	shm := func() []*mountinfo.Info {
		ms, _ := mountinfo.GetMounts(func(m *mountinfo.Info) (bool, bool) {
			return !strings.HasPrefix(m.Mountpoint, root) || m.FSType != "tmpfs" || !strings.HasSuffix(m.Mountpoint, "/nsshare-db-1/shm"), false
		})
		return ms
	}
	if ms := shm(); len(ms) != 1 || !strings.Contains(ms[0].VFSOptions, "size=8192k") {
		t.Errorf("db's shareable /dev/shm on the host: %+v", ms)
	}
	gc(t, dir, "down", "-t", "0")
	if ms := shm(); len(ms) > 0 {
		t.Errorf("after down, db's /dev/shm is still mounted: %v", ms[0].Mountpoint)
	}

	bad := project(t, "nsprivate", "services:\n  db:\n    image: busybox\n    command: [\"true\"]\n  app:\n    image: busybox\n    ipc: service:db\n    command: [\"true\"]\n")
	if r := gcRun(bad, nil, "up", "-d"); r.code == 0 || !strings.Contains(r.stderr, "ipc: shareable") || !strings.Contains(r.stderr, "compose.yaml:7") {
		t.Errorf("ipc: service:db with a private db: %s", r)
	}
}

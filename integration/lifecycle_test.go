package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/snapshots"
)

const threeServices = `
services:
  web:
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; echo web says hello; httpd -f -p 8080 & wait"]
    depends_on: [db]
    environment:
      GREETING: hi there
  db:
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; echo db ready; echo db warning >&2; sleep 1000 & wait"]
  worker:
    image: busybox
    init: true
    working_dir: /tmp
    user: www
    command: sleep 1000
`

type psEntry struct {
	Name, Service, State, Status, Project, Image string
	ExitCode                                     int
}

func ps(t *testing.T, dir string, args ...string) []psEntry {
	t.Helper()
	r := gc(t, dir, append([]string{"ps", "--format", "json"}, args...)...)
	var out []psEntry
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	for sc.Scan() {
		var e psEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("ps json line %q: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	return out
}

func states(es []psEntry) map[string]string {
	m := map[string]string{}
	for _, e := range es {
		m[e.Name] = e.State
	}
	return m
}

func TestThreeServiceLifecycle(t *testing.T) {
	requires(t)
	dir := project(t, "life", threeServices)

	r := gc(t, dir, "up", "-d")
	for _, want := range []string{"Container life-db-1 Started", "Container life-web-1 Started", "Container life-worker-1 Started"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("up -d output lacks %q:\n%s", want, r.stderr)
		}
	}
	// db must have started before web starts (depends_on order); creating
	// web may run ahead.
	if i, j := strings.Index(r.stderr, "life-db-1 Started"), strings.Index(r.stderr, "life-web-1 Starting"); i < 0 || j < i {
		t.Errorf("web started before db:\n%s", r.stderr)
	}

	got := states(ps(t, dir))
	want := map[string]string{"life-db-1": "running", "life-web-1": "running", "life-worker-1": "running"}
	if len(got) != 3 || got["life-db-1"] != "running" || got["life-web-1"] != "running" || got["life-worker-1"] != "running" {
		t.Fatalf("ps: got %v, want %v", got, want)
	}
	table := gc(t, dir, "ps").stdout
	if !strings.HasPrefix(table, "NAME") || !strings.Contains(table, "life-web-1") || !strings.Contains(table, "Up ") {
		t.Errorf("ps table:\n%s", table)
	}
	if s := gc(t, dir, "ps", "--services").stdout; s != "db\nweb\nworker\n" {
		t.Errorf("ps --services = %q", s)
	}

	// Logs: both streams, prefixed with service-N.
	deadline := time.Now().Add(5 * time.Second)
	var logs string
	for time.Now().Before(deadline) {
		logs = gc(t, dir, "logs", "--no-color").stdout
		if strings.Contains(logs, "db warning") && strings.Contains(logs, "web says hello") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, want := range []string{"db-1     | db ready", "db-1     | db warning", "web-1    | web says hello"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
	if l := gc(t, dir, "logs", "--no-log-prefix", "--tail", "1", "web").stdout; l != "web says hello\n" {
		t.Errorf("logs --no-log-prefix --tail 1 web = %q", l)
	}
	// The shim's log driver is the small gocompose-logger beside the
	// binary: one per container, a few MiB each.
	loggers := 0
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(b), "_gocompose_logger\x00"+filepath.Join(root, "logs")) {
			continue
		}
		if exe := strings.SplitN(string(b), "\x00", 2)[0]; filepath.Base(exe) != "gocompose-logger" {
			t.Errorf("a log driver runs %s, not gocompose-logger", exe)
		}
		loggers++
	}
	if loggers != 3 {
		t.Errorf("%d log drivers for the project's 3 containers", loggers)
	}

	// exec: output, environment, exit code, user and workdir.
	if out := gc(t, dir, "exec", "-T", "web", "sh", "-c", "echo $GREETING").stdout; out != "hi there\n" {
		t.Errorf("exec env: %q", out)
	}
	if r := gcRun(dir, nil, "exec", "-T", "web", "sh", "-c", "exit 7"); r.code != 7 {
		t.Errorf("exec exit code: %s", r)
	}
	if out := gc(t, dir, "exec", "-T", "worker", "sh", "-c", "id -u; pwd").stdout; out != "1000\n/tmp\n" {
		t.Errorf("worker user/workdir: %q", out)
	}
	if out := gc(t, dir, "exec", "-T", "-u", "root", "-w", "/etc", "-e", "X=1", "worker", "sh", "-c", "id -u; pwd; echo $X").stdout; out != "0\n/etc\n1\n" {
		t.Errorf("exec -u -w -e: %q", out)
	}
	// init: docker-init is PID 1.
	if out := gc(t, dir, "exec", "-T", "worker", "cat", "/proc/1/cmdline").stdout; !strings.HasPrefix(out, "/sbin/docker-init") {
		t.Errorf("init: pid 1 is %q", out)
	}

	// run --rm: output and exit code, and no container left.
	r = gcRun(dir, nil, "run", "--rm", "-T", "-e", "V=ok", "web", "sh", "-c", "echo run $V; exit 4")
	if r.code != 4 || r.stdout != "run ok\n" {
		t.Errorf("run --rm: %s", r)
	}
	if es := ps(t, dir, "-a"); len(es) != 3 {
		t.Errorf("after run --rm, ps -a has %d containers: %v", len(es), es)
	}

	// stop / start / restart / kill.
	gc(t, dir, "stop", "web")
	if got := states(ps(t, dir, "-a")); got["life-web-1"] != "exited" || got["life-db-1"] != "running" {
		t.Errorf("after stop web: %v", got)
	}
	gc(t, dir, "start")
	if got := states(ps(t, dir)); got["life-web-1"] != "running" {
		t.Errorf("after start: %v", got)
	}
	gc(t, dir, "restart", "db")
	if got := states(ps(t, dir)); got["life-db-1"] != "running" {
		t.Errorf("after restart: %v", got)
	}
	gc(t, dir, "kill", "worker")
	var worker psEntry
	for _, e := range ps(t, dir, "-a") {
		if e.Service == "worker" {
			worker = e
		}
	}
	if worker.State != "exited" || worker.ExitCode != 137 || !strings.HasPrefix(worker.Status, "Exited (137)") {
		t.Errorf("after kill: %+v", worker)
	}
	gc(t, dir, "pause", "db")
	if got := states(ps(t, dir)); got["life-db-1"] != "paused" {
		t.Errorf("after pause: %v", got)
	}
	gc(t, dir, "unpause", "db")
	if got := states(ps(t, dir)); got["life-db-1"] != "running" {
		t.Errorf("after unpause: %v", got)
	}

	// down removes everything; a second down is harmless.
	r = gc(t, dir, "down")
	if !strings.Contains(r.stderr, "Container life-web-1 Removed") {
		t.Errorf("down output:\n%s", r.stderr)
	}
	assertNothingLeft(t, "life")
	gc(t, dir, "down")
}

// assertNothingLeft checks containerd, the snapshotter, cgroups and our
// own directories for anything of the project.
func assertNothingLeft(t *testing.T, proj string) {
	t.Helper()
	ctx := context.Background()
	c, err := containerd.New(address(), containerd.WithDefaultNamespace(namespace))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cs, err := c.Containers(ctx, `labels."com.docker.compose.project"==`+proj)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 0 {
		t.Errorf("%d containers of %s remain", len(cs), proj)
	}
	tasks, err := c.TaskService().List(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range tasks.Tasks {
		if strings.HasPrefix(tk.ID, proj+"-") {
			t.Errorf("task %s remains", tk.ID)
		}
	}
	err = c.SnapshotService("overlayfs").Walk(ctx, func(_ context.Context, info snapshots.Info) error {
		if strings.HasPrefix(info.Name, proj+"-") {
			t.Errorf("snapshot %s remains", info.Name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"memory", "pids", "cpu", "freezer"} {
		m, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", sub, namespace, proj+"-*"))
		if len(m) > 0 {
			t.Errorf("cgroups remain: %v", m)
		}
	}
	for _, d := range []string{filepath.Join(root, "containers", namespace), filepath.Join(root, "logs", namespace)} {
		m, _ := filepath.Glob(filepath.Join(d, proj+"-*"))
		if len(m) > 0 {
			t.Errorf("files remain: %v", m)
		}
	}
	if _, err := os.Stat(filepath.Join("/run/containerd/io.containerd.runtime.v2.task", namespace, proj+"-web-1")); err == nil {
		t.Errorf("shim bundle of %s-web-1 remains", proj)
	}
}

// pid: host and uts: host put the container in the host's namespaces;
// cpu_period/cpu_quota reach its cgroup.
func TestHostNamespacesAndCPUQuota(t *testing.T) {
	requires(t)
	dir := project(t, "hostns", "services:\n  app:\n    image: busybox\n    command: "+idle+"\n    pid: host\n    uts: host\n    cpu_period: 50000\n    cpu_quota: 25000\n")
	gc(t, dir, "up", "-d")
	hostInit, _ := os.ReadFile("/proc/1/comm")
	if r := gc(t, dir, "exec", "-T", "app", "cat", "/proc/1/comm"); r.stdout != string(hostInit) {
		t.Errorf("pid: host: PID 1 is %q in the container, %q on the host", r.stdout, hostInit)
	}
	hostName, _ := os.Hostname()
	if r := gc(t, dir, "exec", "-T", "app", "hostname"); strings.TrimSpace(r.stdout) != hostName {
		t.Errorf("uts: host: hostname %q, host's %q", r.stdout, hostName)
	}
	// The container's cpu cgroup, read from the host's cgroup tree (v1's cpu
	// controller, else v2's unified one).
	var v1, v2 string
	for _, l := range strings.Split(gc(t, dir, "exec", "-T", "app", "cat", "/proc/self/cgroup").stdout, "\n") {
		f := strings.SplitN(l, ":", 3)
		switch {
		case len(f) == 3 && slices.Contains(strings.Split(f[1], ","), "cpu"):
			v1 = f[2]
		case len(f) == 3 && f[0] == "0" && f[1] == "":
			v2 = f[2]
		}
	}
	var got string
	if v1 != "" {
		quota, _ := os.ReadFile(filepath.Join("/sys/fs/cgroup/cpu", v1, "cpu.cfs_quota_us"))
		period, _ := os.ReadFile(filepath.Join("/sys/fs/cgroup/cpu", v1, "cpu.cfs_period_us"))
		got = strings.TrimSpace(string(quota)) + " " + strings.TrimSpace(string(period))
	} else {
		max, _ := os.ReadFile(filepath.Join("/sys/fs/cgroup", v2, "cpu.max"))
		got = strings.TrimSpace(string(max))
	}
	if got != "25000 50000" {
		t.Errorf("cpu quota and period in the container's cgroup (v1 %q, v2 %q): %q", v1, v2, got)
	}
}

// exec --privileged gives the process every capability; kill
// --remove-orphans removes the containers of services gone from the file.
func TestExecPrivilegedAndKillRemoveOrphans(t *testing.T) {
	requires(t)
	dir := project(t, "privkill", "services:\n  app:\n    image: busybox\n    command: "+idle+"\n  gone:\n    image: busybox\n    command: "+idle+"\n")
	gc(t, dir, "up", "-d")
	capEff := func(args ...string) string {
		r := gc(t, dir, append([]string{"exec", "-T"}, append(args, "app", "grep", "CapEff", "/proc/self/status")...)...)
		return strings.TrimSpace(strings.TrimPrefix(r.stdout, "CapEff:"))
	}
	plain, priv := capEff(), capEff("--privileged")
	bits := func(hex string) uint64 {
		v, err := strconv.ParseUint(hex, 16, 64)
		if err != nil {
			t.Fatalf("CapEff %q: %v", hex, err)
		}
		return v
	}
	const sysAdmin = 1 << 21
	if bits(plain)&sysAdmin != 0 || bits(priv)&sysAdmin == 0 || bits(priv)&bits(plain) != bits(plain) {
		t.Errorf("CapEff plain %s, privileged %s: want CAP_SYS_ADMIN only with --privileged", plain, priv)
	}
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte("services:\n  app:\n    image: busybox\n    command: "+idle+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := gc(t, dir, "kill", "--remove-orphans")
	if !strings.Contains(r.stderr, "Container privkill-gone-1 Removed") || !strings.Contains(r.stderr, "Container privkill-app-1 Killed") {
		t.Errorf("kill --remove-orphans:\n%s", r.stderr)
	}
	if ps := gc(t, dir, "ps", "-a", "--format", "json").stdout; strings.Contains(ps, "privkill-gone-1") {
		t.Errorf("the orphan is still there: %s", ps)
	}
}

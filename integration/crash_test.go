package integration

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
)

// killPoint is when a command is killed: after a delay, or once a
// progress line containing a text has been printed.
type killPoint struct {
	after time.Duration
	line  string
}

func (k killPoint) String() string {
	if k.line != "" {
		return fmt.Sprintf("at %q", k.line)
	}
	return "after " + k.after.String()
}

// killAt runs gocompose and SIGKILLs it at the point (or lets it finish).
func killAt(t *testing.T, dir string, k killPoint, args ...string) {
	t.Helper()
	cmd := gcCommand(dir, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := make(chan struct{})
	if k.line == "" {
		timer := time.AfterFunc(k.after, func() { _ = cmd.Process.Kill(); close(killed) })
		defer timer.Stop()
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if k.line != "" && strings.Contains(sc.Text(), k.line) {
			_ = cmd.Process.Kill()
			break
		}
	}
	_, _ = io.Copy(io.Discard, out)
	_ = cmd.Wait()
	if k.line == "" {
		<-killed
	}
}

// projectGone checks that nothing of proj is on the host: containers,
// tasks, snapshots, cgroups and files (assertNothingLeft), network
// namespaces and their mounts, the bridge and what is attached to it, its
// iptables rules, IPAM leases and CNI cache entries.
func projectGone(t *testing.T, proj, bridge, subnet string) {
	t.Helper()
	assertNothingLeft(t, proj)
	if m, _ := filepath.Glob(filepath.Join(state, "netns", namespace, proj+"-*")); len(m) > 0 {
		t.Errorf("network namespaces left: %v", m)
	}
	if b, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(b), "/"+proj+"-") {
		t.Errorf("mounts of %s left", proj)
	}
	if out, _ := exec.Command("ip", "-o", "link").Output(); bridge != "" && strings.Contains(string(out), bridge) {
		t.Errorf("bridge %s or its veths left:\n%s", bridge, out)
	}
	if out, _ := exec.Command("iptables-save").Output(); subnet != "" && strings.Contains(string(out), strings.TrimSuffix(subnet, ".0/24")+".") {
		t.Errorf("iptables rules of %s left:\n%s", subnet, out)
	}
	if m, _ := filepath.Glob(filepath.Join(root, "cni", "cache", "results", "*"+proj+"-*")); len(m) > 0 {
		t.Errorf("CNI cache entries left: %v", m)
	}
	leases, _ := filepath.Glob(filepath.Join(root, "cni", "ipam", proj+"_*", "*"))
	for _, l := range leases {
		if b, _ := os.ReadFile(l); strings.Contains(string(b), proj+"-") {
			t.Errorf("IPAM lease left: %s", l)
		}
	}
}

// A killed up or down never breaks the project: the next up -d converges
// to every service running with its own name and address, and down -v
// then leaves nothing.
func TestKilledCommandsConverge(t *testing.T) {
	requires(t)
	const n = 20
	var b strings.Builder
	b.WriteString("services:\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "  s%02d:\n    image: busybox\n    command: %s\n", i, sleeper)
		if i > 1 {
			fmt.Fprintf(&b, "    depends_on: [s%02d]\n", i-1)
		}
	}
	dir := project(t, "crash", b.String())
	begin := time.Now()
	var bridge, subnet string
	points := []killPoint{{after: 150 * time.Millisecond}, {after: 400 * time.Millisecond}, {after: 800 * time.Millisecond},
		{after: 1500 * time.Millisecond}, {line: "Network crash_default Created"}, {line: "crash-s05-1 Created"},
		{line: "crash-s10-1 Starting"}, {line: "crash-s15-1 Started"}}
	for _, k := range points {
		t.Logf("up -d killed %v", k)
		killAt(t, dir, k, "up", "-d")
		upOrDump(t, dir)
		es := ps(t, dir)
		seen := map[string]bool{}
		for _, e := range es {
			seen[e.Name] = true
		}
		if len(es) != n || len(seen) != n {
			t.Fatalf("up -d killed %v: after the next up, %d running (%d names), want %d", k, len(es), len(seen), n)
		}
		addrs := gc(t, dir, "exec", "-T", "s01", "sh", "-c", "for i in $(seq -w 1 20); do nslookup s$i | grep '^Address: 10\\.' ; done").stdout
		if got := len(strings.Fields(strings.ReplaceAll(addrs, "Address:", ""))); got != n || hasDuplicates(strings.Fields(addrs)) {
			t.Errorf("up -d killed %v: want %d distinct addresses, got:\n%s", k, n, addrs)
		}
		if bridge == "" {
			for _, l := range strings.Split(gc(t, dir, "network", "ls").stdout, "\n") {
				if f := strings.Fields(l); len(f) >= 6 && f[1] == "crash_default" {
					subnet, bridge = f[4], f[5]
				}
			}
		}
		gc(t, dir, "down", "-v", "-t", "0")
		projectGone(t, "crash", bridge, subnet)
	}
	leasesLeft(t, begin)
	for _, k := range []killPoint{{after: 200 * time.Millisecond}, {line: "crash-s10-1 Removed"}, {line: "Network crash_default Removing"}} {
		gc(t, dir, "up", "-d")
		t.Logf("down -v killed %v", k)
		killAt(t, dir, k, "down", "-v", "-t", "0")
		gc(t, dir, "up", "-d")
		if es := ps(t, dir); len(es) != n {
			t.Errorf("down -v killed %v: the next up -d runs %d, want %d", k, len(es), n)
		}
		gc(t, dir, "down", "-v", "-t", "0")
		projectGone(t, "crash", bridge, subnet)
	}
	leasesLeft(t, begin)
}

// leasesLeft fails on containerd leases made since begin that outlive the
// commands: a killed command's own lease is swept by the next command, and
// the client's temporary per-operation leases (24 h) are not made at all.
func leasesLeft(t *testing.T, begin time.Time) {
	t.Helper()
	c, err := containerd.New(address(), containerd.WithDefaultNamespace(namespace))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ls, err := c.LeasesService().List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		_, temporary := l.Labels["containerd.io/gc.expire"]
		if l.CreatedAt.After(begin) && (temporary || l.Labels["gocompose.pid"] != "") {
			t.Errorf("lease %s (labels %v) outlived its command", l.ID, l.Labels)
		}
	}
}

// upOrDump runs up -d; when it hangs, its goroutines are dumped (SIGQUIT)
// into the failure.
func upOrDump(t *testing.T, dir string) {
	t.Helper()
	cmd := gcCommand(dir, "up", "-d")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("up -d: %v\n%s", err, out.String())
		}
	case <-time.After(45 * time.Second):
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		<-done
		t.Fatalf("up -d hung:\n%s", out.String())
	}
}

func hasDuplicates(xs []string) bool {
	seen := map[string]bool{}
	for _, x := range xs {
		if x != "Address:" && seen[x] {
			return true
		}
		seen[x] = true
	}
	return false
}

// A first Ctrl-C in a foreground up stops gracefully; a second one ends it
// at once, and the project is still usable.
func TestSecondInterruptAborts(t *testing.T) {
	requires(t)
	dir := project(t, "intr", "services:\n  slow:\n    image: busybox\n    command: [\"sleep\", \"1000\"]\n    stop_grace_period: 60s\n")
	cmd := gcCommand(dir, "up")
	out, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() && !strings.Contains(sc.Text(), "intr-slow-1 Started") {
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	for sc.Scan() && !strings.Contains(sc.Text(), "Gracefully stopping") {
	}
	time.Sleep(300 * time.Millisecond) // it now waits out the 60 s grace period
	_ = cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { _, _ = io.Copy(io.Discard, out); done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("a second Ctrl-C did not end up within 5 s")
	}
	gc(t, dir, "up", "-d")
	if got := states(ps(t, dir)); got["intr-slow-1"] != "running" {
		t.Errorf("after the aborted up, up -d: %v", got)
	}
	gc(t, dir, "down", "-t", "0")
}

// startOrphanShim leaves a real containerd shim for the container id in
// the state a command killed while containerd started it leaves one:
// started in a bundle whose log FIFO nobody opens (so it waits forever),
// the bundle then deleted. It returns the shim's socket and a check that
// the shim is gone.
func startOrphanShim(t *testing.T, id string) (sock string, gone func() bool) {
	t.Helper()
	shimBin, err := exec.LookPath("containerd-shim-runc-v2")
	if err != nil {
		t.Skip("containerd-shim-runc-v2 not installed")
	}
	bundle := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(bundle, "log"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	start := exec.Command(shimBin, "-namespace", namespace, "-id", id, "-address", address(), "start")
	start.Dir = bundle
	out, err := start.Output()
	if err != nil {
		t.Fatalf("start a shim: %v", err)
	}
	sock = strings.TrimPrefix(strings.TrimSpace(string(out)), "unix://")
	var pids []int
	for _, p := range processesWith("\x00-id\x00" + id + "\x00") {
		pid, _, _ := strings.Cut(p, ":")
		if n, err := strconv.Atoi(pid); err == nil {
			pids = append(pids, n)
		}
	}
	if len(pids) == 0 {
		t.Fatal("the orphaned shim does not run")
	}
	// Once it waits for a reader of its log, the bundle goes, as
	// containerd deletes it when it gives up.
	waiting := func() bool {
		ws, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/wchan", pids[0]))
		for _, w := range ws {
			if b, _ := os.ReadFile(w); strings.Contains(string(b), "wait_for_partner") || strings.Contains(string(b), "fifo") {
				return true
			}
		}
		return false
	}
	for i := 0; !waiting(); i++ {
		if i == 100 {
			t.Fatal("the shim does not wait for its log's reader")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := os.RemoveAll(bundle); err != nil {
		t.Fatal(err)
	}
	alive := func() bool {
		for _, pid := range pids {
			if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil && len(b) > 0 {
				return true // a zombie (killed, not reaped by init) has none
			}
		}
		return false
	}
	t.Cleanup(func() {
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		os.Remove(sock)
	})
	return sock, func() bool {
		for i := 0; i < 50 && alive(); i++ {
			time.Sleep(100 * time.Millisecond)
		}
		return !alive()
	}
}

// A shim left behind by a command killed while containerd started it
// would take the next create of the container and never answer (start
// hung until the shim was killed): start clears it and the container
// runs; down clears one too.
func TestOrphanedShimIsCleared(t *testing.T) {
	requires(t)
	dir := project(t, "orphan", fmt.Sprintf("services:\n  s:\n    image: busybox\n    command: %s\n", idle))
	gc(t, dir, "create")
	_, gone := startOrphanShim(t, "orphan-s-1")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "start", "s")
	cmd.Dir, cmd.Env = dir, suiteEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("start with an orphaned shim for the container: %v\n%s", err, out)
	}
	if !gone() {
		t.Error("the orphaned shim still runs after start")
	}
	if out := gc(t, dir, "exec", "-T", "s", "echo", "runs").stdout; out != "runs\n" {
		t.Errorf("exec after start: %q", out)
	}
	gc(t, dir, "stop", "-t", "0")
	sock, gone := startOrphanShim(t, "orphan-s-1")
	gc(t, dir, "down", "-t", "0")
	if !gone() {
		t.Error("down left the orphaned shim running")
	}
	if _, err := os.Stat(sock); err == nil {
		t.Error("down left the orphaned shim's socket")
	}
}

// Package integration runs the gocompose binary against real containerd and
// runc. Outside CI a missing prerequisite skips with the reason; under
// CI=true it fails, so a suite that skips everything is a red build.
package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/gocompose/gocompose/build"
	"github.com/gocompose/gocompose/internal/daemon"
	"github.com/gocompose/gocompose/internal/testimage"
	"github.com/gocompose/gocompose/supervisor"
	"github.com/moby/sys/mountinfo"
)

const namespace = "gocompose-it"

var (
	bin        string // the gocompose binary under test
	skipReason string
	root       string // GOCOMPOSE_ROOT for the suite
	state      string // GOCOMPOSE_STATE for the suite
)

func address() string {
	if v := os.Getenv("CONTAINERD_ADDRESS"); v != "" {
		return v
	}
	return "/run/containerd/containerd.sock"
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) (code int) {
	tmp, err := os.MkdirTemp("", "gcit")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		// Anything still mounted under the suite's directories is a leak
		// (and removing through it would reach the mounted files).
		if left := unmountUnder(tmp); len(left) > 0 {
			fmt.Fprintln(os.Stderr, "mounts left behind by the suite:", left)
			code = 1
		}
		os.RemoveAll(tmp)
	}()
	root, state = filepath.Join(tmp, "root"), filepath.Join(tmp, "state")
	skipReason = prerequisites()
	if skipReason == "" {
		bin = filepath.Join(tmp, "gocompose")
		// gocompose and, beside it, the log driver the shim runs.
		build := exec.Command("go", "build", "-o", tmp, "../cmd/gocompose", "../cmd/gocompose-logger", "../cmd/gocompose-supervisor", "../cmd/gocompose-build", "../cmd/gocompose-bridge")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build gocompose:", err)
			return 1
		}
		if err := linkBuildkitd(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		// What an aborted earlier run left in the suite's namespaces
		// (images, containers, leases) would change what tests see.
		clearAborted()
		if err := loadBusybox(tmp); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer cleanup()
	}
	return m.Run()
}

// unmountUnder detaches every mount below dir, deepest first, and returns
// their mount points.
func unmountUnder(dir string) []string {
	ms, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		return nil
	}
	var points []string
	for _, m := range ms {
		points = append(points, m.Mountpoint)
	}
	slices.SortFunc(points, func(a, b string) int { return len(b) - len(a) })
	for _, p := range points {
		_ = syscall.Unmount(p, syscall.MNT_DETACH)
	}
	return points
}

// linkBuildkitd puts buildkitd beside the binary under test, where
// gocompose looks first: $GOCOMPOSE_BUILDKITD, else the repository's bin/.
func linkBuildkitd() error {
	src := os.Getenv("GOCOMPOSE_BUILDKITD")
	if src == "" {
		src, _ = filepath.Abs("../bin/buildkitd")
	}
	if _, err := os.Stat(src); err != nil {
		return nil // build tests skip, or fail under CI
	}
	return os.Symlink(src, filepath.Join(filepath.Dir(bin), "buildkitd"))
}

func prerequisites() string {
	if os.Geteuid() != 0 {
		return "integration tests need root"
	}
	for _, b := range []string{"containerd", "runc", "containerd-shim-runc-v2", "iptables"} {
		if _, err := exec.LookPath(b); err != nil {
			return b + " is not installed"
		}
	}
	if _, err := os.Stat("/usr/lib/cni/bridge"); err != nil {
		return "CNI plugins are not installed (containernetworking-plugins)"
	}
	if _, err := os.Stat(testimage.BusyboxPath); err != nil {
		return "busybox-static is not installed"
	}
	c, err := containerd.New(address(), containerd.WithTimeout(2*time.Second))
	if err != nil {
		return "containerd does not answer at " + address() + ": " + err.Error()
	}
	defer c.Close()
	if _, err := c.Version(context.Background()); err != nil {
		return "containerd does not answer at " + address() + ": " + err.Error()
	}
	return ""
}

// requires skips (or fails under CI=true) when prerequisites are missing.
func requires(t *testing.T) {
	t.Helper()
	if skipReason == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("prerequisite missing under CI: %s", skipReason)
	}
	t.Skip(skipReason)
}

func loadBusybox(tmp string) error {
	archive := filepath.Join(tmp, "busybox.tar")
	f, err := os.Create(archive)
	if err != nil {
		return err
	}
	if err := testimage.Busybox(f, testimage.Ref); err != nil {
		f.Close()
		return err
	}
	f.Close()
	r := gcRun("", nil, "image", "load", "-i", archive)
	if r.code != 0 || !strings.Contains(r.stdout, "Loaded image: busybox:latest") {
		return fmt.Errorf("image load: code %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	return nil
}

// cleanup stops the supervisor the suite started, removes whatever the
// suite left in its namespace, then the namespace itself.
// clearAborted empties the suite's containerd namespaces of what an
// earlier run that was killed left there.
func clearAborted() {
	c, err := containerd.New(address(), containerd.WithDefaultNamespace(namespace))
	if err != nil {
		return
	}
	defer c.Close()
	nss, err := c.NamespaceService().List(context.Background())
	if err != nil {
		return
	}
	for _, ns := range nss {
		if ns == namespace || ns == namespace+"_history" {
			fmt.Fprintln(os.Stderr, "clearing namespace", ns, "left by an aborted run")
			clearNamespace(context.Background(), c, ns)
		}
	}
}

func cleanup() {
	ctx := context.Background()
	stopSupervisor()
	_ = build.Daemon{Containerd: address(), Namespace: namespace, State: state}.Stop()
	c, err := containerd.New(address(), containerd.WithDefaultNamespace(namespace))
	if err != nil {
		return
	}
	defer c.Close()
	clearNamespace(ctx, c, namespace)
	hctx := namespaces.WithNamespace(ctx, namespace+"_history")
	if ls, err := c.LeasesService().List(hctx); err == nil {
		for _, l := range ls {
			_ = c.LeasesService().Delete(hctx, l, leases.SynchronousDelete)
		}
	}
	_ = c.NamespaceService().Delete(ctx, namespace+"_history")
}

// clearNamespace removes the namespace's containers, leases and images,
// then the namespace.
func clearNamespace(ctx context.Context, c *containerd.Client, ns string) {
	ctx = namespaces.WithNamespace(ctx, ns)
	cs, _ := c.Containers(ctx)
	for _, ct := range cs {
		if t, err := ct.Task(ctx, nil); err == nil {
			_, _ = t.Delete(ctx, containerd.WithProcessKill)
		}
		_ = ct.Delete(ctx, containerd.WithSnapshotCleanup)
	}
	if ls, err := c.LeasesService().List(ctx); err == nil {
		for _, l := range ls {
			_ = c.LeasesService().Delete(ctx, l, leases.SynchronousDelete)
		}
	}
	imgs, _ := c.ImageService().List(ctx)
	for _, i := range imgs {
		_ = c.ImageService().Delete(ctx, i.Name, images.SynchronousDelete())
	}
	if err := c.NamespaceService().Delete(ctx, ns); err != nil {
		fmt.Fprintln(os.Stderr, "cleanup: namespace", ns, err)
	}
}

// deleteNamespace clears a namespace a test made.
func deleteNamespace(ns string) {
	c, err := containerd.New(address())
	if err != nil {
		return
	}
	defer c.Close()
	clearNamespace(context.Background(), c, ns)
}

// stopSupervisor stops the suite's supervisor watchdog (so nothing starts
// the supervisor again), asks the supervisor to exit and waits for it.
func stopSupervisor() {
	if b, err := os.ReadFile(supervisor.WatchdogPidPath(state)); err == nil {
		if pid, _ := strconv.Atoi(strings.TrimSpace(string(b))); pid > 0 {
			daemon.Stop(pid, "supervisor", 5*time.Second)
		}
	}
	b, err := os.ReadFile(filepath.Join(state, "supervisor.pid"))
	if err != nil {
		return
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = supervisor.Stop(sctx, state)
	daemon.Stop(pid, "supervisor", 5*time.Second)
}

type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// suiteEnv is the environment every gocompose the suite runs gets: its
// containerd namespace and its own state directories.
func suiteEnv() []string {
	return append(os.Environ(), "CONTAINERD_NAMESPACE="+namespace, "CONTAINERD_ADDRESS="+address(),
		"GOCOMPOSE_ROOT="+root, "GOCOMPOSE_STATE="+state)
}

// gcCommand is gocompose with args in dir and the suite's environment,
// for tests that drive the process themselves (signals, terminals, pipes).
func gcCommand(dir string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = suiteEnv()
	return cmd
}

// gcRun runs gocompose in dir with the suite's environment plus env.
func gcRun(dir string, env []string, args ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = suiteEnv()
	cmd.Env = append(cmd.Env, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		code = -1
		errb.WriteString(err.Error())
	}
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

// gc runs gocompose and fails the test unless it exits 0.
func gc(t *testing.T, dir string, args ...string) result {
	t.Helper()
	r := gcRun(dir, nil, args...)
	if r.code != 0 {
		t.Fatalf("gocompose %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// project writes compose.yaml into a fresh directory and registers a down.
func project(t *testing.T, name, yaml string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gcRun(dir, nil, "down", "-t", "0", "--remove-orphans") })
	return dir
}

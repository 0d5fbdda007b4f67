package runtime

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/containerd/api/services/tasks/v1"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/errdefs"
	"github.com/moby/sys/mountinfo"
)

// newTask makes the container's task. A command killed while containerd
// was starting the task's shim can leave the shim's bundle (and the shim)
// behind with no task record, and every later create then fails on the
// existing bundle; such a bundle is cleared and the create tried once more.
func (r *Runtime) newTask(ctx context.Context, c containerd.Container, ioc cio.Creator) (containerd.Task, error) {
	if err := r.clearOrphanShim(ctx, c, c.ID()); err != nil {
		return nil, err
	}
	t, err := c.NewTask(ctx, ioc)
	if err == nil {
		return t, nil
	}
	err = conv(err)
	if errdefs.IsAlreadyExists(err) {
		// A task record whose shim is gone (its command was killed while
		// stopping it): containerd cannot load it as a task, but can
		// delete it, cleaning up after the shim.
		if _, derr := r.client.TaskService().Delete(ctx, &tasks.DeleteTaskRequest{ContainerID: c.ID()}); derr != nil && !errdefs.IsNotFound(conv(derr)) {
			_, _ = r.client.TaskService().Kill(ctx, &tasks.KillRequest{ContainerID: c.ID(), Signal: uint32(syscall.SIGKILL), All: true})
			time.Sleep(shimSettle)
			if _, derr := r.client.TaskService().Delete(ctx, &tasks.DeleteTaskRequest{ContainerID: c.ID()}); derr != nil && !errdefs.IsNotFound(conv(derr)) {
				return nil, errors.Join(err, fmt.Errorf("delete the stale task: %w", conv(derr)))
			}
		}
		t, err = c.NewTask(ctx, ioc)
		if err == nil {
			return t, nil
		}
		err = conv(err)
	}
	cleared, cerr := r.clearStaleBundle(ctx, c)
	if cerr != nil {
		return nil, errors.Join(err, cerr)
	}
	if !cleared {
		return nil, err
	}
	t, err = c.NewTask(ctx, ioc)
	return t, conv(err)
}

// shimSocket is where a containerd shim for the container id listens: the
// runc shim derives the path from containerd's address, the namespace and
// the id, always under /run/containerd/s (pkg/shim's SocketAddress).
func shimSocket(address, namespace, id string) string {
	address = strings.TrimPrefix(address, "unix://")
	return fmt.Sprintf("/run/containerd/s/%x", sha256.Sum256([]byte(filepath.Join(address, namespace, id))))
}

// clearOrphanShim kills a shim left for the container id with no task in
// containerd. A command killed while containerd was starting a task's shim
// makes containerd give up and delete the bundle, while the shim it had
// started goes on waiting, forever, for containerd to open the bundle's log
// FIFO (measured: the shim blocked in open("/proc/self/fd/7"), the deleted
// log). The next create of the container then hangs on it (reproduced with
// a real shim in that state: `start` never returned until it was killed).
// A shim's socket is the cheap sign of one: with no socket (every new
// container) this costs a stat; with one and no task, the process whose
// command line is this container's shim is killed and the socket removed.
func (r *Runtime) clearOrphanShim(ctx context.Context, c containerd.Container, id string) error {
	if r.stateDir() == "" {
		return nil // not a containerd whose shims we know
	}
	sock := shimSocket(r.address, r.namespace, id)
	if _, err := os.Lstat(sock); err != nil {
		return nil
	}
	if c != nil {
		if _, err := c.Task(ctx, nil); !errdefs.IsNotFound(conv(err)) {
			return nil // a task (or we cannot tell): its shim is in use
		}
	}
	// This containerd's shim of this container only (another containerd
	// on the host may use the same namespace and name).
	want := [][]byte{[]byte("containerd-shim"), []byte("\x00-namespace\x00" + r.namespace + "\x00"), []byte("\x00-id\x00" + id + "\x00"),
		[]byte("\x00-address\x00" + strings.TrimPrefix(r.address, "unix://") + "\x00")}
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || !containsAll(cmdline, want) {
			continue
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("container %s: kill its orphaned shim %d: %w", id, pid, err)
		}
		for i := 0; i < 100 && processRuns(pid); i++ {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if err := os.Remove(sock); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("container %s: remove its orphaned shim's socket: %w", id, err)
	}
	return nil
}

func containsAll(b []byte, subs [][]byte) bool {
	for _, sub := range subs {
		if !bytes.Contains(b, sub) {
			return false
		}
	}
	return true
}

// processRuns reports whether pid is alive (a zombie is not).
func processRuns(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z") && !strings.HasPrefix(rest, "X")
}

// stateDir is the containerd state directory of the daemon we talk to,
// where task bundles live; "" when it cannot be known.
func (r *Runtime) stateDir() string {
	switch r.address {
	case DefaultAddress:
		return "/run/containerd"
	case PrivateAddress():
		return filepath.Join(PrivateDir(), "state")
	}
	return ""
}

// clearStaleBundle removes the task bundle of c when containerd has no
// task for it: the shim it names is killed (only if its command line is
// that container's shim), the rootfs unmounted, the directory removed. It
// reports whether there was one.
func (r *Runtime) clearStaleBundle(ctx context.Context, c containerd.Container) (bool, error) {
	dir := r.stateDir()
	if dir == "" {
		return false, nil
	}
	if _, err := c.Task(ctx, nil); !errdefs.IsNotFound(conv(err)) {
		return false, nil // a task exists (or we cannot tell): not stale
	}
	bundle := filepath.Join(dir, "io.containerd.runtime.v2.task", r.namespace, c.ID())
	if _, err := os.Stat(bundle); err != nil {
		return false, nil
	}
	if b, err := os.ReadFile(filepath.Join(bundle, "shim.pid")); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
			cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			if bytes.Contains(cmdline, []byte("containerd-shim")) && bytes.Contains(cmdline, []byte("\x00-id\x00"+c.ID()+"\x00")) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
				for i := 0; i < 50 && syscall.Kill(pid, 0) == nil; i++ {
					time.Sleep(20 * time.Millisecond)
				}
			}
		}
	}
	ms, err := mountinfo.GetMounts(mountinfo.PrefixFilter(bundle))
	if err != nil {
		return false, fmt.Errorf("stale task bundle %s: %w", bundle, err)
	}
	for _, m := range ms {
		if err := syscall.Unmount(m.Mountpoint, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) {
			return false, fmt.Errorf("stale task bundle %s: unmount %s: %w", bundle, m.Mountpoint, err)
		}
	}
	if ms, err := mountinfo.GetMounts(mountinfo.PrefixFilter(bundle)); err != nil || len(ms) > 0 {
		return false, fmt.Errorf("stale task bundle %s: still mounted, not removed", bundle)
	}
	if err := os.RemoveAll(bundle); err != nil {
		return false, fmt.Errorf("stale task bundle %s: %w", bundle, err)
	}
	return true, nil
}

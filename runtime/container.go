package runtime

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	"github.com/gocompose/gocompose/internal/cp"
	"github.com/gocompose/gocompose/internal/labels"
	"github.com/gocompose/gocompose/internal/lock"
	"github.com/gocompose/gocompose/internal/paths"
	"github.com/gocompose/gocompose/internal/retry"
	"github.com/gocompose/gocompose/model"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sync/errgroup"
)

// Container states, as Docker names them.
const (
	StateCreated = "created"
	StateRunning = "running"
	StatePaused  = "paused"
	StateExited  = "exited"
)

// Container is what containerd knows of one container, read fresh each time.
type Container struct {
	ID         string
	Labels     map[string]string
	Image      string
	Created    time.Time
	State      string
	ExitCode   int
	Pid        uint32
	StartedAt  time.Time
	FinishedAt time.Time
	Args       []string
	// Mounts are the bind mounts of the container's spec (volumes, binds,
	// secrets and its own /etc files), in spec order.
	Mounts []specs.Mount
	// Broken: it has no task and its snapshot is gone (a command killed
	// half-way through removing it): it can only be made again. Only
	// Inspect tells.
	Broken bool
}

func etcDir(ns, id string) string { return filepath.Join(paths.Root(), "containers", ns, id) }

func randomHex(n int) string {
	b := make([]byte, n/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// shimRuntime is the containerd runtime (shim) of `runtime:`: runc is
// containerd's default; other names are containerd runtime names such as
// io.containerd.runsc.v1 (gVisor) or io.containerd.kata.v2.
func shimRuntime(name string) string {
	if name == "" || name == "runc" {
		return ""
	}
	return name
}

// Create makes the container (snapshot, spec, /etc files, labels) without
// starting it. On error nothing of it is left behind.
func (r *Runtime) Create(ctx context.Context, req model.Container) (retErr error) {
	svc := req.Service
	// The image was resolved (and unpacked) once for the command by
	// ResolveImage; only its record is looked up here, for the snapshot.
	img, err := r.client.GetImage(ctx, req.Image.Ref)
	if err != nil {
		if err = conv(err); errdefs.IsNotFound(err) {
			return fmt.Errorf("%s: %w", req.Image.Ref, ErrImageNotFound)
		}
		return fmt.Errorf("image %s: %w", req.Image.Ref, err)
	}
	icfg := req.Image.Config
	hostname := randomHex(12)
	dir := etcDir(r.namespace, req.ID)
	// Cleanup is registered before anything is written, so a failure at
	// any step leaves nothing.
	defer func() {
		if retErr != nil {
			_ = r.client.SnapshotService(snapshotter).Remove(context.WithoutCancel(ctx), req.ID)
			r.removeImageVolumes(context.WithoutCancel(ctx), req.ID)
			removeSubpaths(r.namespace, req.ID)
			os.RemoveAll(dir)
			os.RemoveAll(logDir(r.namespace, req.ID))
		}
	}()
	req.Mounts = slices.Clone(req.Mounts)
	imageVolumes, err := r.makeImageVolumes(ctx, &req)
	if err != nil {
		return fmt.Errorf("create %s: %w", req.ID, err)
	}
	subpaths := r.planSubpaths(&req)
	if err := writeEtcFiles(dir, svc, hostname, req.Etc); err != nil {
		return fmt.Errorf("create %s: %w", req.ID, err)
	}
	full := req.Labels[labels.InstanceID]
	tag := TagInfo{ID: full[:min(12, len(full))], FullID: full, Name: req.ID, ImageName: svc.Image,
		ImageFullID: req.Image.Digest, ImageID: shortDigest(req.Image.Digest), DaemonName: "gocompose"}
	if err := writeLogConfig(r.namespace, req.ID, req.Log, tag); err != nil {
		return fmt.Errorf("create %s: %w", req.ID, err)
	}
	lbls := maps.Clone(req.Labels)
	if lbls == nil {
		lbls = map[string]string{}
	}
	if svc.StopSignal != "" {
		lbls[labels.StopSignal] = svc.StopSignal
	}
	if svc.StopGracePeriod != nil {
		lbls[labels.StopTimeout] = strconv.FormatFloat(time.Duration(*svc.StopGracePeriod).Seconds(), 'f', -1, 64)
	}
	opts := []oci.SpecOpts{
		oci.WithDefaultSpec(), oci.WithDefaultUnixDevices,
		withArgs(svc, icfg), withEnvironment(svc, icfg), withWorkingDir(svc, icfg),
		withUser(svc, icfg), withHostname(svc, hostname), withTTY(svc), withStdinOpen(svc), withLogDriver(svc), withSharedNamespaces(req, r.namespace), withImageVolumes(imageVolumes), withSubpaths(subpaths),
		withNetworkMode(svc, req.NetNS), withEtcFiles(dir), withInit(svc, FindTini()),
		withCapabilities(svc), withPrivileged(svc), withReadOnly(svc), withTmpfs(svc),
		withShmSize(svc), withUlimits(svc), withSysctls(svc), withMemory(svc), withCPU(svc),
		withPidsLimit(svc), withDevices(svc), withDeviceCgroupRules(svc), withSecurityOpts(svc), withOomScoreAdj(svc),
		withMounts(req.Mounts), withNamespaces(svc), withCgroupParent(svc, req.ID), withMemoryExtras(svc),
		withCPUExtras(svc), withAnnotations(svc), withBlkio(svc),
		// Last: CDI edits add devices, mounts and environment the other
		// options must not reset.
		withCDIDevices(svc),
	}
	newContainer := func() (containerd.Container, error) {
		copts := []containerd.NewContainerOpts{containerd.WithImage(img)}
		if name := shimRuntime(svc.Runtime); name != "" {
			copts = append(copts, containerd.WithRuntime(name, nil))
		}
		c, err := r.client.NewContainer(ctx, req.ID, append(copts,
			containerd.WithSnapshotter(snapshotter),
			containerd.WithNewSnapshot(req.ID, img),
			containerd.WithNewSpec(opts...),
			containerd.WithContainerLabels(lbls),
		)...)
		return c, conv(err)
	}
	c, err := newContainer()
	if errdefs.IsAlreadyExists(err) {
		// A command killed between preparing the snapshot and writing the
		// container record leaves the snapshot alone: it is nobody's.
		if _, lerr := r.client.LoadContainer(ctx, req.ID); errdefs.IsNotFound(conv(lerr)) {
			if rerr := r.client.SnapshotService(snapshotter).Remove(ctx, req.ID); rerr == nil || errdefs.IsNotFound(conv(rerr)) {
				c, err = newContainer()
			}
		}
	}
	if err != nil {
		if errdefs.IsAlreadyExists(err) {
			return fmt.Errorf("create %s: container name already in use: %w", req.ID, err)
		}
		return fmt.Errorf("create %s: %w", req.ID, err)
	}
	if err := r.copyUp(ctx, c, req.CopyUp); err != nil {
		_ = c.Delete(context.WithoutCancel(ctx), containerd.WithSnapshotCleanup)
		return fmt.Errorf("create %s: %w", req.ID, err)
	}
	return nil
}

// copyUp seeds empty volume directories from the container's rootfs.
func (r *Runtime) copyUp(ctx context.Context, c containerd.Container, list []model.CopyUp) error {
	if len(list) == 0 {
		return nil
	}
	info, err := c.Info(ctx)
	if err != nil {
		return conv(err)
	}
	mounts, err := r.client.SnapshotService(info.Snapshotter).Mounts(ctx, info.SnapshotKey)
	if err != nil {
		return conv(err)
	}
	return mount.WithReadonlyTempMount(ctx, mounts, func(root string) error {
		for _, cu := range list {
			src := cp.Side{Root: root, Path: filepath.Clean("/"+cu.Target) + "/."}
			if _, err := os.Stat(filepath.Join(root, filepath.Clean("/"+cu.Target))); err != nil {
				continue // nothing in the image there
			}
			// The volume's directory takes the image directory's
			// contents, modes and owners.
			if err := cp.Copy(src, cp.Side{Root: "/", Path: cu.HostDir}, cp.Options{Archive: true}); err != nil {
				return fmt.Errorf("copy %s into volume: %w", cu.Target, err)
			}
		}
		return nil
	})
}

// ExportRootFS writes the container's root filesystem (its image and what
// it changed, without volumes or binds) as a tar stream, from a read-only
// view of its snapshot, running or not.
func (r *Runtime) ExportRootFS(ctx context.Context, id string, w io.Writer) error {
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return fmt.Errorf("container %s: %w", id, conv(err))
	}
	info, err := c.Info(ctx)
	if err != nil {
		return conv(err)
	}
	mounts, err := r.client.SnapshotService(info.Snapshotter).Mounts(ctx, info.SnapshotKey)
	if err != nil {
		return fmt.Errorf("container %s: %w", id, conv(err))
	}
	return mount.WithReadonlyTempMount(ctx, mounts, func(root string) error {
		return cp.WriteTarContents(root, w)
	})
}

// WithRootFS calls fn with the container's root filesystem as a host path:
// for a running (or paused) task /proc/<pid>/root, where its volumes and
// binds are seen too; otherwise its snapshot, mounted for the call.
func (r *Runtime) WithRootFS(ctx context.Context, id string, fn func(root string) error) error {
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return fmt.Errorf("container %s: %w", id, conv(err))
	}
	if t, err := c.Task(ctx, nil); err == nil {
		if st, err := t.Status(ctx); err == nil && (st.Status == containerd.Running || st.Status == containerd.Paused) {
			return fn(fmt.Sprintf("/proc/%d/root", t.Pid()))
		}
	}
	info, err := c.Info(ctx)
	if err != nil {
		return conv(err)
	}
	mounts, err := r.client.SnapshotService(info.Snapshotter).Mounts(ctx, info.SnapshotKey)
	if err != nil {
		return fmt.Errorf("container %s: %w", id, conv(err))
	}
	return mount.WithTempMount(ctx, mounts, fn)
}

// writeEtcFiles writes the hosts, hostname and resolv.conf the container sees.
func writeEtcFiles(dir string, svc types.ServiceConfig, hostname string, etc model.Etc) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	name := hostname
	if svc.Hostname != "" {
		name = svc.Hostname
	}
	var hosts strings.Builder
	if svc.NetworkMode == "host" {
		b, _ := os.ReadFile("/etc/hosts")
		hosts.Write(b)
		if len(b) > 0 && b[len(b)-1] != '\n' {
			hosts.WriteByte('\n')
		}
		if h, err := os.Hostname(); err == nil {
			name = h
		}
	} else {
		hosts.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
		if len(etc.Addresses) == 0 {
			fmt.Fprintf(&hosts, "127.0.1.1\t%s\n", name)
		}
		for _, a := range etc.Addresses {
			fmt.Fprintf(&hosts, "%s\t%s\n", a, name)
		}
	}
	for _, h := range svc.ExtraHosts.AsList(" ") {
		host, ip, _ := strings.Cut(h, " ")
		fmt.Fprintf(&hosts, "%s\t%s\n", ip, host)
	}
	resolv, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		resolv = nil
	}
	if len(etc.Nameservers) > 0 {
		var b strings.Builder
		for _, n := range etc.Nameservers {
			fmt.Fprintf(&b, "nameserver %s\n", n)
		}
		if len(etc.Search) > 0 {
			fmt.Fprintf(&b, "search %s\n", strings.Join(etc.Search, " "))
		}
		if len(etc.Options) > 0 {
			fmt.Fprintf(&b, "options %s\n", strings.Join(etc.Options, " "))
		}
		resolv = []byte(b.String())
	}
	for f, b := range map[string][]byte{
		"hosts":       []byte(hosts.String()),
		"hostname":    []byte(name + "\n"),
		"resolv.conf": resolv,
	} {
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Start starts the container's task with its output going to the json-file
// log. A stopped task left from an earlier run is removed first.
func (r *Runtime) Start(ctx context.Context, id string) error {
	_, err := r.start(ctx, id, false)
	return err
}

// Restart starts the container for a restart policy: like Start, but it
// gives up (false) if a user stopped the container meanwhile, checking as
// late as possible.
func (r *Runtime) Restart(ctx context.Context, id string) (bool, error) {
	return r.start(ctx, id, true)
}

func (r *Runtime) start(ctx context.Context, id string, unlessStopped bool) (bool, error) {
	l, err := r.lockContainer(ctx, id)
	if err != nil {
		return false, err
	}
	defer l.Unlock()
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return false, fmt.Errorf("start %s: %w", id, conv(err))
	}
	if t, err := c.Task(ctx, nil); err == nil {
		st, err := t.Status(ctx)
		if err == nil && (st.Status == containerd.Running || st.Status == containerd.Paused) {
			return !unlessStopped, nil
		}
		if err == nil && st.Status == containerd.Created && !unlessStopped {
			// Made ahead by CreateTask: only the start is left.
			if err := t.Start(ctx); err == nil {
				return true, r.markStarted(ctx, c)
			}
		}
		if err := deleteTask(ctx, t); err != nil {
			return false, fmt.Errorf("start %s: remove old task: %w", id, err)
		}
	}
	spec, err := c.Spec(ctx)
	if err != nil {
		return false, fmt.Errorf("start %s: %w", id, conv(err))
	}
	if err := r.prepareTask(ctx, c, spec); err != nil {
		return false, fmt.Errorf("start %s: %w", id, err)
	}
	ioc, err := r.taskIO(id, spec)
	if err != nil {
		return false, fmt.Errorf("start %s: %w", id, err)
	}
	if unlessStopped {
		lbls, err := c.Labels(ctx)
		if err != nil {
			return false, conv(err)
		}
		if lbls[labels.UserStopped] == "True" {
			return false, nil
		}
	}
	return true, r.startTask(ctx, c, ioc)
}

// lockContainer serialises lifecycle changes of one container across
// processes: the CLI (stop, kill, rm) and the supervisor (restarts) must not
// interleave on the same task.
func (r *Runtime) lockContainer(ctx context.Context, id string) (*lock.Lock, error) {
	return lock.Project(ctx, filepath.Join(paths.Locks(), "containers", r.namespace), id)
}

// shimSettle is the pause between attempts to create a task: right after
// the previous task of the same ID went away, containerd 1.6 can still be
// cleaning up after its shim, and a create or start then fails.
const shimSettle = 200 * time.Millisecond

func (r *Runtime) startTask(ctx context.Context, c containerd.Container, ioc cio.Creator) error {
	err := retry.Do(ctx, 4, shimSettle, func() error { return r.createAndStart(ctx, c, ioc) })
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("start %s: %w", c.ID(), conv(err))
	}
	return r.markStarted(ctx, c)
}

func (r *Runtime) markStarted(ctx context.Context, c containerd.Container) error {
	if _, err := c.SetLabels(ctx, map[string]string{
		labels.StartedAt:   time.Now().UTC().Format(time.RFC3339Nano),
		labels.UserStopped: "False",
	}); err != nil {
		return fmt.Errorf("start %s: %w", c.ID(), conv(err))
	}
	return nil
}

// CreateTask makes the container's task (runc create: namespaces, cgroups,
// the process waiting to exec) without starting it, so that `up` can do the
// slow part ahead while dependencies start; Start then only starts it.
func (r *Runtime) CreateTask(ctx context.Context, id string) error {
	l, err := r.lockContainer(ctx, id)
	if err != nil {
		return err
	}
	defer l.Unlock()
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return fmt.Errorf("create task %s: %w", id, conv(err))
	}
	if t, err := c.Task(ctx, nil); err == nil {
		if st, err := t.Status(ctx); err == nil && st.Status != containerd.Stopped {
			return nil
		}
		if err := deleteTask(ctx, t); err != nil {
			return fmt.Errorf("create task %s: %w", id, err)
		}
	}
	spec, err := c.Spec(ctx)
	if err != nil {
		return fmt.Errorf("create task %s: %w", id, conv(err))
	}
	if err := r.prepareTask(ctx, c, spec); err != nil {
		return fmt.Errorf("create task %s: %w", id, err)
	}
	ioc, err := r.taskIO(id, spec)
	if err != nil {
		return fmt.Errorf("create task %s: %w", id, err)
	}
	if _, err := r.newTask(ctx, c, ioc); err != nil {
		return fmt.Errorf("create task %s: %w", id, err)
	}
	return nil
}

// createAndStart makes and starts a task; on failure it leaves no task.
func (r *Runtime) createAndStart(ctx context.Context, c containerd.Container, ioc cio.Creator) error {
	if old, err := c.Task(ctx, nil); err == nil {
		// Left by an earlier failed attempt.
		_, _ = old.Delete(ctx, containerd.WithProcessKill)
	}
	t, err := r.newTask(ctx, c, ioc)
	if err != nil {
		return err
	}
	if err := t.Start(ctx); err != nil {
		_, _ = t.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill)
		return err
	}
	return nil
}

// StopTimeout is the grace period for a container: the override when set,
// else its stop_grace_period label, else Docker's 10 s.
func StopTimeout(lbls map[string]string, override *time.Duration) time.Duration {
	if override != nil {
		return *override
	}
	if v, ok := lbls[labels.StopTimeout]; ok {
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			return time.Duration(f * float64(time.Second))
		}
	}
	return 10 * time.Second
}

// Stop sends the stop signal, waits up to the grace period, then kills, and
// removes the task while recording its exit code on the container.
func (r *Runtime) Stop(ctx context.Context, id string, timeout *time.Duration) error {
	l, err := r.lockContainer(ctx, id)
	if err != nil {
		return err
	}
	defer l.Unlock()
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return fmt.Errorf("stop %s: %w", id, conv(err))
	}
	// Mark first: even with no task right now, a pending restart must
	// leave the container stopped.
	if err := markUserStopped(ctx, c); err != nil {
		return fmt.Errorf("stop %s: %w", id, err)
	}
	t, err := c.Task(ctx, nil)
	if err != nil {
		if errdefs.IsNotFound(conv(err)) {
			return nil
		}
		return fmt.Errorf("stop %s: %w", id, conv(err))
	}
	lbls, err := c.Labels(ctx)
	if err != nil {
		return fmt.Errorf("stop %s: %w", id, conv(err))
	}
	st, err := t.Status(ctx)
	if err != nil {
		return fmt.Errorf("stop %s: %w", id, conv(err))
	}
	if st.Status == containerd.Running || st.Status == containerd.Paused {
		sig, err := StopSignal(lbls[labels.StopSignal])
		if err != nil {
			return fmt.Errorf("stop %s: %w", id, err)
		}
		exitCh, err := t.Wait(ctx)
		if err != nil {
			return fmt.Errorf("stop %s: %w", id, conv(err))
		}
		grace := StopTimeout(lbls, timeout)
		if err := t.Kill(ctx, sig); err != nil && !errdefs.IsNotFound(conv(err)) {
			return fmt.Errorf("stop %s: %w", id, conv(err))
		}
		if st.Status == containerd.Paused {
			_ = t.Resume(ctx)
		}
		select {
		case <-exitCh:
		case <-time.After(grace):
			if err := t.Kill(ctx, syscall.SIGKILL, containerd.WithKillAll); err != nil && !errdefs.IsNotFound(conv(err)) {
				return fmt.Errorf("stop %s: kill: %w", id, conv(err))
			}
			select {
			case <-exitCh:
			case <-ctx.Done():
				return ctx.Err()
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return r.reap(ctx, c, t)
}

// deleteTask deletes a task, retrying while its shim is still going away.
func deleteTask(ctx context.Context, t containerd.Task) error {
	return retry.Do(ctx, 5, 100*time.Millisecond, func() error {
		_, err := t.Delete(ctx, containerd.WithProcessKill)
		if err == nil || errdefs.IsNotFound(conv(err)) {
			return nil
		}
		return conv(err)
	})
}

// reap deletes a stopped task and keeps its exit code on the container.
func (r *Runtime) reap(ctx context.Context, c containerd.Container, t containerd.Task) error {
	es, err := t.Delete(ctx)
	if err != nil && !errdefs.IsNotFound(conv(err)) {
		return fmt.Errorf("remove task %s: %w", c.ID(), conv(err))
	}
	code, at := 0, time.Now().UTC()
	if es != nil {
		code = int(es.ExitCode())
		if !es.ExitTime().IsZero() {
			at = es.ExitTime().UTC()
		}
	}
	_, err = c.SetLabels(ctx, map[string]string{
		labels.ExitCode:   strconv.Itoa(code),
		labels.FinishedAt: at.Format(time.RFC3339Nano),
	})
	return conv(err)
}

// markUserStopped tells the restart policy that the user stopped it.
func markUserStopped(ctx context.Context, c containerd.Container) error {
	_, err := c.SetLabels(ctx, map[string]string{labels.UserStopped: "True"})
	return conv(err)
}

// Kill sends a signal to the container's main process. Like stop, it keeps
// a restart policy from bringing the container back.
func (r *Runtime) Kill(ctx context.Context, id string, sig syscall.Signal) error {
	l, err := r.lockContainer(ctx, id)
	if err != nil {
		return err
	}
	defer l.Unlock()
	t, err := r.task(ctx, id)
	if err != nil {
		return fmt.Errorf("kill %s: %w", id, err)
	}
	if c, err := r.client.LoadContainer(ctx, id); err == nil {
		if err := markUserStopped(ctx, c); err != nil {
			return fmt.Errorf("kill %s: %w", id, err)
		}
	}
	if err := t.Kill(ctx, sig); err != nil {
		return fmt.Errorf("kill %s: %w", id, conv(err))
	}
	return nil
}

// Pause freezes the container.
func (r *Runtime) Pause(ctx context.Context, id string) error {
	t, err := r.task(ctx, id)
	if err != nil {
		return fmt.Errorf("pause %s: %w", id, err)
	}
	return conv(t.Pause(ctx))
}

// Unpause thaws the container.
func (r *Runtime) Unpause(ctx context.Context, id string) error {
	t, err := r.task(ctx, id)
	if err != nil {
		return fmt.Errorf("unpause %s: %w", id, err)
	}
	return conv(t.Resume(ctx))
}

// Pids lists the container's processes (host PIDs).
func (r *Runtime) Pids(ctx context.Context, id string) ([]uint32, error) {
	t, err := r.task(ctx, id)
	if err != nil {
		return nil, err
	}
	ps, err := t.Pids(ctx)
	if err != nil {
		return nil, conv(err)
	}
	pids := make([]uint32, 0, len(ps))
	for _, p := range ps {
		pids = append(pids, p.Pid)
	}
	slices.Sort(pids)
	return pids, nil
}

func (r *Runtime) task(ctx context.Context, id string) (containerd.Task, error) {
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return nil, conv(err)
	}
	t, err := c.Task(ctx, nil)
	if err != nil {
		err = conv(err)
		if errdefs.IsNotFound(err) {
			return nil, fmt.Errorf("container %s is not running: %w", id, errdefs.ErrFailedPrecondition)
		}
		return nil, err
	}
	return t, nil
}

// Remove deletes the container, its task, snapshot, /etc files and logs. A
// running container is an error unless force is set, in which case it is killed.
func (r *Runtime) Remove(ctx context.Context, id string, force bool) error {
	l, err := r.lockContainer(ctx, id)
	if err != nil {
		return err
	}
	defer func() {
		l.Unlock()
		_ = os.Remove(filepath.Join(paths.Locks(), "containers", r.namespace, id+".lock"))
	}()
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		err = conv(err)
		if errdefs.IsNotFound(err) {
			r.removeImageVolumes(ctx, id)
			removeSubpaths(r.namespace, id)
			r.removeFiles(id)
			return r.clearOrphanShim(ctx, nil, id)
		}
		return fmt.Errorf("remove %s: %w", id, err)
	}
	if t, err := c.Task(ctx, nil); err == nil {
		st, err := t.Status(ctx)
		if err == nil && st.Status != containerd.Stopped && !force {
			return fmt.Errorf("remove %s: container is %s: stop it first or force: %w", id, st.Status, errdefs.ErrFailedPrecondition)
		}
		if _, err := t.Delete(ctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(conv(err)) {
			return fmt.Errorf("remove %s: %w", id, conv(err))
		}
	}
	if err := c.Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(conv(err)) {
		return fmt.Errorf("remove %s: %w", id, conv(err))
	}
	r.removeImageVolumes(ctx, id)
	removeSubpaths(r.namespace, id)
	r.removeFiles(id)
	return r.clearOrphanShim(ctx, nil, id)
}

func (r *Runtime) removeFiles(id string) {
	unmountShm(r.namespace, id)
	os.RemoveAll(etcDir(r.namespace, id))
	os.RemoveAll(logDir(r.namespace, id))
	os.RemoveAll(StdioDir(r.namespace, id))
}

// List returns the containers whose labels match every key=value in match.
func (r *Runtime) List(ctx context.Context, match map[string]string) ([]Container, error) {
	var filters []string
	keys := make([]string, 0, len(match))
	for k := range match {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		filters = append(filters, fmt.Sprintf("labels.%q==%q", k, match[k]))
	}
	filter := strings.Join(filters, ",")
	var cs []containerd.Container
	var err error
	if filter == "" {
		cs, err = r.client.Containers(ctx)
	} else {
		cs, err = r.client.Containers(ctx, filter)
	}
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", conv(err))
	}
	out := make([]Container, len(cs))
	errs := make([]error, len(cs))
	var g errgroup.Group
	g.SetLimit(8)
	for i, c := range cs {
		g.Go(func() error { out[i], errs[i] = r.inspect(ctx, c, false); return nil })
	}
	_ = g.Wait() // the errors are in errs, by container
	var res []Container
	for i := range cs {
		if errs[i] != nil {
			if errdefs.IsNotFound(errs[i]) {
				continue // removed while we looked
			}
			return nil, errs[i]
		}
		res = append(res, out[i])
	}
	slices.SortFunc(res, func(a, b Container) int { return strings.Compare(a.ID, b.ID) })
	return res, nil
}

// SetLabels sets the container's labels from set; an empty value removes
// the label.
func (r *Runtime) SetLabels(ctx context.Context, id string, set map[string]string) error {
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return conv(err)
	}
	if _, err := c.SetLabels(ctx, set); err != nil {
		return fmt.Errorf("container %s: set labels: %w", id, conv(err))
	}
	return nil
}

// Inspect reads one container.
func (r *Runtime) Inspect(ctx context.Context, id string) (Container, error) {
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return Container{}, conv(err)
	}
	return r.inspect(ctx, c, true)
}

// inspect reads a container; with snapshot, one without a task is also
// checked for its snapshot (Broken) — Inspect does, List (polled while
// waiting for conditions) does not.
func (r *Runtime) inspect(ctx context.Context, c containerd.Container, snapshot bool) (Container, error) {
	info, err := c.Info(ctx, containerd.WithoutRefreshedMetadata)
	if err != nil {
		return Container{}, conv(err)
	}
	out := Container{ID: c.ID(), Labels: info.Labels, Image: info.Image, Created: info.CreatedAt, State: StateCreated}
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	if v, ok := out.Labels[labels.StartedAt]; ok {
		out.StartedAt, _ = time.Parse(time.RFC3339Nano, v)
	}
	if v, ok := out.Labels[labels.FinishedAt]; ok {
		out.FinishedAt, _ = time.Parse(time.RFC3339Nano, v)
		out.State = StateExited
		out.ExitCode, _ = strconv.Atoi(out.Labels[labels.ExitCode])
	}
	if info.Spec != nil {
		var s oci.Spec
		if err := json.Unmarshal(info.Spec.GetValue(), &s); err == nil && s.Process != nil {
			out.Args = s.Process.Args
			for _, m := range s.Mounts {
				if m.Type == "bind" || slices.Contains(m.Options, "rbind") || slices.Contains(m.Options, "bind") {
					out.Mounts = append(out.Mounts, m)
				}
			}
		}
	}
	t, err := c.Task(ctx, nil)
	if err != nil {
		if errdefs.IsNotFound(conv(err)) {
			if snapshot && info.SnapshotKey != "" {
				_, serr := r.client.SnapshotService(cmp.Or(info.Snapshotter, snapshotter)).Stat(ctx, info.SnapshotKey)
				out.Broken = errdefs.IsNotFound(conv(serr))
			}
			return out, nil
		}
		return Container{}, conv(err)
	}
	st, err := t.Status(ctx)
	if err != nil {
		if errdefs.IsNotFound(conv(err)) {
			return out, nil
		}
		return Container{}, conv(err)
	}
	out.Pid = t.Pid()
	switch st.Status {
	case containerd.Running:
		out.State = StateRunning
	case containerd.Paused, containerd.Pausing:
		out.State = StatePaused
	case containerd.Stopped:
		out.State = StateExited
		out.ExitCode = int(st.ExitStatus)
		out.FinishedAt = st.ExitTime
	case containerd.Created:
		out.State = StateCreated
	}
	return out, nil
}

// Wait blocks until the container's task exits and returns its exit code.
func (r *Runtime) Wait(ctx context.Context, id string) (int, error) {
	t, err := r.task(ctx, id)
	if err != nil {
		if errors.Is(err, errdefs.ErrFailedPrecondition) {
			ct, err := r.Inspect(ctx, id)
			return ct.ExitCode, err
		}
		return 0, err
	}
	ch, err := t.Wait(ctx)
	if err != nil {
		return 0, conv(err)
	}
	select {
	case es := <-ch:
		return int(es.ExitCode()), nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// Mount is a bind mount of a container, for volumes_from.
type Mount struct {
	Source, Target string
	ReadOnly       bool
}

// Mounts lists the container's bind mounts of host paths, without the
// /etc files gocompose writes for networking and without the secrets and
// configs under stateDir: what Docker's volumes_from shares.
func (r *Runtime) Mounts(ctx context.Context, id, stateDir string) ([]Mount, error) {
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", id, conv(err))
	}
	spec, err := c.Spec(ctx)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", id, conv(err))
	}
	var out []Mount
	for _, m := range spec.Mounts {
		if m.Type != "bind" && !slices.Contains(m.Options, "bind") && !slices.Contains(m.Options, "rbind") {
			continue
		}
		switch m.Destination {
		case "/etc/hosts", "/etc/hostname", "/etc/resolv.conf":
			continue
		}
		if stateDir != "" && strings.HasPrefix(m.Source, stateDir+"/") {
			continue
		}
		out = append(out, Mount{Source: m.Source, Target: m.Destination, ReadOnly: slices.Contains(m.Options, "ro")})
	}
	return out, nil
}

// LabelEverywhere returns the value of label key on every container, in
// every namespace, that carries it, keyed "namespace/id". Host resources
// shared by namespaces (volume directories) are in use if any holds them.
func (r *Runtime) LabelEverywhere(ctx context.Context, key string) (map[string]string, error) {
	nss, err := r.client.NamespaceService().List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list namespaces: %w", conv(err))
	}
	out := map[string]string{}
	for _, ns := range nss {
		cs, err := r.client.ContainerService().List(namespaces.WithNamespace(ctx, ns), fmt.Sprintf("labels.%q", key))
		if err != nil {
			return nil, fmt.Errorf("list containers in %s: %w", ns, conv(err))
		}
		for _, c := range cs {
			out[ns+"/"+c.ID] = c.Labels[key]
		}
	}
	return out, nil
}

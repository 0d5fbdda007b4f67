package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	"github.com/gocompose/gocompose/model"
	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Annotations of a container's OCI spec for namespaces shared between
// containers (ipc and pid: service:X or container:X, ipc: shareable).
const (
	ipcFromAnnotation = "com.gocompose.ipc-from" // the container whose IPC namespace to join
	pidFromAnnotation = "com.gocompose.pid-from" // the container whose PID namespace to join
	// shareableAnnotation holds the size in bytes of the /dev/shm that a
	// shareable container keeps on the host, for joiners to bind.
	shareableAnnotation = "com.gocompose.ipc-shareable"
)

// defaultShmSize is Docker's /dev/shm size.
const defaultShmSize = 64 << 20

// shmDir is where a shareable container's /dev/shm lives on the host, as
// Docker keeps it: a tmpfs joiners bind into theirs.
func shmDir(ns, id string) string { return filepath.Join(etcDir(ns, id), "shm") }

// withSharedNamespaces marks the spec: joiners name their donors (resolved
// when each task is made: the donor's process changes on every start), and
// a shareable container's /dev/shm becomes a bind of its host tmpfs.
func withSharedNamespaces(req model.Container, ns string) oci.SpecOpts {
	svc := req.Service
	if req.IpcFrom == "" && req.PidFrom == "" && svc.Ipc != "shareable" {
		return none
	}
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		if req.IpcFrom != "" {
			s.Annotations[ipcFromAnnotation] = req.IpcFrom
		}
		if req.PidFrom != "" {
			s.Annotations[pidFromAnnotation] = req.PidFrom
		}
		if svc.Ipc == "shareable" {
			size := int64(svc.ShmSize)
			if size == 0 {
				size = defaultShmSize
			}
			s.Annotations[shareableAnnotation] = strconv.FormatInt(size, 10)
			bindShm(s, shmDir(ns, req.ID))
		}
		return nil
	}
}

// bindShm makes the spec's /dev/shm a bind of dir.
func bindShm(s *oci.Spec, dir string) {
	s.Mounts = slices.DeleteFunc(s.Mounts, func(m specs.Mount) bool { return filepath.Clean(m.Destination) == "/dev/shm" })
	s.Mounts = append(s.Mounts, specs.Mount{Destination: "/dev/shm", Type: "bind", Source: dir,
		Options: []string{"rbind", "nosuid", "nodev", "noexec", "rw"}})
}

// setNamespace makes the spec join the namespace at path.
func setNamespace(s *oci.Spec, t specs.LinuxNamespaceType, path string) {
	if s.Linux == nil {
		s.Linux = &specs.Linux{}
	}
	for i, n := range s.Linux.Namespaces {
		if n.Type == t {
			s.Linux.Namespaces[i].Path = path
			return
		}
	}
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: t, Path: path})
}

// prepareTask readies what a task of c needs before it is made: its image
// volumes and volume subpaths mounted on the host (again after a reboot), a
// shareable container's /dev/shm tmpfs (again after a reboot), and for a
// joiner the namespaces of its donors' current processes.
func (r *Runtime) prepareTask(ctx context.Context, c containerd.Container, spec *oci.Spec) error {
	if err := r.mountImageVolumes(ctx, spec); err != nil {
		return fmt.Errorf("container %s: %w", c.ID(), err)
	}
	if err := mountSubpaths(spec); err != nil {
		return fmt.Errorf("container %s: %w", c.ID(), err)
	}
	a := spec.Annotations
	if v := a[shareableAnnotation]; v != "" {
		if err := ensureShm(shmDir(r.namespace, c.ID()), v); err != nil {
			return fmt.Errorf("container %s: /dev/shm: %w", c.ID(), err)
		}
	}
	changed := false
	if donor := a[ipcFromAnnotation]; donor != "" {
		pid, dspec, err := r.donorTask(ctx, donor, "IPC")
		if err != nil {
			return err
		}
		if dspec.Annotations[shareableAnnotation] == "" {
			return fmt.Errorf("container %s: non-shareable IPC (hint: use ipc: shareable for the donor container %s)", c.ID(), donor)
		}
		setNamespace(spec, specs.IPCNamespace, fmt.Sprintf("/proc/%d/ns/ipc", pid))
		bindShm(spec, shmDir(r.namespace, donor))
		changed = true
	}
	if donor := a[pidFromAnnotation]; donor != "" {
		pid, _, err := r.donorTask(ctx, donor, "PID")
		if err != nil {
			return err
		}
		setNamespace(spec, specs.PIDNamespace, fmt.Sprintf("/proc/%d/ns/pid", pid))
		changed = true
	}
	if !changed {
		return nil
	}
	if err := c.Update(ctx, containerd.UpdateContainerOpts(containerd.WithSpec(spec))); err != nil {
		return fmt.Errorf("container %s: join its donors' namespaces: %w", c.ID(), conv(err))
	}
	return nil
}

// donorTask is the running process of the container whose namespace kind
// (IPC, PID) another joins, and its spec.
func (r *Runtime) donorTask(ctx context.Context, id, kind string) (uint32, *oci.Spec, error) {
	notRunning := fmt.Errorf("cannot join %s of a non running container: %s", kind, id)
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		if errdefs.IsNotFound(conv(err)) {
			return 0, nil, fmt.Errorf("%w: %w", notRunning, errdefs.ErrNotFound)
		}
		return 0, nil, conv(err)
	}
	t, err := c.Task(ctx, nil)
	if err != nil {
		return 0, nil, notRunning
	}
	if st, err := t.Status(ctx); err != nil || st.Status != containerd.Running && st.Status != containerd.Paused {
		return 0, nil, notRunning
	}
	spec, err := c.Spec(ctx)
	if err != nil {
		return 0, nil, conv(err)
	}
	return t.Pid(), spec, nil
}

// ensureShm mounts the tmpfs of a shareable /dev/shm at dir unless it is.
func ensureShm(dir, size string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if mounted, err := mountinfo.Mounted(dir); err != nil || mounted {
		return err
	}
	return syscall.Mount("shm", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, "mode=1777,size="+size)
}

// unmountShm takes a shareable container's /dev/shm tmpfs away (joiners
// still running keep theirs until they end).
func unmountShm(ns, id string) {
	dir := shmDir(ns, id)
	if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(os.Stderr, "unmount %s: %v\n", dir, err)
	}
}

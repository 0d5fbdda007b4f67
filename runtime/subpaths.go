package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/containerd/containerd/v2/pkg/oci"
	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"github.com/gocompose/gocompose/model"
	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// subpathsAnnotation lists, as JSON, a container's volume subpath mounts:
// the volume's directory, the subpath in it and the host mount point the
// container's bind reads, mounted before each task starts.
const subpathsAnnotation = "com.gocompose.volume-subpaths"

// volumeSubpath is one volume mounted at a subpath (volume.subpath).
type volumeSubpath struct {
	Volume  string `json:"volume"`  // the volume's directory
	Subpath string `json:"subpath"` // relative, inside it
	Dir     string `json:"dir"`     // the mount point, under the container's directory
}

func subpathsDir(ns, id string) string { return filepath.Join(etcDir(ns, id), "subpaths") }

// planSubpaths turns each volume mount with a subpath into a bind of a
// mount point of the container's, on which the subpath is mounted when a
// task starts: as Docker's daemon resolves it at start, the subpath may be
// made by a service that runs before this one.
func (r *Runtime) planSubpaths(req *model.Container) []volumeSubpath {
	var out []volumeSubpath
	for i, m := range req.Mounts {
		if m.Type != model.Bind || m.Subpath == "" {
			continue
		}
		v := volumeSubpath{Volume: m.Source, Subpath: m.Subpath, Dir: filepath.Join(subpathsDir(r.namespace, req.ID), fmt.Sprint(len(out)))}
		out = append(out, v)
		// The mount point is made now, a directory (a subpath that
		// turns out to be a file makes it a file at start).
		req.Mounts[i].Source, req.Mounts[i].CreateHostPath = v.Dir, true
	}
	return out
}

// withSubpaths records the container's subpath mounts in its spec.
func withSubpaths(vs []volumeSubpath) oci.SpecOpts {
	if len(vs) == 0 {
		return none
	}
	b, _ := json.Marshal(vs)
	return oci.WithAnnotations(map[string]string{subpathsAnnotation: string(b)})
}

// mountSubpaths mounts each subpath of the container's volumes on its
// mount point, unless it is mounted (a task started before in this boot).
// The subpath is opened inside the volume (openat2's RESOLVE_IN_ROOT: a
// symlink in the volume never leads out of it) and that very file is
// mounted, so nothing can swap it in between.
func mountSubpaths(spec *oci.Spec) error {
	vs, err := annotated[volumeSubpath](spec, subpathsAnnotation)
	if err != nil {
		return fmt.Errorf("volume subpaths: %w", err)
	}
	for _, v := range vs {
		if ok, err := mountinfo.Mounted(v.Dir); err != nil || ok {
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			if ok {
				continue
			}
		}
		f, err := pathrs.OpenInRoot(v.Volume, v.Subpath)
		if err != nil {
			return fmt.Errorf("volume subpath %s: %w", v.Subpath, err)
		}
		err = mountAt(f, v.Dir)
		f.Close()
		if err != nil {
			return fmt.Errorf("volume subpath %s: %w", v.Subpath, err)
		}
	}
	return nil
}

// mountAt bind-mounts the open file (a directory, or a file) on dir, made
// as a directory or an empty file to match.
func mountAt(f *os.File, dir string) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return err
	}
	if st.IsDir() {
		err = os.Mkdir(dir, 0o700)
	} else {
		if pst, perr := os.Lstat(dir); perr == nil && pst.IsDir() {
			_ = os.Remove(dir) // the directory made at create, empty
		}
		var pt *os.File
		if pt, err = os.OpenFile(dir, os.O_CREATE|os.O_EXCL, 0o600); err == nil {
			pt.Close()
		}
	}
	if err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return unix.Mount(fmt.Sprintf("/proc/self/fd/%d", f.Fd()), dir, "", unix.MS_BIND|unix.MS_REC, "")
}

// removeSubpaths unmounts a removed container's subpath mount points.
func removeSubpaths(ns, id string) { unmountEntries(subpathsDir(ns, id)) }

// annotated decodes the JSON list a spec annotation holds (none when the
// annotation is absent).
func annotated[T any](spec *oci.Spec, key string) ([]T, error) {
	v := spec.Annotations[key]
	if v == "" {
		return nil, nil
	}
	var out []T
	if err := json.Unmarshal([]byte(v), &out); err != nil {
		return nil, err
	}
	return out, nil
}

// unmountEntries detaches what is mounted on each entry of dir (a
// container's mount points); entries with nothing mounted are no error.
func unmountEntries(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			fmt.Fprintf(os.Stderr, "unmount %s: %v\n", p, err)
		}
	}
}

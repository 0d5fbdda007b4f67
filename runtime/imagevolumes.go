package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	"github.com/gocompose/gocompose/model"
	"github.com/moby/sys/mountinfo"
	"github.com/opencontainers/image-spec/identity"
)

// imageVolumesAnnotation lists, as JSON, a container's volumes of type
// image: the read-only snapshot of each image and the host directory it is
// mounted on before each task starts.
const imageVolumesAnnotation = "com.gocompose.image-volumes"

// imageVolume is one volume of type image.
type imageVolume struct {
	Key string `json:"key"` // the snapshot (a view of the image)
	Dir string `json:"dir"` // where it is mounted on the host
}

func imageVolumesDir(ns, id string) string { return filepath.Join(etcDir(ns, id), "image-volumes") }

// makeImageVolumes makes a read-only snapshot of each image a volume of
// type image mounts (a GC root until the container goes), and turns each
// such mount into a bind of its host directory (and subpath) for the spec.
func (r *Runtime) makeImageVolumes(ctx context.Context, req *model.Container) ([]imageVolume, error) {
	var out []imageVolume
	sn := r.client.SnapshotService(snapshotter)
	for i, m := range req.Mounts {
		if m.Type != model.ImageMount {
			continue
		}
		img, err := r.Image(ctx, m.Source)
		if err != nil {
			return out, fmt.Errorf("volume of type image at %s: %w", m.Target, err)
		}
		diffIDs, err := img.RootFS(ctx)
		if err != nil {
			return out, fmt.Errorf("volume of type image at %s: %w", m.Target, conv(err))
		}
		v := imageVolume{Key: fmt.Sprintf("%s-image-volume-%d", req.ID, len(out)),
			Dir: filepath.Join(imageVolumesDir(r.namespace, req.ID), fmt.Sprint(len(out)))}
		// One left by a killed create of the same container goes first.
		if err := sn.Remove(ctx, v.Key); err != nil && !errdefs.IsNotFound(conv(err)) {
			return out, fmt.Errorf("volume of type image at %s: %w", m.Target, conv(err))
		}
		if _, err := sn.View(ctx, v.Key, identity.ChainID(diffIDs).String(),
			snapshots.WithLabels(map[string]string{"containerd.io/gc.root": time.Now().UTC().Format(time.RFC3339)})); err != nil {
			return out, fmt.Errorf("volume of type image at %s: %w", m.Target, conv(err))
		}
		out = append(out, v)
		req.Mounts[i].Source = filepath.Join(v.Dir, filepath.Clean("/"+m.Subpath))
	}
	return out, nil
}

// withImageVolumes records the container's image volumes in its spec.
func withImageVolumes(vs []imageVolume) oci.SpecOpts {
	if len(vs) == 0 {
		return none
	}
	b, _ := json.Marshal(vs)
	return oci.WithAnnotations(map[string]string{imageVolumesAnnotation: string(b)})
}

// mountImageVolumes mounts the container's image snapshots on their host
// directories unless they are (again after a reboot).
func (r *Runtime) mountImageVolumes(ctx context.Context, spec *oci.Spec) error {
	vs, err := annotated[imageVolume](spec, imageVolumesAnnotation)
	if err != nil {
		return fmt.Errorf("image volumes: %w", err)
	}
	sn := r.client.SnapshotService(snapshotter)
	for _, v := range vs {
		if err := os.MkdirAll(v.Dir, 0o700); err != nil {
			return err
		}
		if ok, err := mountinfo.Mounted(v.Dir); err != nil || ok {
			if err != nil {
				return err
			}
			continue
		}
		ms, err := sn.Mounts(ctx, v.Key)
		if err != nil {
			return fmt.Errorf("image volume %s: %w", v.Key, conv(err))
		}
		if err := mount.All(ms, v.Dir); err != nil {
			return fmt.Errorf("image volume %s: mount: %w", v.Key, err)
		}
	}
	return nil
}

// removeImageVolumes unmounts and deletes a removed container's image
// snapshots (numbered from 0, as makeImageVolumes names them).
func (r *Runtime) removeImageVolumes(ctx context.Context, id string) {
	unmountEntries(imageVolumesDir(r.namespace, id))
	sn := r.client.SnapshotService(snapshotter)
	for i := 0; ; i++ {
		if err := sn.Remove(ctx, fmt.Sprintf("%s-image-volume-%d", id, i)); err != nil {
			return // the first missing one ends them
		}
	}
}

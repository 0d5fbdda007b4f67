package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/rootfs"
	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// CommitOptions describe the image a commit makes.
type CommitOptions struct {
	Author, Message string
}

// Commit makes the image ref from the container: its image's layers plus
// one layer of what the container changed (the diff service compares the
// snapshot with its parent), and its image's config with the new layer's
// diff ID and a history entry. Everything is written under a lease and the
// image record comes last, so an interrupted commit leaves no image.
func (r *Runtime) Commit(ctx context.Context, id, ref string, o CommitOptions) (string, error) {
	name, err := NormalizeImage(ref)
	if err != nil {
		return "", err
	}
	ctx, done, err := r.client.WithLease(ctx)
	if err != nil {
		return "", conv(err)
	}
	defer done(context.WithoutCancel(ctx))
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return "", fmt.Errorf("container %s: %w", id, conv(err))
	}
	info, err := c.Info(ctx)
	if err != nil {
		return "", conv(err)
	}
	cs := r.client.ContentStore()
	base, err := r.client.ImageService().Get(ctx, info.Image)
	if err != nil {
		return "", fmt.Errorf("commit %s: image %s: %w", id, info.Image, conv(err))
	}
	manifest, err := images.Manifest(ctx, cs, base.Target, platforms.Default())
	if err != nil {
		return "", fmt.Errorf("commit %s: %w", id, conv(err))
	}
	raw, err := content.ReadBlob(ctx, cs, manifest.Config)
	if err != nil {
		return "", fmt.Errorf("commit %s: %w", id, conv(err))
	}
	// Keep every field of the base config, Docker's extras included.
	var config map[string]any
	if err := json.Unmarshal(raw, &config); err != nil {
		return "", fmt.Errorf("commit %s: image config: %w", id, err)
	}
	var typed ocispec.Image
	if err := json.Unmarshal(raw, &typed); err != nil {
		return "", fmt.Errorf("commit %s: image config: %w", id, err)
	}

	layer, err := rootfs.CreateDiff(ctx, info.SnapshotKey, r.client.SnapshotService(info.Snapshotter), r.client.DiffService())
	if err != nil {
		return "", fmt.Errorf("commit %s: diff: %w", id, conv(err))
	}
	linfo, err := cs.Info(ctx, layer.Digest)
	if err != nil {
		return "", fmt.Errorf("commit %s: %w", id, conv(err))
	}
	diffID, err := digest.Parse(linfo.Labels["containerd.io/uncompressed"])
	if err != nil {
		return "", fmt.Errorf("commit %s: the diff has no uncompressed digest: %w", id, err)
	}

	now := time.Now().UTC()
	typed.RootFS.DiffIDs = append(typed.RootFS.DiffIDs, diffID)
	typed.History = append(typed.History, ocispec.History{Created: &now, CreatedBy: "gocompose commit", Author: o.Author, Comment: o.Message})
	config["rootfs"] = typed.RootFS
	config["history"] = typed.History
	config["created"] = now
	if o.Author != "" {
		config["author"] = o.Author
	}
	configBytes, err := json.Marshal(config)
	if err != nil {
		return "", err
	}
	configDesc := ocispec.Descriptor{MediaType: manifest.Config.MediaType, Digest: digest.FromBytes(configBytes), Size: int64(len(configBytes))}
	if err := content.WriteBlob(ctx, cs, "commit-config-"+id, bytes.NewReader(configBytes), configDesc); err != nil {
		return "", fmt.Errorf("commit %s: %w", id, conv(err))
	}

	layer.MediaType = layerMediaType(manifest.MediaType, layer.MediaType)
	manifest.Config = configDesc
	manifest.Layers = append(manifest.Layers, layer)
	manifestBytes, err := json.Marshal(manifest)
	if err != nil {
		return "", err
	}
	labels := map[string]string{"containerd.io/gc.ref.content.config": configDesc.Digest.String()}
	for i, l := range manifest.Layers {
		labels[fmt.Sprintf("containerd.io/gc.ref.content.l.%d", i)] = l.Digest.String()
	}
	mediaType := manifest.MediaType
	if mediaType == "" {
		mediaType = ocispec.MediaTypeImageManifest
	}
	manifestDesc := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(manifestBytes), Size: int64(len(manifestBytes))}
	if err := content.WriteBlob(ctx, cs, "commit-manifest-"+id, bytes.NewReader(manifestBytes), manifestDesc, content.WithLabels(labels)); err != nil {
		return "", fmt.Errorf("commit %s: %w", id, conv(err))
	}

	img := images.Image{Name: name, Target: manifestDesc}
	is := r.client.ImageService()
	if _, err := is.Create(ctx, img); err != nil {
		if !errdefs.IsAlreadyExists(err) {
			return "", fmt.Errorf("commit %s: %w", id, conv(err))
		}
		if _, err := is.Update(ctx, img, "target"); err != nil {
			return "", fmt.Errorf("commit %s: %w", id, conv(err))
		}
	}
	if err := containerd.NewImage(r.client, img).Unpack(ctx, snapshotter); err != nil {
		return "", fmt.Errorf("commit %s: unpack: %w", id, conv(err))
	}
	return manifestDesc.Digest.String(), nil
}

// layerMediaType matches the new layer's media type to the manifest's
// family (Docker schema 2 or OCI).
func layerMediaType(manifestType, layerType string) string {
	if manifestType == images.MediaTypeDockerSchema2Manifest && layerType == ocispec.MediaTypeImageLayerGzip {
		return images.MediaTypeDockerSchema2LayerGzip
	}
	return layerType
}

package runtime

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/opencontainers/image-spec/identity"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/archive/compression"
	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	"github.com/gocompose/gocompose/model"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ErrImageNotFound is returned when a service's image is not in containerd.
var ErrImageNotFound = fmt.Errorf("image not found: %w", errdefs.ErrNotFound)

// NormalizeImage turns "busybox" into "docker.io/library/busybox:latest".
func NormalizeImage(ref string) (string, error) {
	named, err := reference.ParseDockerRef(ref)
	if err != nil {
		return "", fmt.Errorf("invalid image reference %q: %w", ref, err)
	}
	return named.String(), nil
}

// FamiliarImage turns "docker.io/library/busybox:latest" back into "busybox:latest".
func FamiliarImage(ref string) string {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ref
	}
	return reference.FamiliarString(named)
}

// Image returns the image ref, unpacked into the default snapshotter. A
// missing image is ErrImageNotFound (up pulls before it gets here).
func (r *Runtime) Image(ctx context.Context, ref string) (containerd.Image, error) {
	name, err := NormalizeImage(ref)
	if err != nil {
		return nil, err
	}
	img, err := r.client.GetImage(ctx, name)
	if err != nil {
		err = conv(err)
		if errdefs.IsNotFound(err) {
			return nil, fmt.Errorf("%s: %w (pull it, or bring it in with `gocompose image load -i FILE`)", ref, ErrImageNotFound)
		}
		return nil, fmt.Errorf("image %s: %w", ref, err)
	}
	unpacked, err := img.IsUnpacked(ctx, snapshotter)
	referenced := false
	if err == nil && unpacked {
		referenced, err = r.snapshotReferenced(ctx, img)
	}
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", ref, conv(err))
	}
	if referenced {
		return img, nil
	}
	ctx, done, err := r.client.WithLease(ctx) // the command's, when it has one
	if err != nil {
		return nil, fmt.Errorf("unpack %s: %w", ref, conv(err))
	}
	defer func() { _ = done(context.WithoutCancel(ctx)) }()
	if unpacked {
		// Only the old config may hold the snapshot, and containerd's
		// collector can take it (after a build, BuildKit's lease ending
		// sets one off) between Unpack finding it there and Unpack
		// labelling the new config: the lease holds it meanwhile.
		if err := r.leaseSnapshot(ctx, img); err != nil {
			return nil, fmt.Errorf("unpack %s: %w", ref, err)
		}
	}
	if err := img.Unpack(ctx, snapshotter); err != nil {
		return nil, fmt.Errorf("unpack %s: %w", ref, conv(err))
	}
	return img, nil
}

// leaseSnapshot adds the image's top snapshot (which holds its parents) to
// the context's lease.
func (r *Runtime) leaseSnapshot(ctx context.Context, img containerd.Image) error {
	id, ok := leases.FromContext(ctx)
	if !ok {
		return fmt.Errorf("no lease to hold the snapshot")
	}
	diffIDs, err := img.RootFS(ctx)
	if err != nil {
		return conv(err)
	}
	res := leases.Resource{ID: identity.ChainID(diffIDs).String(), Type: "snapshots/" + snapshotter}
	if err := r.client.LeasesService().AddResource(ctx, leases.Lease{ID: id}, res); err != nil {
		return fmt.Errorf("lease snapshot %s: %w", res.ID, conv(err))
	}
	return nil
}

// snapshotReferenced reports whether the image's config carries the label
// that keeps its unpacked snapshot from containerd's garbage collector. A
// build that changes only the config (a label, CMD) gives a new config over
// the same layers: the snapshot exists (IsUnpacked says yes) but only the
// old config, unreferenced once the name moves, kept it, and the collector
// takes it from under the next create ("parent snapshot … does not
// exist", seen in make demo). Unpacking again only adds the label.
func (r *Runtime) snapshotReferenced(ctx context.Context, img containerd.Image) (bool, error) {
	desc, err := img.Config(ctx)
	if err != nil {
		return false, err
	}
	info, err := r.client.ContentStore().Info(ctx, desc.Digest)
	if err != nil {
		return false, err
	}
	_, ok := info.Labels["containerd.io/gc.ref.snapshot."+snapshotter]
	return ok, nil
}

// LoadImages imports a docker-archive or OCI archive (optionally gzipped) and
// unpacks what it holds; it returns the image names. It uses the content and
// images services, not the transfer service that containerd 1.6 lacks.
func (r *Runtime) LoadImages(ctx context.Context, in io.Reader) ([]string, error) {
	dec, err := compression.DecompressStream(bufio.NewReader(in))
	if err != nil {
		return nil, fmt.Errorf("image load: %w", err)
	}
	defer dec.Close()
	imgs, err := r.client.Import(ctx, dec, containerd.WithSkipDigestRef(func(string) bool { return true }))
	if err != nil {
		return nil, fmt.Errorf("image load: %w", conv(err))
	}
	names := make([]string, 0, len(imgs))
	for _, i := range imgs {
		img := containerd.NewImage(r.client, i)
		if err := img.Unpack(ctx, snapshotter); err != nil {
			return nil, fmt.Errorf("image load: unpack %s: %w", i.Name, conv(err))
		}
		names = append(names, i.Name)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("image load: the archive names no image (it needs RepoTags or an io.containerd.image.name annotation)")
	}
	return names, nil
}

// snapshotter is the snapshotter images are unpacked to and containers use.
const snapshotter = "overlayfs"

// ImageID returns the digest of the image's manifest (or index), which
// changes when the image is rebuilt or re-tagged.
func (r *Runtime) ImageID(ctx context.Context, ref string) (string, error) {
	name, err := NormalizeImage(ref)
	if err != nil {
		return "", err
	}
	img, err := r.client.ImageService().Get(ctx, name)
	if err != nil {
		return "", fmt.Errorf("image %s: %w", ref, conv(err))
	}
	return img.Target.Digest.String(), nil
}

// ResolveImage resolves ref once for a command: its digest, its config
// and its HEALTHCHECK (read from the raw config blob, as OCI image configs
// drop the field), unpacked into the snapshotter containers use. A missing
// image is ErrImageNotFound.
func (r *Runtime) ResolveImage(ctx context.Context, ref string) (model.Image, error) {
	img, err := r.Image(ctx, ref)
	if err != nil {
		return model.Image{}, err
	}
	desc, err := img.Config(ctx)
	if err != nil {
		return model.Image{}, fmt.Errorf("image %s config: %w", ref, conv(err))
	}
	b, err := content.ReadBlob(ctx, r.client.ContentStore(), desc)
	if err != nil {
		return model.Image{}, fmt.Errorf("image %s config: %w", ref, conv(err))
	}
	var cfg struct {
		Config struct {
			ocispec.ImageConfig
			Healthcheck *model.Healthcheck `json:"Healthcheck"`
		} `json:"config"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return model.Image{}, fmt.Errorf("image %s config: %w", ref, err)
	}
	return model.Image{Ref: img.Name(), Digest: img.Target().Digest.String(),
		Config: cfg.Config.ImageConfig, Healthcheck: cfg.Config.Healthcheck}, nil
}

// ImageInfo is one image in the namespace.
type ImageInfo struct {
	Name    string
	Digest  string
	Size    int64
	Created time.Time // when the store got it
	// Platform ("linux/amd64") and Built (the config's created time) are
	// read from the image's config; empty when it has none for this host.
	Platform string
	Built    *time.Time
}

// ListImages lists the namespace's images, sorted by name.
func (r *Runtime) ListImages(ctx context.Context) ([]ImageInfo, error) {
	imgs, err := r.client.ImageService().List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list images: %w", conv(err))
	}
	out := make([]ImageInfo, 0, len(imgs))
	for _, i := range imgs {
		img := containerd.NewImage(r.client, i)
		// An image whose blobs are not all here (another command pulling
		// it) lists with size 0 rather than failing the whole listing.
		size, _ := img.Size(ctx)
		info := ImageInfo{Name: i.Name, Digest: i.Target.Digest.String(), Size: size, Created: i.CreatedAt}
		if spec, err := img.Spec(ctx); err == nil { // none for another platform only
			info.Platform = platforms.Format(spec.Platform)
			info.Built = spec.Created
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b ImageInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

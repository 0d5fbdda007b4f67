package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Moving images as content-addressed blobs (bundles): what an image of
// this host's platform is made of, reading and writing blobs, and making
// image records from blobs already in the store.

// ImageBlobs resolves ref to the manifest of this host's platform and lists
// the blobs it needs: the manifest, its config and its layers.
func (r *Runtime) ImageBlobs(ctx context.Context, ref string) (target ocispec.Descriptor, blobs []ocispec.Descriptor, err error) {
	name, err := NormalizeImage(ref)
	if err != nil {
		return target, nil, err
	}
	img, err := r.client.ImageService().Get(ctx, name)
	if err != nil {
		return target, nil, fmt.Errorf("image %s: %w", ref, conv(err))
	}
	cs := r.client.ContentStore()
	m, err := images.Manifest(ctx, cs, img.Target, platforms.Default())
	if err != nil {
		return target, nil, fmt.Errorf("image %s: %w", ref, conv(err))
	}
	target = img.Target
	if images.IsIndexType(img.Target.MediaType) {
		// The platform's manifest stands for the image on the target.
		children, err := images.Children(ctx, cs, img.Target)
		if err != nil {
			return target, nil, fmt.Errorf("image %s: %w", ref, conv(err))
		}
		matcher := platforms.Default()
		found := false
		for _, c := range children {
			if c.Platform != nil && matcher.Match(*c.Platform) && c.Digest == manifestDigest(ctx, cs, c, m) {
				target, found = c, true
				break
			}
		}
		if !found {
			return target, nil, fmt.Errorf("image %s: no manifest for %s: %w", ref, platforms.Format(platforms.DefaultSpec()), errdefs.ErrNotFound)
		}
	}
	blobs = append(blobs, target, m.Config)
	blobs = append(blobs, m.Layers...)
	for _, b := range blobs {
		if _, err := cs.Info(ctx, b.Digest); err != nil {
			return target, nil, fmt.Errorf("image %s: blob %s: %w", ref, b.Digest, conv(err))
		}
	}
	return target, blobs, nil
}

// manifestDigest is c's digest when its manifest is m (a platform's
// manifest among an index's children), else "".
func manifestDigest(ctx context.Context, cs content.Store, c ocispec.Descriptor, m ocispec.Manifest) digest.Digest {
	b, err := content.ReadBlob(ctx, cs, c)
	if err != nil {
		return ""
	}
	var got ocispec.Manifest
	if json.Unmarshal(b, &got) != nil || got.Config.Digest != m.Config.Digest {
		return ""
	}
	return c.Digest
}

// WriteBlobTo copies a blob of the content store to w.
func (r *Runtime) WriteBlobTo(ctx context.Context, desc ocispec.Descriptor, w io.Writer) error {
	ra, err := r.client.ContentStore().ReaderAt(ctx, desc)
	if err != nil {
		return fmt.Errorf("blob %s: %w", desc.Digest, conv(err))
	}
	defer ra.Close()
	_, err = io.Copy(w, content.NewReader(ra))
	return err
}

// Blobs lists the digests the content store holds.
func (r *Runtime) Blobs(ctx context.Context) ([]digest.Digest, error) {
	var out []digest.Digest
	err := r.client.ContentStore().Walk(ctx, func(i content.Info) error {
		out = append(out, i.Digest)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list blobs: %w", conv(err))
	}
	return out, nil
}

// HasBlob says whether the content store holds the blob.
func (r *Runtime) HasBlob(ctx context.Context, d digest.Digest) bool {
	_, err := r.client.ContentStore().Info(ctx, d)
	return err == nil
}

// ImportBlob writes a file into the content store under desc, which the
// store checks (size and digest); a blob already there is kept.
func (r *Runtime) ImportBlob(ctx context.Context, desc ocispec.Descriptor, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := content.WriteBlob(ctx, r.client.ContentStore(), "bundle-"+desc.Digest.String(), f, desc); err != nil && !errdefs.IsAlreadyExists(err) {
		return fmt.Errorf("blob %s: %w", desc.Digest, conv(err))
	}
	return nil
}

// SetImage names target (whose blobs are in the store) ref, replacing what
// the name pointed at, and unpacks it.
func (r *Runtime) SetImage(ctx context.Context, ref string, target ocispec.Descriptor) error {
	name, err := NormalizeImage(ref)
	if err != nil {
		return err
	}
	// The manifest names its config and layers for containerd's GC, as a
	// pull labels them: without it they would be collected once the
	// command's lease ends, the image record keeping only the manifest.
	cs := r.client.ContentStore()
	if err := images.Walk(ctx, images.SetChildrenLabels(cs, images.ChildrenHandler(cs)), target); err != nil {
		return fmt.Errorf("image %s: %w", ref, conv(err))
	}
	is := r.client.ImageService()
	img := images.Image{Name: name, Target: target}
	if _, err := is.Create(ctx, img); err != nil {
		if !errdefs.IsAlreadyExists(err) {
			return fmt.Errorf("image %s: %w", ref, conv(err))
		}
		if _, err := is.Update(ctx, img, "target"); err != nil {
			return fmt.Errorf("image %s: %w", ref, conv(err))
		}
	}
	if err := containerd.NewImage(r.client, img).Unpack(ctx, snapshotter); err != nil {
		return fmt.Errorf("unpack %s: %w", ref, conv(err))
	}
	return nil
}

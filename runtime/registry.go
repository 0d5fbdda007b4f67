package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/images/archive"
	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/containerd/v2/core/remotes/docker/config"
	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Registries says how to reach registries. Pull and push go through the
// content and images services, never the transfer service (containerd 1.6
// has none).
type Registries struct {
	// HostsDirs are searched in order for <host>/hosts.toml (mirrors,
	// plain-HTTP or insecure hosts, certificates), as containerd reads them.
	HostsDirs []string
	// Credentials returns the user and secret for a registry host.
	Credentials func(host string) (string, string, error)
}

// DefaultHostsDirs are containerd's and Docker's certificate directories.
func DefaultHostsDirs() []string {
	return []string{"/etc/containerd/certs.d", "/etc/docker/certs.d"}
}

// SetRegistries sets how this runtime reaches registries.
func (r *Runtime) SetRegistries(reg Registries) { r.registries = reg }

func (r *Runtime) resolver(ctx context.Context) remotes.Resolver {
	dirs := r.registries.HostsDirs
	hostDir := func(host string) (string, error) {
		for _, root := range dirs {
			d, err := config.HostDirFromRoot(root)(host)
			if err == nil {
				return d, nil
			}
			if !errdefs.IsNotFound(err) {
				return "", err
			}
		}
		return "", errdefs.ErrNotFound
	}
	return docker.NewResolver(docker.ResolverOptions{Hosts: config.ConfigureHosts(ctx, config.HostOptions{
		HostDir:     hostDir,
		Credentials: r.registries.Credentials,
	})})
}

// PullOptions are the choices of one pull.
type PullOptions struct {
	// Platform such as "linux/arm64"; empty means the host's.
	Platform string
	// Progress, when set, is told how each layer's pull goes, as Docker's
	// daemon reports it: "Pulling fs layer" or "Already exists" when the
	// layer is met, "Downloading" with its bytes, "Download complete",
	// and "Pull complete" once the image is unpacked.
	Progress func(LayerProgress)
}

// LayerProgress is one step of a layer's pull.
type LayerProgress struct {
	ID             string // the layer's digest, its first 12 hex digits
	Status         string
	Current, Total int64 // bytes
}

// layerWatch follows the layers of one pull: which it met, and their
// downloads, read from the content store's ingests every 100 ms.
type layerWatch struct {
	cs     content.Store
	report func(LayerProgress)
	mu     sync.Mutex
	layers map[digest.Digest]*layerState // guarded by mu
	order  []digest.Digest
}

type layerState struct {
	size          int64
	status        string
	current       int64
	alreadyExists bool
}

// met is the image handler's part: a layer the pull reaches.
func (w *layerWatch) met(ctx context.Context, desc ocispec.Descriptor) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.layers[desc.Digest]; ok {
		return
	}
	st := &layerState{size: desc.Size, status: "Pulling fs layer"}
	if _, err := w.cs.Info(ctx, desc.Digest); err == nil {
		st.status, st.alreadyExists, st.current = "Already exists", true, desc.Size
	}
	w.layers[desc.Digest] = st
	w.order = append(w.order, desc.Digest)
	w.send(desc.Digest, st)
}

func (w *layerWatch) send(d digest.Digest, st *layerState) {
	w.report(LayerProgress{ID: d.Encoded()[:12], Status: st.status, Current: st.current, Total: st.size})
}

// poll reports the downloads in flight and those that completed.
func (w *layerWatch) poll(ctx context.Context) {
	statuses, err := w.cs.ListStatuses(ctx)
	if err != nil {
		return
	}
	offsets := map[digest.Digest]int64{}
	for _, s := range statuses {
		if d, ok := strings.CutPrefix(s.Ref, "layer-"); ok {
			offsets[digest.Digest(d)] = s.Offset
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, d := range w.order {
		st := w.layers[d]
		if st.alreadyExists || st.status == "Download complete" {
			continue
		}
		if off, ok := offsets[d]; ok {
			if st.status != "Downloading" || off != st.current {
				st.status, st.current = "Downloading", off
				w.send(d, st)
			}
		} else if _, err := w.cs.Info(ctx, d); err == nil {
			st.status, st.current = "Download complete", st.size
			w.send(d, st)
		}
	}
}

// done reports every layer the pull fetched as complete.
func (w *layerWatch) done(ctx context.Context) {
	w.poll(ctx)
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, d := range w.order {
		if st := w.layers[d]; !st.alreadyExists {
			st.status, st.current = "Pull complete", st.size
			w.send(d, st)
		}
	}
}

// Pull fetches ref into the content store and unpacks it. containerd writes
// the image record only once every blob is in, under a lease, so a pull cut
// off half-way leaves no image behind, and the next pull resumes the
// partial downloads.
func (r *Runtime) Pull(ctx context.Context, ref string, o PullOptions) error {
	name, err := NormalizeImage(ref)
	if err != nil {
		return err
	}
	opts := []containerd.RemoteOpt{
		containerd.WithResolver(r.resolver(ctx)),
		containerd.WithPullUnpack,
		containerd.WithPullSnapshotter(snapshotter),
	}
	if o.Platform != "" {
		if _, err := platforms.Parse(o.Platform); err != nil {
			return fmt.Errorf("pull %s: platform %q: %w", ref, o.Platform, err)
		}
		opts = append(opts, containerd.WithPlatform(o.Platform))
	}
	var watch *layerWatch
	if o.Progress != nil {
		watch = &layerWatch{cs: r.client.ContentStore(), report: o.Progress, layers: map[digest.Digest]*layerState{}}
		opts = append(opts, containerd.WithImageHandler(images.HandlerFunc(
			func(ctx context.Context, desc ocispec.Descriptor) ([]ocispec.Descriptor, error) {
				if images.IsLayerType(desc.MediaType) {
					watch.met(ctx, desc)
				}
				return nil, nil
			})))
		stop := make(chan struct{})
		polled := make(chan struct{})
		go func() {
			defer close(polled)
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					watch.poll(ctx)
				}
			}
		}()
		defer func() { close(stop); <-polled }()
	}
	if _, err := r.client.Pull(ctx, name, opts...); err != nil {
		if errors.Is(err, errdefs.ErrNotFound) {
			if have := r.indexPlatforms(ctx, name); len(have) > 0 {
				want := o.Platform
				if want == "" {
					want = platforms.Format(platforms.DefaultSpec())
				}
				return fmt.Errorf("pull %s: no image for platform %s (it has %s): %w", ref, want, strings.Join(have, ", "), errdefs.ErrNotFound)
			}
		}
		return fmt.Errorf("pull %s: %w", ref, conv(err))
	}
	if watch != nil {
		watch.done(ctx)
	}
	return nil
}

// indexPlatforms lists the platforms of an image index in the registry
// (nil when the reference is not an index, or cannot be read).
func (r *Runtime) indexPlatforms(ctx context.Context, name string) []string {
	resolver := r.resolver(ctx)
	_, desc, err := resolver.Resolve(ctx, name)
	if err != nil || !images.IsIndexType(desc.MediaType) {
		return nil
	}
	f, err := resolver.Fetcher(ctx, name)
	if err != nil {
		return nil
	}
	rc, err := f.Fetch(ctx, desc)
	if err != nil {
		return nil
	}
	defer rc.Close()
	var idx ocispec.Index
	if err := json.NewDecoder(io.LimitReader(rc, 4<<20)).Decode(&idx); err != nil {
		return nil
	}
	var out []string
	for _, m := range idx.Manifests {
		if m.Platform != nil {
			out = append(out, platforms.Format(*m.Platform))
		}
	}
	return out
}

// CheckPlatform says whether images of platform p can run on this host.
func CheckPlatform(p string) error {
	if p == "" {
		return nil
	}
	want, err := platforms.Parse(p)
	if err != nil {
		return fmt.Errorf("platform %q: %w", p, err)
	}
	if !platforms.Default().Match(want) {
		return fmt.Errorf("platform %s cannot run on this %s host (no emulation)", p, platforms.Format(platforms.DefaultSpec()))
	}
	return nil
}

// Push uploads ref, which must be in the image store, to its registry.
func (r *Runtime) Push(ctx context.Context, ref string) error {
	name, err := NormalizeImage(ref)
	if err != nil {
		return err
	}
	img, err := r.client.ImageService().Get(ctx, name)
	if err != nil {
		return fmt.Errorf("push %s: %w", ref, conv(err))
	}
	// Push only what this host holds: an index whose other platforms were
	// never fetched is pushed for the platforms present.
	var matcher platforms.MatchComparer = platforms.All
	if avail, _, _, missing, err := images.Check(ctx, r.client.ContentStore(), img.Target, platforms.All); err != nil || !avail || len(missing) > 0 {
		matcher = platforms.Default()
	}
	if err := r.client.Push(ctx, name, img.Target, containerd.WithResolver(r.resolver(ctx)),
		containerd.WithPlatformMatcher(matcher)); err != nil {
		return fmt.Errorf("push %s: %w", ref, conv(err))
	}
	return nil
}

// ImageUpdated is when the image record was last written (by a pull, load,
// build or tag), for pull_policy daily/weekly/every_<duration>.
func (r *Runtime) ImageUpdated(ctx context.Context, ref string) (time.Time, error) {
	name, err := NormalizeImage(ref)
	if err != nil {
		return time.Time{}, err
	}
	img, err := r.client.ImageService().Get(ctx, name)
	if err != nil {
		return time.Time{}, fmt.Errorf("image %s: %w", ref, conv(err))
	}
	return img.UpdatedAt, nil
}

// TagImage gives the image src the name dst (replacing what dst named).
func (r *Runtime) TagImage(ctx context.Context, src, dst string) error {
	from, err := NormalizeImage(src)
	if err != nil {
		return err
	}
	to, err := NormalizeImage(dst)
	if err != nil {
		return err
	}
	is := r.client.ImageService()
	img, err := is.Get(ctx, from)
	if err != nil {
		return fmt.Errorf("tag %s: %w", src, conv(err))
	}
	img.Name = to
	img.CreatedAt, img.UpdatedAt = time.Time{}, time.Time{}
	if _, err := is.Create(ctx, img); err != nil {
		if !errdefs.IsAlreadyExists(err) {
			return fmt.Errorf("tag %s %s: %w", src, dst, conv(err))
		}
		if _, err := is.Update(ctx, img, "target", "labels"); err != nil {
			return fmt.Errorf("tag %s %s: %w", src, dst, conv(err))
		}
	}
	return nil
}

// ErrImageInUse is returned when removing an image a container uses.
var ErrImageInUse = errors.New("image is being used by a container")

// RemoveImage deletes the name ref. Unless force, an image some container
// in the namespace was created from is refused. Content no other image
// needs is garbage-collected by containerd.
func (r *Runtime) RemoveImage(ctx context.Context, ref string, force bool) error {
	name, err := NormalizeImage(ref)
	if err != nil {
		return err
	}
	is := r.client.ImageService()
	if _, err := is.Get(ctx, name); err != nil {
		return fmt.Errorf("remove image %s: %w", ref, conv(err))
	}
	if !force {
		users, err := r.imageUsers(ctx)
		if err != nil {
			return err
		}
		if c, ok := users[name]; ok {
			return fmt.Errorf("remove image %s: %w %s", ref, ErrImageInUse, c)
		}
	}
	if err := is.Delete(ctx, name, images.SynchronousDelete()); err != nil {
		return fmt.Errorf("remove image %s: %w", ref, conv(err))
	}
	return nil
}

// imageUsers maps image names to a container created from each.
func (r *Runtime) imageUsers(ctx context.Context) (map[string]string, error) {
	cs, err := r.client.ContainerService().List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", conv(err))
	}
	users := map[string]string{}
	for _, c := range cs {
		if c.Image != "" {
			users[c.Image] = c.ID
		}
	}
	return users, nil
}

// PruneImages removes images no container uses: with all, every such
// image; without, only dangling ones (named by digest alone, no tag). It
// returns the names removed.
func (r *Runtime) PruneImages(ctx context.Context, all bool) ([]string, error) {
	users, err := r.imageUsers(ctx)
	if err != nil {
		return nil, err
	}
	is := r.client.ImageService()
	imgs, err := is.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list images: %w", conv(err))
	}
	var removed []string
	for _, img := range imgs {
		if _, used := users[img.Name]; used {
			continue
		}
		if !all && !dangling(img.Name) {
			continue
		}
		if err := is.Delete(ctx, img.Name, images.SynchronousDelete()); err != nil && !errdefs.IsNotFound(err) {
			return removed, fmt.Errorf("remove image %s: %w", img.Name, conv(err))
		}
		removed = append(removed, img.Name)
	}
	slices.Sort(removed)
	return removed, nil
}

// dangling says whether an image name has no tag: "repo@sha256:..." or a
// bare digest.
func dangling(name string) bool {
	return strings.HasPrefix(name, "sha256:") || (strings.Contains(name, "@") && !hasTag(name))
}

func hasTag(name string) bool {
	repo, _, _ := strings.Cut(name, "@")
	i := strings.LastIndex(repo, ":")
	return i > strings.LastIndex(repo, "/")
}

// SaveImages writes the images as one archive that both `docker load` and
// `gocompose image load` read (OCI layout plus Docker's manifest.json),
// holding the host's platform.
func (r *Runtime) SaveImages(ctx context.Context, w io.Writer, refs []string) error {
	is := r.client.ImageService()
	opts := []archive.ExportOpt{archive.WithPlatform(platforms.DefaultStrict())}
	for _, ref := range refs {
		name, err := NormalizeImage(ref)
		if err != nil {
			return err
		}
		if _, err := is.Get(ctx, name); err != nil {
			return fmt.Errorf("image save: %s: %w", ref, conv(err))
		}
		opts = append(opts, archive.WithImage(is, name))
	}
	if err := r.client.Export(ctx, w, opts...); err != nil {
		return fmt.Errorf("image save: %w", conv(err))
	}
	return nil
}

// qemuArch is the binfmt_misc handler name of qemu-user-static per
// architecture.
var qemuArch = map[string]string{"arm64": "aarch64", "arm": "arm", "ppc64le": "ppc64le", "s390x": "s390x",
	"riscv64": "riscv64", "mips64le": "mips64el", "loong64": "loongarch64", "amd64": "x86_64"}

// ForeignPlatforms lists the platforms of list this host can neither run
// natively nor emulate (no binfmt_misc handler registered for them), whose
// RUN steps a build therefore cannot execute.
func ForeignPlatforms(list []string) []string {
	var out []string
	for _, v := range list {
		p, err := platforms.Parse(v)
		if err != nil || platforms.Default().Match(p) {
			continue
		}
		if name, ok := qemuArch[p.Architecture]; ok {
			if _, err := os.Stat("/proc/sys/fs/binfmt_misc/qemu-" + name); err == nil {
				continue
			}
		}
		out = append(out, platforms.Format(p))
	}
	return out
}

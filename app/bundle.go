package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/gocompose/gocompose/bundle"
	"github.com/gocompose/gocompose/spec"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// blobEngine moves images as blobs (runtime implements it).
type blobEngine interface {
	ImageBlobs(ctx context.Context, ref string) (ocispec.Descriptor, []ocispec.Descriptor, error)
	WriteBlobTo(ctx context.Context, desc ocispec.Descriptor, w io.Writer) error
	Blobs(ctx context.Context) ([]digest.Digest, error)
	HasBlob(ctx context.Context, d digest.Digest) bool
	ImportBlob(ctx context.Context, desc ocispec.Descriptor, path string) error
	SetImage(ctx context.Context, ref string, target ocispec.Descriptor) error
}

func (a *App) blobs() (blobEngine, error) {
	b, ok := a.Engine.(blobEngine)
	if !ok {
		return nil, errors.New("bundles are not available with this engine")
	}
	return b, nil
}

// BundleOptions are the flags of `bundle create`.
type BundleOptions struct {
	Services []string
	Output   string
	// Secrets puts the secrets' files in the bundle (mode 0600); without
	// it they must be put on the target by hand.
	Secrets bool
	// Have lists the blobs the target holds: they are left out (a delta).
	Have map[string]bool
}

// BundleCreate writes the project (the named services and their
// dependencies) as one file: its canonical compose file with the env
// files, .env, configs (and with Secrets the secrets) beside it, and every
// image it runs, this host's platform, as blobs stored once.
func (a *App) BundleCreate(ctx context.Context, p *types.Project, o BundleOptions) error {
	be, err := a.blobs()
	if err != nil {
		return err
	}
	if err := checkServices(p, o.Services); err != nil {
		return err
	}
	sel, err := selectServices(withImageNames(p), o.Services, true)
	if err != nil {
		return err
	}
	m := &bundle.Manifest{Project: p.Name, Files: map[string]bundle.File{}, Blobs: map[string]int64{}, Omitted: map[string]int64{}}
	descs := map[string]ocispec.Descriptor{}
	refs := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(sel.Services)) {
		ref := sel.Services[name].Image
		if refs[ref] {
			continue
		}
		refs[ref] = true
		target, blobs, err := be.ImageBlobs(ctx, ref)
		if err != nil {
			return fmt.Errorf("service %s: %w (build or pull it first)", name, err)
		}
		m.Images = append(m.Images, bundle.Image{Name: ref, Target: target})
		for _, b := range blobs {
			d := b.Digest.String()
			descs[d] = b
			if o.Have[d] {
				m.Omitted[d] = b.Size
			} else {
				m.Blobs[d] = b.Size
			}
		}
	}
	files, err := a.bundleFiles(p, sel, o.Secrets)
	if err != nil {
		return err
	}
	for path, b := range files {
		mode := uint32(0o644)
		if strings.HasPrefix(path, "secrets/") {
			mode = 0o600 // never world-readable, in the archive or out of it
		}
		m.Files[path] = bundle.File{Digest: bundle.Digest(b), Size: int64(len(b)), Mode: mode}
	}
	out := o.Output
	tmp, err := os.CreateTemp(filepath.Dir(out), ".bundle-*")
	if err != nil {
		return fmt.Errorf("bundle create: %w", err)
	}
	defer os.Remove(tmp.Name())
	err = bundle.Write(tmp, m, files, func(d string, w io.Writer) error { return be.WriteBlobTo(ctx, descs[d], w) })
	if cerr := tmp.Close(); err == nil {
		err = cerr // CreateTemp made it 0600: secrets may be inside
	}
	if err == nil {
		err = os.Rename(tmp.Name(), out)
	}
	if err != nil {
		return fmt.Errorf("bundle create: %w", err)
	}
	var size int64
	for _, s := range m.Blobs {
		size += s
	}
	fmt.Fprintf(a.Out, "%s: project %s, %d images, %d blobs (%d bytes), %d left out (on the target already)\n",
		out, p.Name, len(m.Images), len(m.Blobs), size, len(m.Omitted))
	return nil
}

// bundleFiles are the project's files by their path in the bundle: the
// compose file (its builds dropped, the images being in the bundle; env
// files, configs and secrets pointing at the copies beside it), .env, the
// env files, configs and, with secrets, the secrets.
func (a *App) bundleFiles(p, sel *types.Project, secrets bool) (map[string][]byte, error) {
	files := map[string][]byte{}
	add := func(kind, key, src string) (string, error) {
		b, err := os.ReadFile(src)
		if err != nil {
			return "", fmt.Errorf("bundle create: %s %s: %w", kind, key, err)
		}
		rel := kind + "/" + key
		files[rel] = b
		return "./" + rel, nil
	}
	q := *sel
	q.Services = maps.Clone(sel.Services)
	for name, svc := range q.Services {
		svc.Build = nil
		var envs []types.EnvFile
		for i, e := range svc.EnvFiles {
			rel, err := add("env", fmt.Sprintf("%s-%d-%s", name, i, filepath.Base(e.Path)), e.Path)
			if err != nil {
				if !bool(e.Required) && errors.Is(err, os.ErrNotExist) {
					continue
				}
				return nil, err
			}
			e.Path = rel
			envs = append(envs, e)
		}
		svc.EnvFiles = envs
		q.Services[name] = svc
	}
	q.Secrets, q.Configs = maps.Clone(sel.Secrets), maps.Clone(sel.Configs)
	for key, s := range q.Secrets {
		if s.File == "" || s.External {
			continue
		}
		if !secrets {
			a.warn("secret %s: not in the bundle (bundle create --secrets puts it in): put its file at secrets/%s in the project directory on the target", key, key)
			s.File = "./secrets/" + key
		} else {
			rel, err := add("secrets", key, s.File)
			if err != nil {
				return nil, err
			}
			s.File = rel
		}
		q.Secrets[key] = s
	}
	for key, c := range q.Configs {
		if c.File == "" || c.External {
			continue
		}
		rel, err := add("configs", key, c.File)
		if err != nil {
			return nil, err
		}
		c.File = rel
		q.Configs[key] = c
	}
	if b, err := os.ReadFile(filepath.Join(p.WorkingDir, ".env")); err == nil {
		files[".env"] = b
	}
	y, err := q.MarshalYAML()
	if err != nil {
		return nil, fmt.Errorf("bundle create: compose file: %w", err)
	}
	files["compose.yaml"] = y
	return files, nil
}

// BundleHave prints the blobs this host holds, one digest a line: given
// to `bundle create --have` on the source, they are left out.
func (a *App) BundleHave(ctx context.Context) error {
	be, err := a.blobs()
	if err != nil {
		return err
	}
	ds, err := be.Blobs(ctx)
	if err != nil {
		return err
	}
	slices.Sort(ds)
	for _, d := range ds {
		fmt.Fprintln(a.Out, d)
	}
	return nil
}

// BundleLoad checks a bundle whole (every digest, nothing missing, the
// blobs a delta leaves out present here) before it changes anything, then
// loads its images and writes its project to dir (default
// <root>/bundles/<project>), replacing an earlier one, and returns dir.
func (a *App) BundleLoad(ctx context.Context, file, dir string) (string, error) {
	be, err := a.blobs()
	if err != nil {
		return "", err
	}
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if err := os.MkdirAll(a.RootDir, 0o711); err != nil {
		return "", err
	}
	stage, err := os.MkdirTemp(a.RootDir, ".bundle-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(stage)
	m, err := bundle.Extract(f, stage)
	if err != nil {
		return "", fmt.Errorf("bundle %s: %w: nothing was changed", file, err)
	}
	for _, d := range slices.Sorted(maps.Keys(m.Omitted)) {
		if !be.HasBlob(ctx, digest.Digest(d)) {
			return "", fmt.Errorf("bundle %s: a delta without blob %s, which this host does not hold (make it with --have from this host's `bundle have`): nothing was changed", file, d)
		}
	}
	if dir == "" {
		dir = filepath.Join(a.RootDir, "bundles", m.Project)
	}
	for _, d := range slices.Sorted(maps.Keys(m.Blobs)) {
		desc := ocispec.Descriptor{Digest: digest.Digest(d), Size: m.Blobs[d]}
		if err := be.ImportBlob(ctx, desc, filepath.Join(stage, filepath.FromSlash(bundle.BlobPath(d)))); err != nil {
			return "", fmt.Errorf("bundle %s: %w", file, err)
		}
	}
	for _, img := range m.Images {
		a.progress("Image", img.Name, "Loading")
		if err := be.SetImage(ctx, img.Name, img.Target); err != nil {
			return "", fmt.Errorf("bundle %s: %w", file, err)
		}
		a.progress("Image", img.Name, "Loaded")
	}
	if err := swapContents(filepath.Join(stage, "project"), dir); err != nil {
		return "", fmt.Errorf("bundle %s: project directory %s: %w", file, dir, err)
	}
	return dir, nil
}

// swapContents replaces what dir holds by what src holds, keeping dir
// itself (a shell may stand in it): the old entries go aside first, and
// come back if the new ones cannot be put in.
func swapContents(src, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	aside, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+".old-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(aside)
	olds, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range olds {
		if err := os.Rename(filepath.Join(dir, e.Name()), filepath.Join(aside, e.Name())); err != nil {
			return err
		}
	}
	news, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range news {
		if err := os.Rename(filepath.Join(src, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			for _, o := range olds {
				_ = os.RemoveAll(filepath.Join(dir, o.Name()))
				_ = os.Rename(filepath.Join(aside, o.Name()), filepath.Join(dir, o.Name()))
			}
			return err
		}
	}
	return nil
}

// BundleUp loads a bundle and runs its project (up -d) from where it wrote it.
func (a *App) BundleUp(ctx context.Context, file, dir string, o UpOptions) error {
	dir, err := a.BundleLoad(ctx, file, dir)
	if err != nil {
		return err
	}
	p, err := spec.Load(ctx, spec.Options{Files: []string{filepath.Join(dir, "compose.yaml")}})
	if err != nil {
		return fmt.Errorf("bundle %s: its project: %w", file, err)
	}
	o.Detach = true
	return a.Up(ctx, p, o)
}

// HaveFile reads a `bundle have` list, or the blobs (left out ones too)
// of an earlier bundle (--since).
func HaveFile(path string, isBundle bool) (map[string]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	have := map[string]bool{}
	if isBundle {
		m, err := bundle.ReadManifest(f)
		if err != nil {
			return nil, fmt.Errorf("--since %s: %w", path, err)
		}
		for d := range m.Blobs {
			have[d] = true
		}
		for d := range m.Omitted {
			have[d] = true
		}
		return have, nil
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	for _, l := range strings.Fields(string(b)) {
		if _, err := digest.Parse(l); err != nil {
			return nil, fmt.Errorf("--have %s: %q is not a digest", path, l)
		}
		have[l] = true
	}
	return have, nil
}

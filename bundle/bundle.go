// Package bundle is the one-file offline form of a project: a tar whose
// first entry, manifest.json, lists every other entry with its sha256
// digest and size — the project's files under project/, and the images'
// blobs, once each, under blobs/sha256/. A delta bundle leaves out blobs
// the target already holds (listed as omitted). Extract checks every
// digest and that nothing is missing or extra before it returns, so a cut
// or corrupt bundle is refused before anything on the target changes.
package bundle

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Format names this layout in the manifest.
const Format = "gocompose-bundle/1"

// ManifestName is the first entry of a bundle.
const ManifestName = "manifest.json"

// File is one project file.
type File struct {
	Digest string `json:"digest"` // sha256:hex
	Size   int64  `json:"size"`
	Mode   uint32 `json:"mode"`
}

// Image is one image the project runs: the name it has and the manifest
// (this host's platform) it points at.
type Image struct {
	Name   string             `json:"name"`
	Target ocispec.Descriptor `json:"target"`
}

// Manifest describes a bundle.
type Manifest struct {
	Format  string          `json:"format"`
	Project string          `json:"project"`
	Files   map[string]File `json:"files"` // by path under project/
	Images  []Image         `json:"images"`
	// Blobs are in the bundle; Omitted are not (a delta) and must be on
	// the target already. Both by digest, with their size.
	Blobs   map[string]int64 `json:"blobs"`
	Omitted map[string]int64 `json:"omitted,omitempty"`
}

// BlobPath is a blob's entry name.
func BlobPath(digest string) string {
	return "blobs/sha256/" + strings.TrimPrefix(digest, "sha256:")
}

// Digest is the sha256 digest of b, as manifests write it.
func Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Write writes a bundle: the manifest, then files (content by path), then
// each blob of m.Blobs, which blob copies to its writer.
func Write(w io.Writer, m *Manifest, files map[string][]byte, blob func(digest string, w io.Writer) error) error {
	m.Format = Format
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	if err := tw.WriteHeader(&tar.Header{Name: ManifestName, Mode: 0o644, Size: int64(len(b))}); err != nil {
		return err
	}
	if _, err := tw.Write(b); err != nil {
		return err
	}
	for _, p := range slices.Sorted(maps.Keys(m.Files)) {
		f := m.Files[p]
		if err := tw.WriteHeader(&tar.Header{Name: "project/" + p, Mode: int64(f.Mode), Size: f.Size}); err != nil {
			return err
		}
		if _, err := tw.Write(files[p]); err != nil {
			return err
		}
	}
	for _, d := range slices.Sorted(maps.Keys(m.Blobs)) {
		if err := tw.WriteHeader(&tar.Header{Name: BlobPath(d), Mode: 0o644, Size: m.Blobs[d]}); err != nil {
			return err
		}
		cw := &countWriter{w: tw}
		if err := blob(d, cw); err != nil {
			return fmt.Errorf("blob %s: %w", d, err)
		}
		if cw.n != m.Blobs[d] {
			return fmt.Errorf("blob %s: wrote %d bytes, the manifest says %d", d, cw.n, m.Blobs[d])
		}
	}
	return tw.Close()
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

// ErrInvalid is a bundle that is cut, corrupt or not a bundle.
var ErrInvalid = errors.New("invalid bundle")

// ReadManifest reads only the manifest of a bundle.
func ReadManifest(r io.Reader) (*Manifest, error) {
	tr := tar.NewReader(r)
	h, err := tr.Next()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if h.Name != ManifestName {
		return nil, fmt.Errorf("%w: first entry %q, want %s", ErrInvalid, h.Name, ManifestName)
	}
	var m Manifest
	if err := json.NewDecoder(io.LimitReader(tr, 64<<20)).Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: manifest: %v", ErrInvalid, err)
	}
	if m.Format != Format {
		return nil, fmt.Errorf("%w: format %q, want %s", ErrInvalid, m.Format, Format)
	}
	for p := range m.Files {
		if !filepath.IsLocal(p) || path.Clean(p) != p {
			return nil, fmt.Errorf("%w: file path %q leaves the project directory", ErrInvalid, p)
		}
	}
	return &m, nil
}

// Extract reads the whole bundle into dir (which must be empty or
// missing): project files under dir/project, blobs under dir/blobs. It
// checks every entry against the manifest — listed, right size, right
// digest, none missing — and returns the manifest only when all hold.
func Extract(r io.Reader, dir string) (*Manifest, error) {
	tr := tar.NewReader(r)
	h, err := tr.Next()
	if err != nil || h.Name != ManifestName {
		return nil, fmt.Errorf("%w: no %s first", ErrInvalid, ManifestName)
	}
	var m Manifest
	if err := json.NewDecoder(io.LimitReader(tr, 64<<20)).Decode(&m); err != nil || m.Format != Format {
		return nil, fmt.Errorf("%w: manifest: %v", ErrInvalid, err)
	}
	want := map[string]File{}
	for p, f := range m.Files {
		if !filepath.IsLocal(p) || path.Clean(p) != p {
			return nil, fmt.Errorf("%w: file path %q leaves the project directory", ErrInvalid, p)
		}
		want["project/"+p] = f
	}
	for d, size := range m.Blobs {
		want[BlobPath(d)] = File{Digest: d, Size: size, Mode: 0o644}
	}
	seen := map[string]bool{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		f, ok := want[h.Name]
		if !ok || seen[h.Name] || h.Typeflag != tar.TypeReg {
			return nil, fmt.Errorf("%w: unexpected entry %q", ErrInvalid, h.Name)
		}
		seen[h.Name] = true
		if err := extractOne(tr, filepath.Join(dir, filepath.FromSlash(h.Name)), f); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, h.Name, err)
		}
	}
	for name := range want {
		if !seen[name] {
			return nil, fmt.Errorf("%w: %s is missing (the bundle is cut short)", ErrInvalid, name)
		}
	}
	return &m, nil
}

func extractOne(r io.Reader, dst string, f File) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	mode := os.FileMode(f.Mode) & 0o777
	if mode == 0 {
		mode = 0o600
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	if err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), io.LimitReader(r, f.Size+1))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if n != f.Size {
		return fmt.Errorf("%d bytes, the manifest says %d", n, f.Size)
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != f.Digest {
		return fmt.Errorf("digest %s, the manifest says %s", got, f.Digest)
	}
	return nil
}

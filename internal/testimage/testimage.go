// Package testimage builds OCI image archives without a registry: a small
// busybox image from the host's busybox-static for tests and benchmarks, and
// an image from any rootfs tarball (examples/base uses it for Python).
package testimage

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// BusyboxPath is where Debian's busybox-static installs the binary.
const BusyboxPath = "/bin/busybox"

// Ref is the name the archive gives the image.
const Ref = "docker.io/library/busybox:latest"

func busyboxLayer() ([]byte, error) {
	bin, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return nil, fmt.Errorf("busybox image: %w (install busybox-static)", err)
	}
	out, err := exec.Command(BusyboxPath, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("busybox --list: %w", err)
	}
	return rootfs(bin, strings.Fields(string(out)))
}

func imageConfig(layerDigest string) []byte {
	return imageConfigWith(layerDigest, []string{"sh"})
}

func imageConfigWith(layerDigest string, cmd []string) []byte {
	config, _ := json.Marshal(map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"created":      "2024-01-01T00:00:00Z",
		"config": map[string]any{
			"Env": []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			"Cmd": cmd,
		},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{layerDigest}},
	})
	return config
}

// Busybox writes an OCI image-layout tar of a busybox image named name (use
// Ref) to w.
func Busybox(w io.Writer, name string) error {
	layer, err := busyboxLayer()
	if err != nil {
		return err
	}
	return writeLayout(w, name, imageConfig(digest(layer)), digest(layer), int64(len(layer)), bytes.NewReader(layer))
}

// FromRootfs writes an OCI image-layout tar named name whose one layer is
// the rootfs tarball at path (uncompressed), with cmd as its CMD.
func FromRootfs(w io.Writer, name, path string, cmd []string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	size, err := io.Copy(h, f)
	if err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	d := "sha256:" + hex.EncodeToString(h.Sum(nil))
	return writeLayout(w, name, imageConfigWith(d, cmd), d, size, f)
}

// writeLayout writes oci-layout, index.json and the blobs, streaming the
// layer from r.
func writeLayout(w io.Writer, name string, config []byte, layerDigest string, layerSize int64, layer io.Reader) error {
	manifest, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(config), "size": len(config)},
		"layers":        []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layerDigest, "size": layerSize}},
	})
	tag := name[strings.LastIndex(name, ":")+1:]
	index, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"manifests": []any{map[string]any{
			"mediaType": "application/vnd.oci.image.manifest.v1+json",
			"digest":    digest(manifest), "size": len(manifest),
			"annotations": map[string]string{
				"io.containerd.image.name":          name,
				"org.opencontainers.image.ref.name": tag,
			},
			"platform": map[string]string{"architecture": "amd64", "os": "linux"},
		}},
	})
	tw := tar.NewWriter(w)
	files := []struct {
		name string
		data []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", index},
		{blobPath(config), config},
		{blobPath(manifest), manifest},
	}
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Name: dir, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: epoch}); err != nil {
			return err
		}
	}
	for _, f := range files {
		if err := writeFile(tw, f.name, f.data, 0o644); err != nil {
			return err
		}
	}
	if err := tw.WriteHeader(&tar.Header{Name: "blobs/sha256/" + strings.TrimPrefix(layerDigest, "sha256:"),
		Mode: 0o644, Size: layerSize, ModTime: epoch, Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	if _, err := io.Copy(tw, layer); err != nil {
		return err
	}
	return tw.Close()
}

// BusyboxDockerArchive writes the same image as a docker-archive (the
// format of `docker save`), tagged with repoTag.
func BusyboxDockerArchive(w io.Writer, repoTag string) error {
	layer, err := busyboxLayer()
	if err != nil {
		return err
	}
	config := imageConfig(digest(layer))
	cfgName := strings.TrimPrefix(digest(config), "sha256:") + ".json"
	layerName := strings.TrimPrefix(digest(layer), "sha256:") + "/layer.tar"
	manifest, _ := json.Marshal([]map[string]any{{
		"Config": cfgName, "RepoTags": []string{repoTag}, "Layers": []string{layerName},
	}})
	tw := tar.NewWriter(w)
	if err := tw.WriteHeader(&tar.Header{Name: strings.TrimSuffix(layerName, "layer.tar"), Typeflag: tar.TypeDir, Mode: 0o755, ModTime: epoch}); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{cfgName, config}, {layerName, layer}, {"manifest.json", manifest}} {
		if err := writeFile(tw, f.name, f.data, 0o644); err != nil {
			return err
		}
	}
	return tw.Close()
}

var epoch = time.Unix(1704067200, 0)

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func blobPath(b []byte) string {
	return "blobs/sha256/" + strings.TrimPrefix(digest(b), "sha256:")
}

func writeFile(tw *tar.Writer, name string, data []byte, mode int64) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(data)), ModTime: epoch, Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
}

// rootfs is the layer: busybox, a link per applet, and a minimal /etc.
func rootfs(bin []byte, applets []string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, d := range []string{"bin", "dev", "etc", "proc", "root", "sys", "tmp", "usr", "usr/bin", "usr/sbin", "sbin", "var", "var/www", "home", "srv"} {
		mode := int64(0o755)
		if d == "tmp" {
			mode = 0o1777
		}
		if err := tw.WriteHeader(&tar.Header{Name: d + "/", Typeflag: tar.TypeDir, Mode: mode, ModTime: epoch}); err != nil {
			return nil, err
		}
	}
	if err := writeFile(tw, "bin/busybox", bin, 0o755); err != nil {
		return nil, err
	}
	for _, a := range applets {
		if a == "busybox" {
			continue
		}
		if err := tw.WriteHeader(&tar.Header{Name: "bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777, ModTime: epoch}); err != nil {
			return nil, err
		}
	}
	etc := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\nwww:x:1000:1000:www:/var/www:/bin/sh\n",
		"etc/group":  "root:x:0:\nnogroup:x:65534:\nwww:x:1000:\nextra:x:2000:\n",
	}
	etc["srv/seed.txt"] = "seeded by the image\n"
	for _, n := range []string{"etc/group", "etc/passwd", "srv/seed.txt"} {
		if err := writeFile(tw, n, []byte(etc[n]), 0o644); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

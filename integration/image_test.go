package integration

import (
	"bytes"
	"compress/gzip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gocompose/gocompose/internal/testimage"
)

// A docker-archive (gzipped, as `docker save | gzip` makes) loads and runs.
func TestImageLoadDockerArchiveGzip(t *testing.T) {
	requires(t)
	var tarball bytes.Buffer
	if err := testimage.BusyboxDockerArchive(&tarball, "localhost/dockerfmt:v1"); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "img.tar.gz")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	if _, err := zw.Write(tarball.Bytes()); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	f.Close()
	r := gc(t, "", "image", "load", "-i", path)
	if !strings.Contains(r.stdout, "Loaded image: localhost/dockerfmt:v1") {
		t.Fatalf("image load: %s", r)
	}
	dir := project(t, "dockerfmt", "services:\n  a:\n    image: localhost/dockerfmt:v1\n")
	r = gc(t, dir, "run", "--rm", "-T", "a", "echo", "from docker archive")
	if r.stdout != "from docker archive\n" {
		t.Errorf("run: %s", r)
	}
}

// `-f -` reads the compose file from stdin; the project directory is the
// current one.
func TestComposeFileFromStdin(t *testing.T) {
	requires(t)
	dir := t.TempDir()
	cmd := exec.Command(bin, "-f", "-", "config", "--services")
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader("services:\n  fromstdin:\n    image: busybox\n  other:\n    image: busybox\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "fromstdin\nother\n" {
		t.Errorf("config --services from stdin = %q", out)
	}
}

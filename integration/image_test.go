package integration

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"syscall"
	"testing"
	"time"

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

// image tag, save, rm and load round-trip: the saved archive brings the
// image back under its name and it runs; rm refuses an image a container
// uses.
func TestImageSaveRoundTrip(t *testing.T) {
	requires(t)
	gc(t, "", "image", "tag", "busybox", "localhost/saved:v1")
	archive := filepath.Join(t.TempDir(), "saved.tar")
	gc(t, "", "image", "save", "-o", archive, "localhost/saved:v1")
	r := gc(t, "", "image", "rm", "localhost/saved:v1")
	if !strings.Contains(r.stdout, "Untagged: localhost/saved:v1") {
		t.Errorf("image rm: %s", r)
	}
	if r := gc(t, "", "image", "ls", "-q"); strings.Contains(r.stdout, "localhost/saved:v1") {
		t.Fatalf("image still listed after rm:\n%s", r.stdout)
	}
	r = gc(t, "", "image", "load", "-i", archive)
	if !strings.Contains(r.stdout, "Loaded image: localhost/saved:v1") {
		t.Fatalf("load of the saved archive: %s", r)
	}
	dir := project(t, "saved", "services:\n  a:\n    image: localhost/saved:v1\n    command: sleep 300\n")
	gc(t, dir, "up", "-d")
	r = gcRun(dir, nil, "image", "rm", "localhost/saved:v1")
	if r.code == 0 || !strings.Contains(r.stderr, "being used by a container") {
		t.Errorf("rm of an image in use: %s", r)
	}
	r = gc(t, dir, "down", "-t", "0", "--rmi", "all")
	if !strings.Contains(r.stderr, "Image localhost/saved:v1 Removed") {
		t.Errorf("down --rmi all: %s", r)
	}
	if r := gc(t, "", "image", "ls", "-q"); strings.Contains(r.stdout, "localhost/saved:v1") {
		t.Errorf("image listed after down --rmi all:\n%s", r.stdout)
	}
}

// image prune -a removes images no container uses and keeps the one that
// is used. It runs in a namespace of its own so the suite's images stay.
func TestImagePruneAll(t *testing.T) {
	requires(t)
	ns := namespace + "-prune"
	env := []string{"CONTAINERD_NAMESPACE=" + ns}
	t.Cleanup(func() { deleteNamespace(ns) })
	tmp := t.TempDir()
	archive := filepath.Join(tmp, "busybox.tar")
	f, err := os.Create(archive)
	if err != nil {
		t.Fatal(err)
	}
	if err := testimage.Busybox(f, testimage.Ref); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, args := range [][]string{{"image", "load", "-i", archive}, {"image", "tag", "busybox", "localhost/unused:1"}} {
		if r := gcRun("", env, args...); r.code != 0 {
			t.Fatalf("%v: %s", args, r)
		}
	}
	dir := project(t, "pruner", "services:\n  a:\n    image: busybox\n    command: sleep 300\n    volumes: [\"pv:/pv\"]\nvolumes:\n  pv:\n")
	t.Cleanup(func() { gcRun(dir, env, "down", "-t", "0") })
	if r := gcRun(dir, env, "up", "-d"); r.code != 0 {
		t.Fatalf("up: %s", r)
	}
	r := gcRun("", env, "image", "prune", "-a", "-f")
	if r.code != 0 || !strings.Contains(r.stdout, "untagged: localhost/unused:1") || strings.Contains(r.stdout, "busybox") {
		t.Fatalf("image prune -a: %s", r)
	}
	r = gcRun("", env, "image", "ls", "-q")
	if strings.TrimSpace(r.stdout) != "busybox:latest" {
		t.Errorf("images left after prune -a: %q", r.stdout)
	}

	// Volume directories are shared by namespaces: one used in this
	// namespace is in use for a command in another.
	r = gc(t, "", "volume", "prune", "-a", "-f")
	if strings.Contains(r.stdout, "pruner_pv") {
		t.Errorf("volume prune -a in another namespace removed a volume in use: %s", r.stdout)
	}
	if r := gcRun("", nil, "volume", "rm", "pruner_pv"); r.code == 0 || !strings.Contains(r.stderr, "in use") {
		t.Errorf("volume rm from another namespace of a volume in use: %s", r)
	}
	if r := gcRun(dir, env, "down", "-v", "-t", "0"); r.code != 0 {
		t.Errorf("down -v: %s", r)
	}
}

// A load cut off half-way through the archive leaves no image; loading the
// whole archive afterwards works.
func TestInterruptedLoad(t *testing.T) {
	requires(t)
	var archive bytes.Buffer
	if err := testimage.BusyboxDockerArchive(&archive, "localhost/cutload:1"); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "image", "load")
	cmd.Env = suiteEnv()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	half := archive.Bytes()[:archive.Len()/2]
	if _, err := stdin.Write(half); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // let it write what it has into the content store
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	stdin.Close()
	if r := gc(t, "", "image", "ls", "-q"); strings.Contains(r.stdout, "localhost/cutload:1") {
		t.Fatalf("a load killed half-way left the image:\n%s", r.stdout)
	}
	path := filepath.Join(t.TempDir(), "whole.tar")
	if err := os.WriteFile(path, archive.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	gc(t, "", "image", "load", "-i", path)
	dir := project(t, "cutload", "services:\n  a:\n    image: localhost/cutload:1\n")
	if r := gc(t, dir, "run", "--rm", "-T", "a", "echo", "whole"); r.stdout != "whole\n" {
		t.Errorf("run after a whole load: %s", r)
	}
}

// images lists the image of each of the project's containers with its ID
// and size; -q prints each image ID once.
func TestImagesCommand(t *testing.T) {
	requires(t)
	dir := project(t, "imgs", "services:\n  a:\n    image: busybox\n    command: "+idle+"\n  b:\n    image: busybox\n    command: "+idle+"\n")
	gc(t, dir, "up", "-d")
	r := gc(t, dir, "images")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "CONTAINER") || !strings.Contains(lines[0], "IMAGE ID") {
		t.Fatalf("images:\n%s", r.stdout)
	}
	// Docker Compose v5's columns: CONTAINER REPOSITORY TAG PLATFORM IMAGE ID SIZE CREATED.
	if h := strings.Join(strings.Fields(lines[0]), " "); h != "CONTAINER REPOSITORY TAG PLATFORM IMAGE ID SIZE CREATED" {
		t.Errorf("images header %q", h)
	}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) < 7 || f[1] != "busybox" || f[2] != "latest" || f[3] != "linux/"+goruntime.GOARCH || len(f[4]) != 12 {
			t.Errorf("images line %q", l)
		}
	}
	r = gc(t, dir, "images", "--format", "json")
	var imgs []struct{ ID, ContainerName, Repository, Platform string }
	if err := json.Unmarshal([]byte(r.stdout), &imgs); err != nil || len(imgs) != 2 || imgs[0].Repository != "busybox" || !strings.HasPrefix(imgs[0].ID, "sha256:") {
		t.Errorf("images --format json %v: %s", err, r.stdout)
	}
	r = gc(t, dir, "images", "-q")
	if ids := strings.Fields(r.stdout); len(ids) != 1 || !strings.HasPrefix(ids[0], "sha256:") {
		t.Errorf("images -q: %q", r.stdout)
	}
}

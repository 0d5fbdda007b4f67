package integration

import (
	"archive/tar"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// cp copies files and trees between the host and service containers with
// docker cp's rules: to every replica, from the first; volumes are seen in
// a running container; a stopped one is reached through its snapshot; a
// symlink in the container never leads a copy onto the host.
func TestCp(t *testing.T) {
	requires(t)
	dir := project(t, "cpt", "services:\n  app:\n    image: busybox\n    command: "+idle+"\n    scale: 2\n    volumes: [\"data:/data\"]\nvolumes:\n  data:\n")
	gc(t, dir, "up", "-d")
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "note.txt"), []byte("from host\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(host, "tree", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(host, "tree", "sub", "b.txt"), []byte("b\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	// To a service: every replica; owned by root, mode kept.
	gc(t, dir, "cp", filepath.Join(host, "note.txt"), "app:/tmp/")
	for _, idx := range []string{"1", "2"} {
		r := gc(t, dir, "exec", "-T", "--index", idx, "app", "stat", "-c", "%a %u %n", "/tmp/note.txt")
		if strings.TrimSpace(r.stdout) != "600 0 /tmp/note.txt" {
			t.Errorf("replica %s: %s", idx, r.stdout)
		}
	}
	// A directory to a path that does not exist becomes it.
	gc(t, dir, "cp", filepath.Join(host, "tree"), "app:/srv/tree")
	if r := gc(t, dir, "exec", "-T", "app", "cat", "/srv/tree/sub/b.txt"); r.stdout != "b\n" {
		t.Errorf("tree copied in: %s", r)
	}
	// From a service: a file in a volume of the running container.
	gc(t, dir, "exec", "-T", "app", "sh", "-c", "echo in-volume > /data/v.txt")
	gc(t, dir, "cp", "app:/data/v.txt", host)
	if b, err := os.ReadFile(filepath.Join(host, "v.txt")); err != nil || string(b) != "in-volume\n" {
		t.Errorf("file from the volume: %q %v", b, err)
	}
	// To stdout as a tar stream.
	cmd := exec.Command(bin, "cp", "app:/tmp/note.txt", "-")
	cmd.Dir = dir
	cmd.Env = suiteEnv()
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	h, err := tar.NewReader(bytes.NewReader(out)).Next()
	if err != nil || h.Name != "note.txt" {
		t.Errorf("tar from cp -: %v %v", h, err)
	}

	// A symlink to / inside the container: the copy lands in the container.
	gc(t, dir, "exec", "-T", "--index", "1", "app", "ln", "-s", "/", "/tmp/root-link")
	evil := "gocompose-cp-escape-" + strings.ReplaceAll(t.Name(), "/", "_")
	gc(t, dir, "cp", "--index", "1", filepath.Join(host, "note.txt"), "app:/tmp/root-link/"+evil)
	if _, err := os.Stat("/" + evil); err == nil {
		os.Remove("/" + evil)
		t.Fatal("cp through a symlink in the container wrote onto the host's /")
	}
	if r := gc(t, dir, "exec", "-T", "--index", "1", "app", "cat", "/"+evil); r.stdout != "from host\n" {
		t.Errorf("file through the link, in the container: %s", r)
	}

	// A stopped container: through its snapshot, both ways.
	gc(t, dir, "stop", "-t", "0")
	gc(t, dir, "cp", "app:/tmp/note.txt", filepath.Join(host, "again.txt"))
	if b, _ := os.ReadFile(filepath.Join(host, "again.txt")); string(b) != "from host\n" {
		t.Errorf("from a stopped container: %q", b)
	}
	gc(t, dir, "cp", filepath.Join(host, "v.txt"), "app:/tmp/while-stopped.txt")
	gc(t, dir, "start")
	if r := gc(t, dir, "exec", "-T", "app", "cat", "/tmp/while-stopped.txt"); r.stdout != "in-volume\n" {
		t.Errorf("copied while stopped: %s", r)
	}
	if r := gcRun(dir, nil, "cp", "app:/no/such/file", host); r.code == 0 || !strings.Contains(r.stderr, "no such file") {
		t.Errorf("missing source: %s", r)
	}
}

// export writes a container's filesystem, with what it changed and
// without its volumes, running or stopped.
func TestExport(t *testing.T) {
	requires(t)
	dir := project(t, "exp", "services:\n  app:\n    image: busybox\n    command: "+idle+"\n    volumes: [\"data:/data\"]\nvolumes:\n  data:\n")
	gc(t, dir, "up", "-d")
	gc(t, dir, "exec", "-T", "app", "sh", "-c", "echo changed > /tmp/marker; echo vol > /data/in-volume")
	files := func() map[string]string {
		t.Helper()
		out := filepath.Join(t.TempDir(), "fs.tar")
		gc(t, dir, "export", "-o", out, "app")
		f, err := os.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		got := map[string]string{}
		tr := tar.NewReader(f)
		for {
			h, err := tr.Next()
			if err != nil {
				break
			}
			var b bytes.Buffer
			if h.Typeflag == tar.TypeReg && h.Size < 1024 {
				_, _ = b.ReadFrom(tr)
			}
			got[h.Name] = b.String()
		}
		return got
	}
	for _, state := range []string{"running", "stopped"} {
		got := files()
		if got["tmp/marker"] != "changed\n" {
			t.Errorf("%s: tmp/marker = %q", state, got["tmp/marker"])
		}
		if _, ok := got["bin/busybox"]; !ok {
			t.Errorf("%s: the image's bin/busybox is missing (%d entries)", state, len(got))
		}
		if _, ok := got["data/in-volume"]; ok {
			t.Errorf("%s: the volume's file was exported", state)
		}
		gc(t, dir, "stop", "-t", "0")
	}
}

// commit makes an image of the base plus what the container changed; a
// container of it sees the change, and the image can be pushed and saved.
func TestCommit(t *testing.T) {
	requires(t)
	dir := project(t, "cmt", "services:\n  app:\n    image: busybox\n    command: "+idle+"\n")
	gc(t, dir, "up", "-d")
	gc(t, dir, "exec", "-T", "app", "sh", "-c", "echo committed > /srv/added.txt; rm /srv/seed.txt")
	r := gc(t, dir, "commit", "-m", "test commit", "app", "localhost/committed:1")
	if !strings.HasPrefix(strings.TrimSpace(r.stdout), "sha256:") {
		t.Errorf("commit output: %s", r)
	}
	if st := gc(t, dir, "ps", "--format", "json").stdout; !strings.Contains(st, `"State":"running"`) {
		t.Errorf("the container is not running again after commit: %s", st)
	}
	other := project(t, "cmtrun", "services:\n  b:\n    image: localhost/committed:1\n")
	if r := gc(t, other, "run", "--rm", "-T", "b", "cat", "/srv/added.txt"); r.stdout != "committed\n" {
		t.Errorf("file added before the commit: %s", r)
	}
	if r := gcRun(other, nil, "run", "--rm", "-T", "b", "ls", "/srv/seed.txt"); r.code == 0 {
		t.Errorf("a file deleted before the commit is still there: %s", r)
	}
	archive := filepath.Join(t.TempDir(), "c.tar")
	gc(t, "", "image", "save", "-o", archive, "localhost/committed:1")
	gc(t, "", "image", "rm", "localhost/committed:1")
	gc(t, "", "image", "load", "-i", archive)
	if r := gc(t, other, "run", "--rm", "-T", "b", "cat", "/srv/added.txt"); r.stdout != "committed\n" {
		t.Errorf("the committed image after save and load: %s", r)
	}
}

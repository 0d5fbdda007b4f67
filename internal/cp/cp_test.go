package cp

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o640); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func opts() Options { return Options{OwnerUID: os.Getuid(), OwnerGID: os.Getgid()} }

// The rules of docker cp, between a "container" root and the host.
func TestCopyRules(t *testing.T) {
	root, host := t.TempDir(), t.TempDir()
	write(t, filepath.Join(root, "etc/app.conf"), "conf")
	write(t, filepath.Join(root, "srv/tree/a.txt"), "a")
	write(t, filepath.Join(root, "srv/tree/sub/b.txt"), "b")
	in := func(p string) Side { return Side{Root: root, Path: p} }
	out := func(p string) Side { return Side{Root: "/", Path: filepath.Join(host, p)} }

	// A file into an existing directory keeps its name; to a new name, takes it.
	if err := Copy(in("/etc/app.conf"), out("."), opts()); err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(host, "app.conf")); got != "conf" {
		t.Errorf("file into dir: %q", got)
	}
	if err := Copy(in("/etc/app.conf"), out("renamed.conf"), opts()); err != nil || read(t, filepath.Join(host, "renamed.conf")) != "conf" {
		t.Errorf("file to a new name: %v", err)
	}
	if st, _ := os.Stat(filepath.Join(host, "renamed.conf")); st.Mode().Perm() != 0o640 {
		t.Errorf("mode not kept: %v", st.Mode())
	}
	// A file into a directory that does not exist ("dir/") is an error.
	if err := Copy(in("/etc/app.conf"), Side{Root: "/", Path: filepath.Join(host, "nodir") + "/"}, opts()); !errors.Is(err, ErrNotDir) {
		t.Errorf("file into a missing dir/: %v", err)
	}
	// A directory to a new path becomes that directory.
	if err := Copy(in("/srv/tree"), out("copy"), opts()); err != nil || read(t, filepath.Join(host, "copy/sub/b.txt")) != "b" {
		t.Errorf("dir to a new path: %v", err)
	}
	// Into an existing directory: under its own name; with "/." its contents.
	if err := Copy(in("/srv/tree"), out("copy"), opts()); err != nil || read(t, filepath.Join(host, "copy/tree/a.txt")) != "a" {
		t.Errorf("dir into an existing dir: %v", err)
	}
	if err := os.Mkdir(filepath.Join(host, "flat"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Copy(in("/srv/tree/."), out("flat"), opts()); err != nil || read(t, filepath.Join(host, "flat/a.txt")) != "a" {
		t.Errorf("dir/. into an existing dir: %v", err)
	}
	// A directory onto a file is an error.
	if err := Copy(in("/srv/tree"), out("app.conf"), opts()); !errors.Is(err, ErrNotDir) {
		t.Errorf("dir onto a file: %v", err)
	}
}

// A symlink inside the container root never leads a copy out of it.
func TestCopyStaysInRoot(t *testing.T) {
	root, outside, host := t.TempDir(), t.TempDir(), t.TempDir()
	if err := os.Symlink(outside, filepath.Join(root, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/", filepath.Join(root, "slash")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(host, "f.txt"), "payload")
	// Inside the root, the link's target path exists too: that is where
	// the copies must land.
	if err := os.MkdirAll(filepath.Join(root, outside), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, dst := range []string{"/escape/f.txt", "/slash/escape/g.txt"} {
		if err := Copy(Side{Root: "/", Path: filepath.Join(host, "f.txt")}, Side{Root: root, Path: dst}, opts()); err != nil {
			t.Fatalf("%s: %v", dst, err)
		}
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Fatalf("a copy through a symlink wrote outside the root: %v", entries)
	}
	if read(t, filepath.Join(root, outside, "f.txt")) != "payload" {
		t.Error("the copy did not land inside the root")
	}
	// A symlink source is copied as a link unless FollowLink.
	if err := Copy(Side{Root: root, Path: "/escape"}, Side{Root: "/", Path: filepath.Join(host, "link")}, opts()); err != nil {
		t.Fatal(err)
	}
	if target, err := os.Readlink(filepath.Join(host, "link")); err != nil || target != outside {
		t.Errorf("symlink source: %q %v", target, err)
	}
}

func TestTarRoundTrip(t *testing.T) {
	root, dst := t.TempDir(), t.TempDir()
	write(t, filepath.Join(root, "data/x/y.txt"), "deep")
	var buf bytes.Buffer
	if err := WriteTar(Side{Root: root, Path: "/data"}, &buf, false); err != nil {
		t.Fatal(err)
	}
	var names []string
	tr := tar.NewReader(bytes.NewReader(buf.Bytes()))
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		names = append(names, h.Name)
	}
	if len(names) != 3 || names[0] != "data/" || names[2] != "data/x/y.txt" {
		t.Errorf("tar names: %v", names)
	}
	if err := ReadTar(bytes.NewReader(buf.Bytes()), Side{Root: dst, Path: "/"}, opts()); err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(dst, "data/x/y.txt")); got != "deep" {
		t.Errorf("extracted: %q", got)
	}
	// A name climbing out of the destination stays inside it.
	var evil bytes.Buffer
	tw := tar.NewWriter(&evil)
	_ = tw.WriteHeader(&tar.Header{Name: "../../escaped.txt", Mode: 0o644, Size: 1, Typeflag: tar.TypeReg})
	_, _ = tw.Write([]byte("x"))
	_ = tw.Close()
	inner := filepath.Join(dst, "inner")
	if err := os.Mkdir(inner, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := ReadTar(&evil, Side{Root: inner, Path: "/"}, opts()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(inner, "escaped.txt")); err != nil {
		t.Errorf("the climbing name did not land inside: %v", err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dst), "escaped.txt")); err == nil {
		t.Error("a tar name escaped the destination")
	}
}

// needRoot skips a test that makes device nodes and capabilities without
// root, outside CI; under CI=true it fails.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("this test needs root")
	}
	t.Skip("needs root: device nodes and file capabilities")
}

// What `cp` must not lose: a hard link, a device node, a fifo, a setuid
// file, and a file capability (the xattr docker cp keeps), both into a
// container, out of one, and through a tar stream.
func TestCopyKeepsSpecialFiles(t *testing.T) {
	needRoot(t)
	src := t.TempDir()
	tree := filepath.Join(src, "tree")
	write(t, filepath.Join(tree, "a.txt"), "linked")
	if err := os.Link(filepath.Join(tree, "a.txt"), filepath.Join(tree, "b.txt")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mknod(filepath.Join(tree, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(tree, "pipe"), 0o600); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(tree, "suid"), "#!/bin/sh\n")
	if err := os.Chmod(filepath.Join(tree, "suid"), 0o755|os.ModeSetuid); err != nil {
		t.Fatal(err)
	}
	// VFS_CAP_REVISION_2 with CAP_NET_BIND_SERVICE permitted and effective.
	capability := []byte{0x01, 0x00, 0x00, 0x02, 0x00, 0x04, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	write(t, filepath.Join(tree, "capped"), "bin")
	if err := unix.Lsetxattr(filepath.Join(tree, "capped"), "security.capability", capability, 0); err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T, dir string) {
		t.Helper()
		a, errA := os.Stat(filepath.Join(dir, "a.txt"))
		b, errB := os.Stat(filepath.Join(dir, "b.txt"))
		if errA != nil || errB != nil || !os.SameFile(a, b) {
			t.Errorf("hard link not kept: %v %v", errA, errB)
		}
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(dir, "null"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) {
			t.Errorf("device node not kept: %v mode %o rdev %d", err, st.Mode, st.Rdev)
		}
		if fi, err := os.Lstat(filepath.Join(dir, "pipe")); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
			t.Errorf("fifo not kept: %v", err)
		}
		if fi, err := os.Stat(filepath.Join(dir, "suid")); err != nil || fi.Mode()&os.ModeSetuid == 0 {
			t.Errorf("setuid bit not kept: %v", err)
		}
		got := make([]byte, 64)
		n, err := unix.Lgetxattr(filepath.Join(dir, "capped"), "security.capability", got)
		if err != nil || !bytes.Equal(got[:n], capability) {
			t.Errorf("file capability not kept: %v %x", err, got[:max(n, 0)])
		}
	}
	root, host := t.TempDir(), t.TempDir()
	if err := Copy(Side{Root: "/", Path: tree}, Side{Root: root, Path: "/srv"}, opts()); err != nil {
		t.Fatal(err)
	}
	t.Run("into a container", func(t *testing.T) { check(t, filepath.Join(root, "srv")) })
	if err := Copy(Side{Root: root, Path: "/srv"}, Side{Root: "/", Path: filepath.Join(host, "back")}, opts()); err != nil {
		t.Fatal(err)
	}
	t.Run("out of a container", func(t *testing.T) { check(t, filepath.Join(host, "back")) })
	var buf bytes.Buffer
	if err := WriteTar(Side{Root: root, Path: "/srv"}, &buf, false); err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	if err := ReadTar(&buf, Side{Root: other, Path: "/"}, opts()); err != nil {
		t.Fatal(err)
	}
	t.Run("through a tar stream", func(t *testing.T) { check(t, filepath.Join(other, "srv")) })
}

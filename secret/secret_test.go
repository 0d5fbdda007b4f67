package secret

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/gocompose/gocompose/internal/mounts"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("needs root")
	}
	t.Skip("needs root: tmpfs and chown")
}

// The files land on a tmpfs of the project's, with their owners and
// modes; a bad uid is refused; Remove takes the tmpfs away.
func TestWriteAndRemove(t *testing.T) {
	needRoot(t)
	fs := &FS{Dir: t.TempDir()}
	mode := uint32(0o440)
	paths, err := fs.Write("p", []File{
		{Service: "web", Kind: "secrets", Index: 0, Source: "db", Data: []byte("a")},
		{Service: "web", Kind: "configs", Index: 1, Source: "app", Data: []byte("b"), UID: "1000", GID: "1001", Mode: &mode},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !fs.Mounted("p") {
		t.Fatal("no tmpfs under the project's secrets")
	}
	for i, want := range []struct {
		mode     os.FileMode
		uid, gid uint32
		content  string
	}{{0o444, 0, 0, "a"}, {0o440, 1000, 1001, "b"}} {
		st, err := os.Stat(paths[i])
		if err != nil {
			t.Fatal(err)
		}
		sys := st.Sys().(*syscall.Stat_t)
		if st.Mode().Perm() != want.mode || sys.Uid != want.uid || sys.Gid != want.gid {
			t.Errorf("%s: mode %o uid %d gid %d, want %o %d %d", paths[i], st.Mode().Perm(), sys.Uid, sys.Gid, want.mode, want.uid, want.gid)
		}
		if b, _ := os.ReadFile(paths[i]); string(b) != want.content {
			t.Errorf("%s: %q", paths[i], b)
		}
	}
	if _, err := fs.Write("p", []File{{Service: "web", Kind: "secrets", Source: "x", UID: "www"}}); err == nil ||
		!strings.Contains(err.Error(), `secret x: uid "www" is not a number`) {
		t.Errorf("a uid that is not a number: %v", err)
	}
	if err := fs.Remove("p"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := mounts.IsMountpoint(fs.ProjectDir("p")); ok {
		t.Error("the tmpfs is still mounted")
	}
	if _, err := os.Stat(filepath.Join(fs.Dir, "p")); !os.IsNotExist(err) {
		t.Errorf("the project's directory is left: %v", err)
	}
	if err := fs.Remove("p"); err != nil {
		t.Errorf("second remove: %v", err)
	}
}

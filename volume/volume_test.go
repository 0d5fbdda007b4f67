package volume

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/gocompose/gocompose/internal/mounts"
	"golang.org/x/sys/unix"
)

func TestParseMountOptions(t *testing.T) {
	for _, tc := range []struct {
		o     string
		flags uintptr
		data  string
	}{
		{"bind", unix.MS_BIND, ""},
		{"rbind,ro", unix.MS_BIND | unix.MS_REC | unix.MS_RDONLY, ""},
		{"size=100m,uid=1000,noexec", unix.MS_NOEXEC, "size=100m,uid=1000"},
		{"", 0, ""},
		{"mode=0700,nosuid,nodev", unix.MS_NOSUID | unix.MS_NODEV, "mode=0700"},
	} {
		flags, data := parseMountOptions(tc.o)
		if flags != tc.flags || data != tc.data {
			t.Errorf("%q: got %#x %q, want %#x %q", tc.o, flags, data, tc.flags, tc.data)
		}
	}
}

func TestStore(t *testing.T) {
	s := &Store{Dir: t.TempDir()}
	if _, err := s.Get("data"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing volume: %v", err)
	}
	created, err := s.Ensure(Meta{Name: "p_data", Project: "p", Volume: "data", Labels: map[string]string{"k": "v"}})
	if err != nil || !created {
		t.Fatalf("ensure: %v %v", created, err)
	}
	if created, err := s.Ensure(Meta{Name: "p_data"}); err != nil || created {
		t.Errorf("second ensure made it again: %v %v", created, err)
	}
	m, err := s.Get("p_data")
	if err != nil || m.Project != "p" || m.Labels["k"] != "v" {
		t.Fatalf("get: %+v %v", m, err)
	}
	if err := os.WriteFile(filepath.Join(s.DataDir("p_data"), "row"), []byte("1"), 0o644); err != nil {
		t.Fatal(err)
	}
	if s.NameOf(s.DataDir("p_data")) != "p_data" || s.NameOf("/srv/conf") != "" {
		t.Error("NameOf")
	}
	// Anonymous volumes: named by container and target; detached under a
	// fresh name with their data.
	anon := AnonymousName("p-db-1", "/scratch")
	if anon != AnonymousName("p-db-1", "/scratch") || anon == AnonymousName("p-db-2", "/scratch") || len(anon) != 64 {
		t.Errorf("anonymous names %s", anon)
	}
	if _, err := s.Ensure(Meta{Name: anon, Anonymous: true}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.DataDir(anon), "tmp"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	m, _ = s.Get(anon)
	moved, err := s.Detach(m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(anon); !errors.Is(err, ErrNotFound) {
		t.Error("the detached name still exists")
	}
	if b, err := os.ReadFile(filepath.Join(s.DataDir(moved), "tmp")); err != nil || string(b) != "x" {
		t.Errorf("detached data: %v", err)
	}
	if m, err := s.Get(moved); err != nil || m.Name != moved || !m.Anonymous {
		t.Errorf("detached record %+v %v", m, err)
	}
	list, err := s.List()
	if err != nil || len(list) != 2 {
		t.Fatalf("list %+v %v", list, err)
	}
	// A record that does not read is named, the rest still listed.
	if err := os.MkdirAll(filepath.Join(s.Dir, "broken"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.Dir, "broken", "meta.json"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if list, err := s.List(); len(list) != 2 || err == nil {
		t.Errorf("list with a broken record: %d volumes, %v", len(list), err)
	}
	if err := s.Delete("p_data"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir, "p_data")); !errors.Is(err, os.ErrNotExist) {
		t.Error("delete left the directory")
	}
}

// driver_opts: a tmpfs and a bind of a host directory are mounted on
// _data; delete unmounts and never removes through a bind.
func TestDriverOptsMounts(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root")
		}
		t.Skip("needs root: mounts")
	}
	s := &Store{Dir: t.TempDir()}
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "keep"), []byte("host data"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, m := range []Meta{
		{Name: "tmp", DriverOpts: map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}},
		{Name: "bind", DriverOpts: map[string]string{"type": "none", "device": host, "o": "bind"}},
	} {
		if _, err := s.Ensure(m); err != nil {
			t.Fatal(err)
		}
		if err := s.Mount(m); err != nil {
			t.Fatal(err)
		}
		if err := s.Mount(m); err != nil { // mounted already: nothing to do
			t.Fatal(err)
		}
		if ok, err := mounts.IsMountpoint(s.DataDir(m.Name)); err != nil || !ok {
			t.Fatalf("%s not mounted: %v", m.Name, err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(s.DataDir("bind"), "keep")); err != nil || string(b) != "host data" {
		t.Errorf("bind volume: %v", err)
	}
	for _, n := range []string{"tmp", "bind"} {
		if err := s.Delete(n); err != nil {
			t.Fatal(err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(host, "keep")); err != nil || string(b) != "host data" {
		t.Fatalf("deleting a bind volume reached the host directory: %v", err)
	}
	if err := s.Mount(Meta{Name: "x", DriverOpts: map[string]string{"type": "nfs", "o": "addr=1"}}); err == nil {
		t.Error("an nfs volume was accepted")
	}
}

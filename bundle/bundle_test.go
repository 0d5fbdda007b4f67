package bundle

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func sample(t *testing.T) []byte {
	t.Helper()
	blobs := map[string][]byte{}
	m := &Manifest{Project: "p", Files: map[string]File{}, Blobs: map[string]int64{}}
	files := map[string][]byte{"compose.yaml": []byte("services: {}\n"), "secrets/db": []byte("pw")}
	for p, b := range files {
		mode := uint32(0o644)
		if p == "secrets/db" {
			mode = 0o600
		}
		m.Files[p] = File{Digest: Digest(b), Size: int64(len(b)), Mode: mode}
	}
	for _, b := range [][]byte{[]byte("layer one"), []byte("config")} {
		blobs[Digest(b)] = b
		m.Blobs[Digest(b)] = int64(len(b))
	}
	var out bytes.Buffer
	if err := Write(&out, m, files, func(d string, w io.Writer) error { _, err := w.Write(blobs[d]); return err }); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestExtractChecksEverything(t *testing.T) {
	b := sample(t)
	dir := t.TempDir()
	m, err := Extract(bytes.NewReader(b), filepath.Join(dir, "ok"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Project != "p" || len(m.Files) != 2 || len(m.Blobs) != 2 {
		t.Errorf("manifest %+v", m)
	}
	if fi, err := os.Stat(filepath.Join(dir, "ok", "project", "secrets", "db")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("secret file: %v %v", fi, err)
	}
	if got, _ := ReadManifest(bytes.NewReader(b)); got == nil || got.Project != "p" {
		t.Errorf("ReadManifest: %+v", got)
	}
	// Cut anywhere, or one byte changed: refused.
	last := bytes.LastIndex(b, []byte("layer one"))
	if last < 0 {
		last = bytes.LastIndex(b, []byte("config"))
	}
	for i, bad := range [][]byte{b[:len(b)/2], b[:last+3], flip(b, last+2), flip(b, bytes.Index(b, []byte("services")))} {
		if _, err := Extract(bytes.NewReader(bad), filepath.Join(dir, fmt.Sprint(i))); !errors.Is(err, ErrInvalid) {
			t.Errorf("damaged bundle %d: %v", i, err)
		}
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0xff
	return c
}

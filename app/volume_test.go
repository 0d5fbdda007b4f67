package app

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/gocompose/gocompose/internal/golden"
	"github.com/gocompose/gocompose/model"
)

// TestVolumesToMounts checks what a service's volumes become before the
// runtime sees them: named volumes and anonymous ones as binds of their
// directories (with copy-up when empty, unless nocopy), binds and tmpfs
// as written, and volumes_from's inherited mounts.
func TestVolumesToMounts(t *testing.T) {
	const yaml = `services:
  data:
    image: busybox
    volumes:
      - shared:/shared
      - /anon
      - ./host:/host:ro
      - type: volume
        source: seeded
        target: /seeded
        volume: {nocopy: true}
      - type: tmpfs
        target: /tmp
        tmpfs: {size: 1048576}
  reader:
    image: busybox
    volumes_from: ["data:rw"]
    volumes:
      - other:/shared
volumes:
  shared:
  seeded:
  other:
    name: custom-name
`
	p, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  "/project",
		ConfigFiles: []types.ConfigFile{{Filename: "compose.yaml", Content: []byte(yaml)}},
		Environment: types.Mapping{},
	}, func(o *loader.Options) { o.SetProjectName("p", true) })
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	a := &App{Engine: newFakeEngine(), RootDir: root, StateDir: t.TempDir(), Err: io.Discard}
	if err := a.ensureVolumes(p, p, false); err != nil {
		t.Fatal(err)
	}
	type result struct {
		Mounts    []model.Mount
		CopyUp    []string
		Inherited []string
	}
	out := map[string]result{}
	for _, name := range []string{"data", "reader"} {
		svc := p.Services[name]
		mounts, copyUp, _, err := a.volumeMounts(p, svc, containerID(p.Name, svc, 1))
		if err != nil {
			t.Fatal(err)
		}
		from, inherited, err := a.volumesFrom(context.Background(), p, svc)
		if err != nil {
			t.Fatal(err)
		}
		r := result{Mounts: append(mounts, from...), Inherited: inherited}
		for _, c := range copyUp {
			r.CopyUp = append(r.CopyUp, c.Target+" <- "+c.HostDir)
		}
		out[name] = r
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden.Assert(t, "volumes-to-mounts.json", []byte(strings.ReplaceAll(string(b), root, "$ROOT")+"\n"))
}

func TestParseVolumesFrom(t *testing.T) {
	for _, tc := range []struct {
		in        string
		container bool
		name      string
		mode      string
		bad       bool
	}{
		{"db", false, "db", "", false},
		{"db:ro", false, "db", "ro", false},
		{"container:abc:rw", true, "abc", "rw", false},
		{"container:abc", true, "abc", "", false},
		{"db:rx", false, "", "", true},
		{"container:", false, "", "", true},
	} {
		c, n, m, err := parseVolumesFrom(tc.in)
		if (err != nil) != tc.bad || c != tc.container || n != tc.name || m != tc.mode {
			t.Errorf("%q: got %v %q %q %v", tc.in, c, n, m, err)
		}
	}
}

package app

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gocompose/gocompose/spec"
)

func TestConfigVariables(t *testing.T) {
	dir := t.TempDir()
	file := "services:\n  web:\n    image: \"busybox:${TAG:-latest}\"\n    environment:\n      DB: ${DB_HOST:?set DB_HOST}\n      MODE: ${MODE:+on}\n"
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(file), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := spec.LoadUnchecked(context.Background(), spec.Options{ProjectDirectory: dir, NoInterpolate: true})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	a := &App{Out: &out}
	if err := a.Config(p, ConfigOptions{Variables: true}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "NAME") || !strings.Contains(lines[0], "ALTERNATE VALUE") {
		t.Fatalf("table:\n%s", out.String())
	}
	for i, want := range [][]string{{"DB_HOST", "true"}, {"MODE", "false", "on"}, {"TAG", "false", "latest"}} {
		if f := strings.Fields(lines[i+1]); len(f) < len(want) || f[0] != want[0] || f[1] != want[1] || len(want) > 2 && f[2] != want[2] {
			t.Errorf("row %q, want %v", lines[i+1], want)
		}
	}
	out.Reset()
	if err := a.Config(p, ConfigOptions{Variables: true, Format: "json", FormatGiven: true}); err != nil || !strings.Contains(out.String(), `"TAG":{"Name":"TAG","DefaultValue":"latest"`) {
		t.Errorf("json: %v %s", err, out.String())
	}
}

func TestResolveAndLockImageDigests(t *testing.T) {
	e := newFakeEngine("busybox")
	a, out, _ := fakeApp(t, e)
	p := load(t, "services:\n  web: {image: busybox}\n  api: {image: \"busybox@sha256:0000000000000000000000000000000000000000000000000000000000000000\"}\n")
	q, err := a.ResolveImageDigests(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	d := e.images[norm("busybox")].Digest
	if got := q.Services["web"].Image; got != "busybox:latest@"+d {
		t.Errorf("web pinned to %q, want busybox:latest@%s", got, d)
	}
	if got := q.Services["api"].Image; got != p.Services["api"].Image {
		t.Errorf("a pinned image was changed: %q", got)
	}
	if err := a.Config(q, ConfigOptions{LockImages: true}); err != nil {
		t.Fatal(err)
	}
	if s := out.String(); !strings.HasPrefix(s, "services:\n") || strings.Contains(s, "name:") || !strings.Contains(s, "image: busybox:latest@"+d) {
		t.Errorf("lock file:\n%s", s)
	}
	if _, err := a.ResolveImageDigests(context.Background(), load(t, "services:\n  x: {image: nothere}\n")); err == nil || !strings.Contains(err.Error(), "pull or build it first") {
		t.Errorf("a missing image: %v", err)
	}
}

func TestStatsTemplates(t *testing.T) {
	rows := []statsRow{{ID: "abc", Name: "p-web-1", CPUPerc: "1.50%", MemUsage: "1MiB / 2MiB", PIDs: "3"}}
	var out bytes.Buffer
	if err := printStats(&out, rows, "{{.Name}} {{.CPUPerc}} {{.PIDs}}"); err != nil || out.String() != "p-web-1 1.50% 3\n" {
		t.Errorf("template: %q %v", out.String(), err)
	}
	out.Reset()
	if err := printStats(&out, rows, "table {{.Name}}\t{{.MemUsage}}"); err != nil || !strings.HasPrefix(out.String(), "NAME ") || !strings.Contains(out.String(), "1MiB / 2MiB") {
		t.Errorf("table template: %q %v", out.String(), err)
	}
	if err := printStats(&out, rows, "{{.Nope"); err == nil {
		t.Error("a template that does not parse was accepted")
	}
}

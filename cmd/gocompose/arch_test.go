package main

import (
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/gocompose/gocompose/"

// imports lists the gocompose packages a package's non-test files import.
func imports(t *testing.T, pkg string) map[string]bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", pkg, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("package %s: %v", pkg, err)
	}
	out := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, im := range af.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			if rest, ok := strings.CutPrefix(p, module); ok {
				out[rest] = true
			}
		}
	}
	return out
}

// The import directions the README's Layout section states.
func TestImportDirections(t *testing.T) {
	for _, pkg := range []string{"model", "scheduler", "spec", "dns", "doctor", "bundle", "display", "logdriver"} {
		for im := range imports(t, pkg) {
			t.Errorf("%s imports %s: it imports no gocompose package", pkg, im)
		}
	}
	for im := range imports(t, "kube") {
		if im != "spec" && im != "bridge" {
			t.Errorf("kube imports %s: it needs only spec and bridge", im)
		}
	}
	for im := range imports(t, "bridge") {
		if im != "internal/helper" {
			t.Errorf("bridge imports %s: it needs only internal/helper", im)
		}
	}
	if imports(t, "runtime")["network"] || imports(t, "network")["runtime"] {
		t.Error("runtime and network import each other")
	}
	for _, pkg := range []string{"volume", "secret"} {
		for im := range imports(t, pkg) {
			if im != "internal/mounts" {
				t.Errorf("%s imports %s: it needs only internal/mounts", pkg, im)
			}
		}
	}
	entries, err := os.ReadDir(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") || e.Name() == "cmd" {
			continue
		}
		if fs, _ := filepath.Glob(filepath.Join("..", "..", e.Name(), "*.go")); len(fs) == 0 {
			continue
		}
		for im := range imports(t, e.Name()) {
			if strings.HasPrefix(im, "cmd") {
				t.Errorf("%s imports %s", e.Name(), im)
			}
		}
	}
}

// gocompose-logger runs once per container: it links the standard library,
// containerd's logging package and x/sys only, so it stays small.
func TestLoggerLinksLittle(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "../gocompose-logger").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	// The log drivers' own libraries: the journal's and fluentd's msgpack
	// encoder (fluent-logger-golang would bring crypto/tls: about 2 MiB
	// more memory for every container's driver, measured).
	allowed := []string{"github.com/containerd/containerd/v2/core/runtime/v2/logging", "golang.org/x/sys/unix",
		"github.com/coreos/go-systemd/v22/journal", "github.com/tinylib/msgp/msgp", "github.com/philhofer/fwd",
		module + "logdriver", module + "cmd/gocompose-logger"}
	for _, p := range strings.Fields(string(out)) {
		if first, _, _ := strings.Cut(p, "/"); !strings.Contains(first, ".") || slices.Contains(allowed, p) {
			continue
		}
		t.Errorf("gocompose-logger links %s", p)
	}
}

// gocompose-supervisor, the long-lived per-host process, links none of the
// heavy clients only the CLI needs: the compose loader, BuildKit, the
// Kubernetes API types, the docker CLI's config and plugins, cobra.
func TestSupervisorLinksNoCLIClients(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "../gocompose-supervisor").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	banned := []string{"github.com/compose-spec/compose-go/v2/loader", "github.com/moby/buildkit/client", "k8s.io/api/core/v1",
		"github.com/docker/cli/cli/config", "github.com/spf13/cobra", module + "app", module + "spec", module + "kube", module + "build"}
	deps := strings.Fields(string(out))
	for _, b := range banned {
		if slices.Contains(deps, b) {
			t.Errorf("gocompose-supervisor links %s", b)
		}
	}
}

// The CLI links neither BuildKit's client nor the Kubernetes API types:
// builds run in gocompose-build and bridge convert's conversion in
// gocompose-bridge, so the other commands do not load them (about 5 MiB
// of resident pages each, measured by the bench's rss mode).
func TestCLILinksNoBuildKitOrKubernetes(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	for _, b := range []string{"github.com/moby/buildkit/client", "github.com/moby/buildkit/session", "github.com/tonistiigi/fsutil", module + "build/buildkit",
		"k8s.io/api/core/v1", "k8s.io/apimachinery/pkg/runtime", "sigs.k8s.io/yaml", module + "kube"} {
		if slices.Contains(deps, b) {
			t.Errorf("gocompose links %s", b)
		}
	}
	out, err = exec.Command("go", "list", "-deps", "../gocompose-build").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	if !slices.Contains(strings.Fields(string(out)), "github.com/moby/buildkit/client") {
		t.Error("gocompose-build does not link BuildKit's client")
	}
	out, err = exec.Command("go", "list", "-deps", "../gocompose-bridge").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	if !slices.Contains(strings.Fields(string(out)), module+"kube") {
		t.Error("gocompose-bridge does not link package kube")
	}
}

package app

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/gocompose/gocompose/internal/labels"
)

const buildProject = `
services:
  base:
    build:
      context: ./base
  app:
    build:
      context: ./app
      target: final
      args: {GREETING: hi}
      labels: {org.example.by: gocompose}
      tags: ["registry.example/app:1"]
      additional_contexts:
        base: service:base
    depends_on: [db]
  db:
    image: busybox
  other:
    build: ./other
`

func buildApp(t *testing.T) (*App, *fakeEngine, *fakeBuilder) {
	t.Helper()
	e := newFakeEngine("busybox")
	a, _, _ := fakeApp(t, e)
	b := &fakeBuilder{e: e, fail: map[string]error{}}
	a.Builder = b
	return a, e, b
}

func TestBuildOrderAndRequest(t *testing.T) {
	a, _, b := buildApp(t)
	p := load(t, buildProject)
	if err := a.Build(context.Background(), p, BuildOptions{Services: []string{"app"}, Args: []string{"EXTRA=1"}}); err != nil {
		t.Fatal(err)
	}
	// app builds from base's image: base first, nothing else.
	if got := b.built(); !slices.Equal(got, []string{"p-base:latest", "p-app:latest"}) {
		t.Fatalf("built %v", got)
	}
	req := b.reqs[1]
	if req.Target != "final" || req.Args["GREETING"] != "hi" || req.Args["EXTRA"] != "1" || req.Labels["org.example.by"] != "gocompose" ||
		!slices.Contains(req.Tags, "registry.example/app:1") || !strings.HasSuffix(req.Context, "/app") ||
		req.AdditionalContexts["base"] != "docker-image://p-base" {
		t.Errorf("request %+v", req)
	}
}

func TestBuildFailureOfABaseStopsItsDependents(t *testing.T) {
	a, _, b := buildApp(t)
	b.fail["docker.io/library/p-base:latest"] = errors.New("RUN exit 3")
	err := a.Build(context.Background(), load(t, buildProject), BuildOptions{Services: []string{"app"}})
	if err == nil || !strings.Contains(err.Error(), "RUN exit 3") {
		t.Fatalf("build: %v", err)
	}
	if got := b.built(); !slices.Equal(got, []string{"p-base:latest"}) {
		t.Errorf("app built although its base failed: %v", got)
	}
}

// up SERVICE builds what that service and its dependencies need, not the
// file's other services.
func TestUpBuildsOnlyTheSelection(t *testing.T) {
	a, e, b := buildApp(t)
	p := load(t, buildProject)
	if err := a.Up(context.Background(), p, UpOptions{Services: []string{"app"}, Detach: true}); err != nil {
		t.Fatal(err)
	}
	got := b.built()
	slices.Sort(got)
	if !slices.Equal(got, []string{"p-app:latest", "p-base:latest"}) {
		t.Errorf("up app built %v", got)
	}
	if e.containers["p-app-1"] == nil || e.containers["p-other-1"] != nil {
		t.Errorf("containers %v", e.containers)
	}
	// Built again with --build, the new image recreates the container.
	b.reqs = nil
	hash := e.containers["p-app-1"].Labels[labels.ConfigHash]
	if err := a.Up(context.Background(), p, UpOptions{Services: []string{"app"}, Detach: true, Build: true, NoDeps: true}); err != nil {
		t.Fatal(err)
	}
	// --build rebuilds what app's build takes too, as Docker Compose
	// (which sets pull_policy: build on every service with a build).
	if got := b.built(); !slices.Equal(got, []string{"p-base:latest", "p-app:latest"}) {
		t.Errorf("up --build --no-deps app built %v", got)
	}
	if e.containers["p-app-1"].Labels[labels.ConfigHash] == hash {
		t.Error("a rebuilt image did not recreate the container")
	}
	// --no-build with a missing image is refused by name.
	delete(e.images, norm("p-other"))
	err := a.Up(context.Background(), p, UpOptions{Services: []string{"other"}, Detach: true, NoBuild: true})
	if err == nil || !strings.Contains(err.Error(), "service other: image p-other is missing and --no-build was given") {
		t.Errorf("--no-build: %v", err)
	}
}

func TestImageCommands(t *testing.T) {
	a, e, _ := upThreeTier(t)
	var out strings.Builder
	a.Out = &out
	ctx := context.Background()
	e.images[norm("localhost/unused:1")] = fakeImage("localhost/unused:1")
	if err := a.ImageLs(ctx, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "REPOSITORY") || !strings.Contains(out.String(), "localhost/unused") || !strings.Contains(out.String(), "busybox") {
		t.Errorf("image ls:\n%s", out.String())
	}
	out.Reset()
	if err := a.ImageTag(ctx, "busybox", "localhost/mine:2"); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.images[norm("localhost/mine:2")]; !ok {
		t.Error("tag made no image")
	}
	if err := a.ImageRm(ctx, []string{"localhost/mine:2"}, false); err != nil {
		t.Fatal(err)
	}
	if err := a.ImageRm(ctx, []string{"busybox"}, false); err == nil {
		t.Error("rm of an image in use succeeded")
	}
	out.Reset()
	if err := a.ImagePrune(ctx, true); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "localhost/unused:1") || strings.Contains(out.String(), "busybox") {
		t.Errorf("image prune -a:\n%s", out.String())
	}
	out.Reset()
	if err := a.Images(ctx, load(t, threeTier), nil, false, ""); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out.String(), "\n")
	if strings.Join(strings.Fields(lines[0]), " ") != "CONTAINER REPOSITORY TAG PLATFORM IMAGE ID SIZE CREATED" ||
		!strings.Contains(lines[1], "linux/amd64") || strings.Count(out.String(), "busybox") != 4 {
		t.Errorf("images:\n%s", out.String())
	}
	out.Reset()
	if err := a.Images(ctx, load(t, threeTier), []string{"web"}, false, "json"); err != nil {
		t.Fatal(err)
	}
	var imgs []struct{ ID, ContainerName, Repository, Tag string }
	if err := json.Unmarshal([]byte(out.String()), &imgs); err != nil || len(imgs) != 1 || imgs[0].ContainerName != "p-web-1" ||
		imgs[0].Repository != "busybox" || imgs[0].Tag != "latest" || !strings.HasPrefix(imgs[0].ID, "sha256:") {
		t.Errorf("images --format json %v: %s", err, out.String())
	}
	if err := a.Images(ctx, load(t, threeTier), nil, false, "yaml"); err == nil {
		t.Error("images --format yaml accepted")
	}
	out.Reset()
	if err := a.ImageSave(ctx, &out, []string{"busybox"}); err != nil || !strings.Contains(out.String(), "busybox") {
		t.Errorf("save: %v %q", err, out.String())
	}
}

func TestDownRmiLocal(t *testing.T) {
	a, e, _ := buildApp(t)
	p := load(t, buildProject)
	if err := a.Up(context.Background(), p, UpOptions{Detach: true}); err != nil {
		t.Fatal(err)
	}
	if err := a.Down(context.Background(), p, DownOptions{Rmi: "local"}); err != nil {
		t.Fatal(err)
	}
	// Images built without an image: name go; busybox stays.
	if _, ok := e.images[norm("p-app")]; ok {
		t.Error("down --rmi local kept a built image")
	}
	if _, ok := e.images[norm("busybox")]; !ok {
		t.Error("down --rmi local removed a pulled image")
	}
	if err := a.Down(context.Background(), p, DownOptions{Rmi: "some"}); err == nil {
		t.Error("--rmi some accepted")
	}
}

func TestPullAndPush(t *testing.T) {
	e := newFakeEngine()
	e.registry["redis:7"] = fakeImage("redis:7")
	a, _, _ := fakeApp(t, e)
	p := load(t, "services:\n  cache:\n    image: redis:7\n  missing:\n    image: nope:1\n")
	if err := a.Pull(context.Background(), p, PullOptions{Services: []string{"cache"}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.images[norm("redis:7")]; !ok {
		t.Fatal("pull made no image")
	}
	if err := a.Pull(context.Background(), p, PullOptions{Services: []string{"missing"}}); err == nil {
		t.Error("pull of a missing image succeeded")
	}
	if err := a.Pull(context.Background(), p, PullOptions{Services: []string{"missing"}, IgnoreFailures: true}); err != nil {
		t.Errorf("--ignore-pull-failures: %v", err)
	}
}

func TestBuildPush(t *testing.T) {
	a, e, _ := buildApp(t)
	p := load(t, `
services:
  app:
    image: registry.example/app:2
    build:
      context: ./app
      tags: ["registry.example/app:latest"]
`)
	if err := a.Build(context.Background(), p, BuildOptions{Push: true}); err != nil {
		t.Fatal(err)
	}
	if got := e.opsOf("push"); !slices.Equal(got, []string{"registry.example/app:2", "registry.example/app:latest"}) {
		t.Errorf("build --push pushed %v", got)
	}
}

// build --print writes the build definitions as the bake file Docker
// Compose prints, builds nothing, and needs no builder.
func TestBuildPrintBakeFile(t *testing.T) {
	a, _, b := buildApp(t)
	a.Builder = nil
	var out strings.Builder
	a.Out = &out
	p := load(t, buildProject)
	if err := a.Build(context.Background(), p, BuildOptions{Services: []string{"app"}, Args: []string{"EXTRA=1"}, Print: true}); err != nil {
		t.Fatal(err)
	}
	if len(b.built()) != 0 {
		t.Errorf("build --print built %v", b.built())
	}
	var f struct {
		Group  map[string]struct{ Targets []string } `json:"group"`
		Target map[string]struct {
			Context    string            `json:"context"`
			Contexts   map[string]string `json:"contexts"`
			Dockerfile string            `json:"dockerfile"`
			Args       map[string]string `json:"args"`
			Labels     map[string]string `json:"labels"`
			Tags       []string          `json:"tags"`
			Target     string            `json:"target"`
			Output     []string          `json:"output"`
		} `json:"target"`
	}
	if err := json.Unmarshal([]byte(out.String()), &f); err != nil {
		t.Fatalf("not a bake file: %v\n%s", err, out.String())
	}
	if g := f.Group["default"].Targets; !slices.Equal(g, []string{"base", "app"}) && !slices.Equal(g, []string{"app", "base"}) {
		t.Errorf("group default: %v", g)
	}
	if _, ok := f.Target["other"]; !ok || len(f.Target) != 3 {
		t.Errorf("every service with a build is a target: %v", slices.Sorted(maps.Keys(f.Target)))
	}
	app := f.Target["app"]
	if !strings.HasSuffix(app.Context, "/app") || app.Dockerfile != app.Context+"/Dockerfile" || app.Target != "final" ||
		app.Args["GREETING"] != "hi" || app.Args["EXTRA"] != "1" || app.Contexts["base"] != "target:base" ||
		!slices.Equal(app.Tags, []string{"registry.example/app:1", "p-app"}) || !slices.Equal(app.Output, []string{"type=docker"}) ||
		app.Labels["org.example.by"] != "gocompose" || app.Labels[labels.Project] != "p" || app.Labels[labels.Service] != "app" {
		t.Errorf("target app: %+v", app)
	}
}

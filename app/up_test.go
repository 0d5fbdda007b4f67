package app

import (
	"context"
	"errors"
	"github.com/gocompose/gocompose/spec"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gocompose/gocompose/internal/health"
	"github.com/gocompose/gocompose/internal/labels"
	"github.com/gocompose/gocompose/model"
	"github.com/gocompose/gocompose/runtime"
)

const threeTier = `
services:
  db:
    image: busybox
    environment: {ROLE: db}
  web:
    image: busybox
    depends_on: [db]
    labels: {org.example.tier: front}
  worker:
    image: busybox
    scale: 2
    depends_on:
      db: {condition: service_started}
`

// index returns where s is in list, -1 when absent.
func index(list []string, s string) int { return slices.Index(list, s) }

func TestUpCreatesInOrderWithComposeLabelsAndIsIdempotent(t *testing.T) {
	e := newFakeEngine("busybox")
	a, _, errb := fakeApp(t, e)
	p := load(t, threeTier)
	if err := a.Up(context.Background(), p, UpOptions{Detach: true}); err != nil {
		t.Fatal(err)
	}
	created := e.opsOf("create")
	slices.Sort(created)
	if want := []string{"p-db-1", "p-web-1", "p-worker-1", "p-worker-2"}; !slices.Equal(created, want) {
		t.Fatalf("created %v, want %v", created, want)
	}
	started := e.opsOf("start")
	for _, dep := range []string{"p-web-1", "p-worker-1", "p-worker-2"} {
		if index(started, "p-db-1") > index(started, dep) {
			t.Errorf("%s started before its dependency db: %v", dep, started)
		}
	}
	// One resolution of the image the three services share, not one per
	// service, replica or step.
	if n := len(e.opsOf("resolve")); n != 1 {
		t.Errorf("image resolved %d times for 3 services of one image", n)
	}
	for _, line := range []string{" Container p-db-1 Creating", " Container p-db-1 Created", " Container p-web-1 Started", " Container p-worker-2 Started"} {
		if !strings.Contains(errb.String(), line+" \n") {
			t.Errorf("progress lacks %q:\n%s", line, errb)
		}
	}
	web := e.containers["p-web-1"]
	for k, want := range map[string]string{
		labels.Project: "p", labels.Service: "web", labels.ContainerNumber: "1", labels.OneOff: "False",
		labels.DependsOn: "db:service_started:false", labels.Image: "busybox", "org.example.tier": "front",
	} {
		if got := web.Labels[k]; got != want {
			t.Errorf("label %s = %q, want %q", k, got, want)
		}
	}
	if web.Image.Digest != e.images[norm("busybox")].Digest || web.Labels[labels.ConfigHash] == "" {
		t.Errorf("web image %+v hash %q", web.Image, web.Labels[labels.ConfigHash])
	}

	// Nothing changed: a second up makes nothing.
	errb.Reset()
	e.ops = nil
	if err := a.Up(context.Background(), p, UpOptions{Detach: true}); err != nil {
		t.Fatal(err)
	}
	if c := e.opsOf("create"); len(c) != 0 {
		t.Errorf("second up created %v", c)
	}
	if !strings.Contains(errb.String(), " Container p-web-1 Running \n") {
		t.Errorf("second up output:\n%s", errb)
	}
}

func TestUpRecreatesWhatChanged(t *testing.T) {
	e := newFakeEngine("busybox")
	a, _, errb := fakeApp(t, e)
	if err := a.Up(context.Background(), load(t, threeTier), UpOptions{Detach: true}); err != nil {
		t.Fatal(err)
	}
	oldHash := e.containers["p-db-1"].Labels[labels.ConfigHash]
	errb.Reset()
	e.ops = nil
	changed := strings.Replace(threeTier, "ROLE: db", "ROLE: primary", 1)
	if err := a.Up(context.Background(), load(t, changed), UpOptions{Detach: true}); err != nil {
		t.Fatal(err)
	}
	if got := e.opsOf("create"); !slices.Equal(got, []string{"p-db-1"}) {
		t.Errorf("recreated %v, want only db", got)
	}
	db := e.containers["p-db-1"]
	if db.Labels[labels.ConfigHash] == oldHash || db.Service.Environment["ROLE"] == nil || *db.Service.Environment["ROLE"] != "primary" {
		t.Errorf("db not recreated with the new config: %v", db.Service.Environment)
	}
	for _, line := range []string{" Container p-db-1 Recreate", " Container p-db-1 Recreated"} {
		if !strings.Contains(errb.String(), line+" \n") {
			t.Errorf("progress lacks %q:\n%s", line, errb)
		}
	}
	// A new image digest recreates too, as a rebuilt image does.
	e.ops = nil
	img := e.images[norm("busybox")]
	img.Digest = "sha256:" + strings.Repeat("b", 64)
	e.images[norm("busybox")] = img
	if err := a.Up(context.Background(), load(t, changed), UpOptions{Detach: true}); err != nil {
		t.Fatal(err)
	}
	if got := e.opsOf("create"); len(got) != 4 {
		t.Errorf("a new image recreated %v, want all four", got)
	}
}

func TestUpFailedDependencyStartsNoDependent(t *testing.T) {
	e := newFakeEngine("busybox")
	e.fail["start p-db-1"] = errors.New("runc: boom")
	a, _, _ := fakeApp(t, e)
	err := a.Up(context.Background(), load(t, threeTier), UpOptions{Detach: true})
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("up: %v", err)
	}
	if started := e.opsOf("start"); !slices.Equal(started, []string{"p-db-1"}) {
		t.Errorf("started %v after db failed", started)
	}
}

func TestUpMissingImageMakesNothing(t *testing.T) {
	e := newFakeEngine("busybox")
	a, _, _ := fakeApp(t, e)
	p := load(t, threeTier+`
  cache:
    image: redis:7
    pull_policy: never
`)
	err := a.Up(context.Background(), p, UpOptions{Detach: true})
	if err == nil || !strings.Contains(err.Error(), "service cache: image redis:7 is not present") {
		t.Fatalf("up with a missing image: %v", err)
	}
	if c := e.opsOf("create"); len(c) != 0 {
		t.Errorf("created %v although an image was missing", c)
	}
	// An image gone between the pull and the create fails resolution,
	// naming the service, before anything is made.
	if _, err := a.resolve(context.Background(), p, p.Services["cache"]); !errors.Is(err, runtime.ErrImageNotFound) || !strings.Contains(err.Error(), "service cache") {
		t.Errorf("resolve of a missing image: %v", err)
	}
}

func TestUpPullsWhatIsMissing(t *testing.T) {
	e := newFakeEngine("busybox")
	e.registry["redis:7"] = fakeImage("redis:7")
	a, _, _ := fakeApp(t, e)
	p := load(t, "services:\n  cache:\n    image: redis:7\n")
	if err := a.Up(context.Background(), p, UpOptions{Detach: true}); err != nil {
		t.Fatal(err)
	}
	if got := e.opsOf("pull"); !slices.Equal(got, []string{"redis:7"}) {
		t.Errorf("pulled %v", got)
	}
	if e.containers["p-cache-1"].state != runtime.StateRunning {
		t.Error("cache not running")
	}
}

// service_healthy waits for the supervisor's verdict; unhealthy fails the
// dependent, which never starts.
func TestUpWaitsForHealthyDependency(t *testing.T) {
	yaml := `
services:
  db:
    image: busybox
    healthcheck: {test: ["CMD", "true"], interval: 1s}
  web:
    image: busybox
    depends_on:
      db: {condition: service_healthy}
`
	for _, verdict := range []string{health.Healthy, health.Unhealthy} {
		t.Run(verdict, func(t *testing.T) {
			e := newFakeEngine("busybox")
			a, _, progress := fakeApp(t, e)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			// The supervisor's part: judge db once it runs.
			go func() {
				for ctx.Err() == nil {
					if c, err := e.Inspect(ctx, "p-db-1"); err == nil && c.State == runtime.StateRunning {
						_ = health.Write(a.StateDir, e.Namespace(), "p-db-1", health.State{Status: verdict, StartedAt: c.StartedAt})
						return
					}
					time.Sleep(10 * time.Millisecond)
				}
			}()
			err := a.Up(ctx, load(t, yaml), UpOptions{Detach: true})
			started := e.opsOf("start")
			if verdict == health.Healthy {
				if err != nil || !slices.Equal(started, []string{"p-db-1", "p-web-1"}) {
					t.Fatalf("up: %v, started %v", err, started)
				}
				if e.containers["p-db-1"].Labels[health.Label] == "" {
					t.Error("db has no healthcheck label")
				}
				// Docker Compose's events for the dependency, in order.
				if got := progress.String(); !regexp.MustCompile(`(?s) Container p-db-1 Started .* Container p-db-1 Waiting .* Container p-db-1 Healthy .* Container p-web-1 Starting `).MatchString(got) {
					t.Errorf("progress:\n%s", got)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "p-db-1 is unhealthy") {
				t.Fatalf("up with an unhealthy dependency: %v", err)
			}
			if got := progress.String(); !strings.Contains(got, " Container p-db-1 Error dependency db failed to start ") {
				t.Errorf("progress:\n%s", got)
			}
			if slices.Contains(started, "p-web-1") {
				t.Error("web started although db is unhealthy")
			}
		})
	}
}

func TestUpWaitsForCompletedJob(t *testing.T) {
	yaml := `
services:
  migrate:
    image: busybox
  web:
    image: busybox
    depends_on:
      migrate: {condition: service_completed_successfully}
`
	for _, code := range []int{0, 3} {
		e := newFakeEngine("busybox")
		e.exitOnStart["migrate"] = code
		a, _, _ := fakeApp(t, e)
		err := a.Up(context.Background(), load(t, yaml), UpOptions{Detach: true})
		webStarted := slices.Contains(e.opsOf("start"), "p-web-1")
		if code == 0 && (err != nil || !webStarted) {
			t.Errorf("job exited 0: up %v, web started %v", err, webStarted)
		}
		if code != 0 && (err == nil || !strings.Contains(err.Error(), `service "migrate" didn't complete successfully: exit 3`) || webStarted) {
			t.Errorf("job exited 3: up %v, web started %v", err, webStarted)
		}
	}
}

func TestUpResolvesVolumesToHostPaths(t *testing.T) {
	e := newFakeEngine("busybox")
	a, _, _ := fakeApp(t, e)
	p := load(t, `
services:
  db:
    image: busybox
    volumes:
      - data:/var/lib/db
      - /srv/conf:/etc/db:ro
      - type: tmpfs
        target: /tmp
volumes:
  data:
`)
	if err := a.Up(context.Background(), p, UpOptions{Detach: true}); err != nil {
		t.Fatal(err)
	}
	db := e.containers["p-db-1"]
	want := []model.Mount{
		{Type: model.Bind, Source: a.volumeDir("p_data"), Target: "/var/lib/db"},
		{Type: model.Bind, Source: "/srv/conf", Target: "/etc/db", ReadOnly: true, CreateHostPath: true},
		{Type: model.Tmpfs, Target: "/tmp"},
	}
	if !slices.Equal(db.Mounts, want) {
		t.Errorf("mounts:\n got %+v\nwant %+v", db.Mounts, want)
	}
	if len(db.CopyUp) != 1 || db.CopyUp[0].Target != "/var/lib/db" {
		t.Errorf("an empty volume is not seeded from the image: %+v", db.CopyUp)
	}
	// compose-go's project is left as loaded.
	if p.Services["db"].Volumes[0].Type != "volume" {
		t.Errorf("the loaded project was rewritten: %+v", p.Services["db"].Volumes[0])
	}
}

// fakeDNS counts supervisor reloads.
type fakeDNS struct{ ensures, reloads atomic.Int32 }

func (d *fakeDNS) Ensure(context.Context) error { d.ensures.Add(1); return nil }
func (d *fakeDNS) Reload(context.Context) error { d.reloads.Add(1); return nil }

// One reload per service step on up (3 services here) and one for all of
// down, not one per container.
func TestDNSReloadsAreBatched(t *testing.T) {
	e := newFakeEngine("busybox")
	a, _, _ := fakeApp(t, e)
	d := &fakeDNS{}
	a.DNS = d
	p := load(t, threeTier)
	if err := a.Up(context.Background(), p, UpOptions{Detach: true}); err != nil {
		t.Fatal(err)
	}
	if n := d.reloads.Load(); n != 3 {
		t.Errorf("up of 4 containers in 3 services reloaded DNS %d times, want 3", n)
	}
	d.reloads.Store(0)
	if err := a.Down(context.Background(), p, DownOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := d.reloads.Load(); n != 1 {
		t.Errorf("down reloaded DNS %d times, want 1", n)
	}
}

// config --hash prints what up writes as the config-hash label.
func TestConfigHashIsTheLabel(t *testing.T) {
	a, e, _ := upThreeTier(t)
	var out strings.Builder
	a.Out = &out
	if err := a.ConfigHash(context.Background(), load(t, threeTier), []string{"web", "worker"}); err != nil {
		t.Fatal(err)
	}
	want := "web " + e.containers["p-web-1"].Labels[labels.ConfigHash] + "\n" +
		"worker " + e.containers["p-worker-2"].Labels[labels.ConfigHash] + "\n"
	if out.String() != want {
		t.Errorf("config --hash:\n%s\nwant\n%s", out.String(), want)
	}
	if err := a.ConfigHash(context.Background(), load(t, threeTier), []string{"nope"}); err == nil {
		t.Error("an unknown service was hashed")
	}
}

// A container whose snapshot a killed down removed is made again by the
// next up, not started (its start could only fail).
func TestUpRecreatesABrokenContainer(t *testing.T) {
	e := newFakeEngine("busybox")
	a, _, _ := fakeApp(t, e)
	p := load(t, "services:\n  web: {image: busybox}\n")
	if err := a.Up(context.Background(), p, UpOptions{Detach: true}); err != nil {
		t.Fatal(err)
	}
	c := e.containers["p-web-1"]
	c.state, c.broken = runtime.StateExited, true
	e.ops = nil
	if err := a.Up(context.Background(), p, UpOptions{Detach: true}); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(e.opsOf("remove"), "p-web-1") || !slices.Contains(e.opsOf("create"), "p-web-1") {
		t.Errorf("a broken container was not made again: %v", e.ops)
	}
}

func TestUpIgnoresEnvFilesOfServicesItDoesNotTouch(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte("services:\n  web:\n    image: busybox\n  tool:\n    image: busybox\n    env_file: missing.env\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := spec.Load(context.Background(), spec.Options{ProjectDirectory: dir})
	if err != nil {
		t.Fatal(err)
	}
	e := newFakeEngine("busybox")
	a, _, _ := fakeApp(t, e)
	if err := a.Up(context.Background(), p, UpOptions{Services: []string{"web"}, Detach: true}); err != nil {
		t.Fatalf("up web: %v", err)
	}
	if err := a.Up(context.Background(), p, UpOptions{Detach: true}); err == nil || !strings.Contains(err.Error(), "missing.env") {
		t.Errorf("up of every service: %v, want the missing env file", err)
	}
}

// recordingDisplay keeps the events a live display gets.
type recordingDisplay struct{ events []string }

func (d *recordingDisplay) Event(id, status, text string) {
	d.events = append(d.events, id+" "+text)
}
func (d *recordingDisplay) Progress(parent, id, status, text string, current, total int64) {
	d.events = append(d.events, parent+"/"+id+" "+text)
}
func (d *recordingDisplay) Pause()  {}
func (d *recordingDisplay) Resume() {}
func (d *recordingDisplay) Done()   {}

// As Docker Compose's live display, one for a command without --detach
// (an attached up, restart…) leaves the containers' Starting and Started
// out; everything else, and plain output, keep them.
func TestLiveDisplayHidesStarts(t *testing.T) {
	d := &recordingDisplay{}
	a, _, _ := fakeApp(t, newFakeEngine("busybox"))
	a.Display, a.HideStarts = d, true
	for _, s := range []string{"Restarting", "Starting", "Started", "Created"} {
		a.progress("Container", "p-web-1", s)
	}
	if got := strings.Join(d.events, ","); got != "Container p-web-1 Restarting,Container p-web-1 Created" {
		t.Errorf("events shown: %s", got)
	}
	a.HideStarts = false
	a.progress("Container", "p-web-1", "Started")
	if d.events[len(d.events)-1] != "Container p-web-1 Started" {
		t.Errorf("a detached command's Started was hidden: %v", d.events)
	}
}

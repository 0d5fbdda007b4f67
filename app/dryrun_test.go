package app

import (
	"context"
	"os"
	"strings"
	"testing"
)

// A dry run prints what the command would do, with Docker Compose's
// prefix, and changes nothing: no container, network, volume or image.
func TestDryRunUpChangesNothing(t *testing.T) {
	e := newFakeEngine("busybox")
	e.registry["redis:7"] = fakeImage("redis:7")
	a, _, errb := fakeApp(t, e)
	net := a.Net.(*fakeNet)
	a.Builder = &fakeBuilder{e: e, fail: map[string]error{}}
	a.DryRun()
	p := load(t, `
services:
  db:
    image: busybox
    volumes: [data:/var/lib/db, /scratch]
  cache:
    image: redis:7
  app:
    build: ./app
    depends_on: [db]
volumes:
  data:
`)
	if err := a.Up(context.Background(), p, UpOptions{Detach: true}); err != nil {
		t.Fatal(err)
	}
	if len(e.containers) != 0 || len(net.networks) != 0 || len(net.netns) != 0 || len(e.opsOf("pull")) != 0 {
		t.Fatalf("a dry run changed the engine: containers %v, networks %v, pulls %v", e.containers, net.networks, e.opsOf("pull"))
	}
	if _, ok := e.images[norm("p-app")]; ok {
		t.Error("a dry run built an image")
	}
	if _, err := os.Stat(a.volumeDir("p_data")); !os.IsNotExist(err) {
		t.Errorf("a dry run made the volume: %v", err)
	}
	for _, line := range []string{
		" DRY-RUN MODE -  Network p_default Created \n",
		" DRY-RUN MODE -  Volume p_data Created \n",
		" DRY-RUN MODE -  Container p-db-1 Created \n",
		" DRY-RUN MODE -  Container p-app-1 Started \n",
		" DRY-RUN MODE -  Container p-cache-1 Started \n",
	} {
		if !strings.Contains(errb.String(), line) {
			t.Errorf("dry run output lacks %q:\n%s", line, errb)
		}
	}
	// db before app, as a real up would.
	if i, j := strings.Index(errb.String(), "p-db-1 Started"), strings.Index(errb.String(), "p-app-1 Starting"); i < 0 || j < i {
		t.Errorf("order in the dry run:\n%s", errb)
	}
}

func TestDryRunDownKeepsEverything(t *testing.T) {
	a, e, out := upThreeTier(t)
	a.DryRun()
	if err := a.Down(context.Background(), load(t, threeTier), DownOptions{Volumes: true, Rmi: "all"}); err != nil {
		t.Fatal(err)
	}
	if len(e.containers) != 4 || e.containers["p-web-1"].state != "running" {
		t.Errorf("a dry down changed the containers: %v", e.containers)
	}
	if _, ok := e.images[norm("busybox")]; !ok {
		t.Error("a dry down removed an image")
	}
	if !strings.Contains(out.String(), " DRY-RUN MODE -  Container p-web-1 Removed \n") {
		t.Errorf("dry down output:\n%s", out)
	}
	// What it would do next sees the dry changes: a second dry down in the
	// same run finds nothing left to stop.
	out.Reset()
	if err := a.Stop(context.Background(), load(t, threeTier), nil, nil); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "Stopping") {
		t.Errorf("the dry run did not see its own removals:\n%s", out)
	}
}

package app

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gocompose/gocompose/internal/labels"
	"github.com/gocompose/gocompose/runtime"
)

const withVolume = `
services:
  db:
    image: busybox
    volumes: [data:/var/lib/db, /scratch]
volumes:
  data:
  spare:
`

func TestVolumesLifecycle(t *testing.T) {
	e := newFakeEngine("busybox")
	a, _, _ := fakeApp(t, e)
	var out strings.Builder
	a.Out = &out
	ctx := context.Background()
	p := load(t, withVolume)
	if err := a.Up(ctx, p, UpOptions{Detach: true}); err != nil {
		t.Fatal(err)
	}
	// Data a container wrote survives down without -v.
	if err := os.WriteFile(filepath.Join(a.volumeDir("p_data"), "row"), []byte("1"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := a.ProjectVolumes(p, nil, true, ""); err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(out.String()); !slices.Contains(got, "p_data") {
		t.Errorf("volumes -q: %v", got)
	}
	out.Reset()
	if err := a.ProjectVolumes(p, nil, false, `table {{.Name}}\t{{.Scope}}`); err != nil {
		t.Fatal(err)
	}
	if out.String() != "VOLUME NAME   SCOPE\np_data        local\n" {
		t.Errorf("volumes --format table: %q", out.String())
	}
	out.Reset()
	if err := a.ProjectVolumes(p, nil, false, "json"); err != nil {
		t.Fatal(err)
	}
	var v struct{ Name, Driver, Mountpoint string }
	if err := json.Unmarshal([]byte(out.String()), &v); err != nil || v.Name != "p_data" || v.Driver != "local" || v.Mountpoint != a.volumeDir("p_data") {
		t.Errorf("volumes --format json %v: %s", err, out.String())
	}
	if err := a.ProjectVolumes(p, nil, false, "xml"); err == nil {
		t.Error("volumes --format xml accepted")
	}
	out.Reset()
	if err := a.VolumeLs(false); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "DRIVER") || !strings.Contains(out.String(), "local") || !strings.Contains(out.String(), "p_data") {
		t.Errorf("volume ls:\n%s", out.String())
	}
	out.Reset()
	if err := a.VolumeInspect([]string{"p_data"}); err != nil {
		t.Fatal(err)
	}
	var inspected []map[string]any
	if err := json.Unmarshal([]byte(out.String()), &inspected); err != nil || len(inspected) != 1 || inspected[0]["Name"] != "p_data" {
		t.Errorf("volume inspect %v:\n%s", err, out.String())
	}
	// A volume in use is refused without --force.
	if err := a.VolumeRm(ctx, []string{"p_data"}, false); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("rm of a volume in use: %v", err)
	}
	if err := a.Down(ctx, p, DownOptions{}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(a.volumeDir("p_data"), "row")); err != nil || string(b) != "1" {
		t.Fatalf("down without -v lost the volume's data: %v", err)
	}
	before, err := a.volumes()
	if err != nil {
		t.Fatal(err)
	}
	// up again finds the named volume's data; the new container gets a
	// fresh anonymous volume, as in Docker (the old one is detached).
	if err := a.Up(ctx, p, UpOptions{Detach: true}); err != nil {
		t.Fatal(err)
	}
	if cu := e.containers["p-db-1"].CopyUp; len(cu) != 1 || cu[0].Target != "/scratch" {
		t.Errorf("seeded from the image: %+v, want only the fresh anonymous /scratch", cu)
	}
	// down -v removes the named volumes and the anonymous ones attached to
	// the containers; the detached one stays, as with Docker.
	if err := a.Down(ctx, p, DownOptions{Volumes: true}); err != nil {
		t.Fatal(err)
	}
	vs, err := a.volumes()
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, v := range vs {
		left = append(left, v.Name)
	}
	var detached []string
	for _, v := range before {
		if v.Name != "p_data" && v.Name != "p_spare" {
			detached = append(detached, v.Name)
		}
	}
	if !slices.Equal(left, detached) {
		t.Errorf("left after down -v: %v, want only the detached anonymous volume %v", left, detached)
	}
}

func TestVolumePrune(t *testing.T) {
	e := newFakeEngine("busybox")
	a, _, _ := fakeApp(t, e)
	var out strings.Builder
	a.Out = &out
	ctx := context.Background()
	p := load(t, withVolume)
	if err := a.Up(ctx, p, UpOptions{Detach: true, AllResources: true}); err != nil {
		t.Fatal(err)
	}
	// --all-resources made the unused volume too; prune -a removes it
	// and keeps what a container uses.
	if err := a.VolumePrune(ctx, true); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "p_spare") || strings.Contains(out.String(), "p_data") {
		t.Errorf("volume prune:\n%s", out.String())
	}
}

func TestNetworksListInspectPrune(t *testing.T) {
	e := newFakeEngine("busybox")
	a, _, _ := fakeApp(t, e)
	var out strings.Builder
	a.Out = &out
	ctx := context.Background()
	p := load(t, threeTier+"networks:\n  unused: {}\n")
	if err := a.Up(ctx, p, UpOptions{Detach: true, AllResources: true}); err != nil {
		t.Fatal(err)
	}
	if err := a.NetworkLs(ctx, false); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "NETWORK ID") || !strings.Contains(out.String(), "p_default") || !strings.Contains(out.String(), "p_unused") {
		t.Errorf("network ls:\n%s", out.String())
	}
	out.Reset()
	if err := a.NetworkInspect(ctx, []string{"p_default"}); err != nil {
		t.Fatal(err)
	}
	// Docker's shape: what scripts read with --format or jq.
	var nets []struct {
		Name, Id, Driver string
		IPAM             struct {
			Config []struct{ Subnet, Gateway string }
		}
		Containers map[string]struct{ Name, IPv4Address string }
		Labels     map[string]string
	}
	if err := json.Unmarshal([]byte(out.String()), &nets); err != nil || len(nets) != 1 || nets[0].Name != "p_default" {
		t.Fatalf("network inspect %v:\n%s", err, out.String())
	}
	n := nets[0]
	if len(n.Id) != 64 || n.Driver != "bridge" || len(n.IPAM.Config) != 1 || n.IPAM.Config[0].Subnet != "10.99.0.0/24" ||
		n.IPAM.Config[0].Gateway != "10.99.0.1" || n.Labels[labels.Project] != "p" {
		t.Errorf("network inspect: %+v", n)
	}
	web, ok := n.Containers[e.containers["p-web-1"].Labels[labels.InstanceID]]
	if len(n.Containers) != 4 || !ok || web.Name != "p-web-1" || !strings.HasSuffix(web.IPv4Address, "/24") {
		t.Errorf("network inspect containers: %+v", n.Containers)
	}
	out.Reset()
	if err := a.NetworkPrune(ctx); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "p_unused") || strings.Contains(out.String(), "p_default") {
		t.Errorf("network prune removed:\n%s", out.String())
	}
}

func TestLsCountsStates(t *testing.T) {
	a, e, _ := upThreeTier(t)
	var out strings.Builder
	a.Out = &out
	e.exit("p-worker-2", 1)
	if err := a.Ls(context.Background(), false, false, "json"); err != nil {
		t.Fatal(err)
	}
	var ls []LsEntry
	if err := json.Unmarshal([]byte(out.String()), &ls); err != nil || len(ls) != 1 {
		t.Fatalf("ls json %v: %s", err, out.String())
	}
	if ls[0].Name != "p" || ls[0].Status != "exited(1), running(3)" {
		t.Errorf("ls entry %+v", ls[0])
	}
}

func TestPortReadsThePublishedPort(t *testing.T) {
	a, e, _ := upThreeTier(t)
	var out strings.Builder
	a.Out = &out
	e.containers["p-web-1"].Labels[labels.Ports] = `[{"host_ip":"0.0.0.0","host_port":18080,"container_port":80,"protocol":"tcp"}]`
	p := load(t, threeTier)
	if err := a.Port(context.Background(), p, "web", "80", "tcp", 0); err != nil {
		t.Fatal(err)
	}
	if out.String() != "0.0.0.0:18080\n" {
		t.Errorf("port: %q", out.String())
	}
	if err := a.Port(context.Background(), p, "web", "81/tcp", "tcp", 0); err == nil {
		t.Error("an unpublished port was found")
	}
	e.containers["p-web-1"].Labels[labels.Ports] = "[{"
	if err := a.Port(context.Background(), p, "web", "80", "tcp", 0); err == nil || !strings.Contains(err.Error(), labels.Ports) {
		t.Errorf("a broken ports label: %v", err)
	}
}

func TestWaitReturnsTheFirstExitCode(t *testing.T) {
	a, e, _ := upThreeTier(t)
	var out strings.Builder
	a.Out = &out
	go func() {
		time.Sleep(20 * time.Millisecond)
		e.exit("p-web-1", 4)
	}()
	err := a.Wait(context.Background(), load(t, threeTier), []string{"web"}, false)
	if !isExit(err, 4) && err != nil {
		t.Fatalf("wait: %v", err)
	}
	if !strings.Contains(out.String(), "4") {
		t.Errorf("wait printed %q", out.String())
	}
}

// Attached up follows the logs and ends when the containers exit; with
// --abort-on-container-exit the first exit stops the rest.
func TestUpAttachedAbortOnExit(t *testing.T) {
	e := newFakeEngine("busybox")
	a, out, errb := fakeApp(t, e)
	e.exitOnStart["job"] = 2
	e.logs["p-job-1"] = []runtime.LogEntry{{Log: "working\n", Stream: "stdout", Time: time.Now()}}
	p := load(t, "services:\n  job:\n    image: busybox\n  server:\n    image: busybox\n")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := a.Up(ctx, p, UpOptions{AbortOnContainerExit: true, ExitCodeFrom: "job"})
	if !isExit(err, 2) {
		t.Fatalf("up --exit-code-from job: %v\n%s", err, errb)
	}
	if !strings.Contains(out.String(), "job-1") || !strings.Contains(out.String(), "working") {
		t.Errorf("attached output:\n%s", out.String())
	}
	if !strings.Contains(out.String()+errb.String(), "job-1 exited with code 2") {
		t.Errorf("no exit line:\n%s%s", out.String(), errb.String())
	}
	if c := e.containers["p-server-1"]; c == nil || c.state == "running" {
		t.Errorf("the server was not stopped after the job exited: %+v", c)
	}
}

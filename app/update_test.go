package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gocompose/gocompose/internal/labels"
	"github.com/gocompose/gocompose/runtime"
)

func rollingFile(env, update string, replicas int) string {
	return fmt.Sprintf(`
services:
  web:
    image: busybox
    environment: {V: %q}
    deploy:
      replicas: %d
      update_config: %s
`, env, replicas, update)
}

// runningOf lists the service's running containers, sorted.
func runningOf(e *fakeEngine, service string) []string {
	var out []string
	for id, c := range e.containers {
		if c.Labels[labels.Service] == service && c.state == runtime.StateRunning {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

func upFile(t *testing.T, a *App, yaml string) error {
	t.Helper()
	return a.Up(context.Background(), load(t, yaml), UpOptions{Detach: true})
}

func TestStartFirstStartsTheNewContainerBeforeStoppingTheOld(t *testing.T) {
	e := newFakeEngine("busybox")
	a, _, errb := fakeApp(t, e)
	if err := upFile(t, a, rollingFile("1", "{order: start-first}", 1)); err != nil {
		t.Fatal(err)
	}
	e.ops = nil
	if err := upFile(t, a, rollingFile("2", "{order: start-first}", 1)); err != nil {
		t.Fatal(err)
	}
	ops := e.ops
	// The next number, started and switched to while the old one runs.
	for _, pair := range [][2]string{{"start p-web-2", "label p-web-2"}, {"label p-web-2", "label p-web-1"}, {"label p-web-1", "stop p-web-1"}} {
		if i, j := index(ops, pair[0]), index(ops, pair[1]); i < 0 || j < 0 || i > j {
			t.Errorf("want %q before %q: %v", pair[0], pair[1], ops)
		}
	}
	if got := runningOf(e, "web"); !slices.Equal(got, []string{"p-web-2"}) {
		t.Errorf("running %v, want [p-web-2]", got)
	}
	if _, ok := e.containers["p-web-1"]; ok {
		t.Error("the old container was not removed")
	}
	if w := e.containers["p-web-2"].Labels[labels.DNSWithheld]; w != "" {
		t.Errorf("the new container's names are still withheld: %q", w)
	}
	net := a.Net.(*fakeNet)
	if len(net.served) == 0 || net.served[len(net.served)-1] != "p-web-2" {
		t.Errorf("ports served %v, want p-web-2 last", net.served)
	}
	for _, line := range []string{" Container p-web-2 Started ", " Container p-web-2 Healthy ", " Container p-web-1 Removed "} {
		if !strings.Contains(errb.String(), line) {
			t.Errorf("progress lacks %q:\n%s", line, errb)
		}
	}
	// The count is what matters, not the number: a third up with
	// nothing changed keeps p-web-2.
	e.ops = nil
	if err := upFile(t, a, rollingFile("2", "{order: start-first}", 1)); err != nil {
		t.Fatal(err)
	}
	if len(e.opsOf("create")) != 0 || len(e.opsOf("stop")) != 0 {
		t.Errorf("an unchanged service was touched: %v", e.ops)
	}
}

func TestStartFirstFailureLeavesTheOldOneServing(t *testing.T) {
	e := newFakeEngine("busybox")
	a, _, _ := fakeApp(t, e)
	if err := upFile(t, a, rollingFile("1", "{order: start-first}", 1)); err != nil {
		t.Fatal(err)
	}
	e.exitOnStart["web"] = 3 // the new version exits at once
	err := upFile(t, a, rollingFile("2", "{order: start-first}", 1))
	if err == nil || !strings.Contains(err.Error(), "p-web-2") || !strings.Contains(err.Error(), "p-web-1 keeps serving") {
		t.Fatalf("err %v, want the new container's failure and that p-web-1 keeps serving", err)
	}
	if got := runningOf(e, "web"); !slices.Equal(got, []string{"p-web-1"}) {
		t.Errorf("running %v, want [p-web-1]", got)
	}
	if _, ok := e.containers["p-web-2"]; ok {
		t.Error("the failed new container was left")
	}
	if w := e.containers["p-web-1"].Labels[labels.DNSWithheld]; w != "" {
		t.Errorf("the old container lost its names: %q", w)
	}
	if slices.Contains(a.Net.(*fakeNet).served, "p-web-2") {
		t.Error("the failed container was given the ports")
	}
}

func TestRollingReplicasOneAtATime(t *testing.T) {
	e := newFakeEngine("busybox")
	a, _, _ := fakeApp(t, e)
	const cfg = "{order: start-first, parallelism: 1}"
	if err := upFile(t, a, rollingFile("1", cfg, 3)); err != nil {
		t.Fatal(err)
	}
	e.ops = nil
	if err := upFile(t, a, rollingFile("2", cfg, 3)); err != nil {
		t.Fatal(err)
	}
	// Replay the operations: never fewer than 3 running, never more than 4.
	up := map[string]bool{"p-web-1": true, "p-web-2": true, "p-web-3": true}
	for _, op := range e.ops {
		kind, id, _ := strings.Cut(op, " ")
		switch kind {
		case "start":
			up[id] = true
		case "stop":
			delete(up, id)
		}
		if n := len(up); n < 3 || n > 4 {
			t.Fatalf("%d containers running after %q: %v", n, op, e.ops)
		}
	}
	if got := runningOf(e, "web"); !slices.Equal(got, []string{"p-web-4", "p-web-5", "p-web-6"}) {
		t.Errorf("running %v", got)
	}
}

func TestRollbackPutsBackEveryReplacedContainer(t *testing.T) {
	e := newFakeEngine("busybox")
	a, _, _ := fakeApp(t, e)
	const cfg = "{order: start-first, parallelism: 1, failure_action: rollback}"
	if err := upFile(t, a, rollingFile("1", cfg, 3)); err != nil {
		t.Fatal(err)
	}
	e.fail["start p-web-6"] = errors.New("no luck")
	err := upFile(t, a, rollingFile("2", cfg, 3))
	if err == nil || !strings.Contains(err.Error(), "rolled back") || !strings.Contains(err.Error(), "no luck") {
		t.Fatalf("err %v, want a rollback for the third replica's failure", err)
	}
	if got := runningOf(e, "web"); !slices.Equal(got, []string{"p-web-1", "p-web-2", "p-web-3"}) {
		t.Errorf("running %v, want the three old ones", got)
	}
	for _, id := range []string{"p-web-4", "p-web-5", "p-web-6"} {
		if _, ok := e.containers[id]; ok {
			t.Errorf("%s was left after the rollback", id)
		}
	}
	for _, id := range []string{"p-web-1", "p-web-2", "p-web-3"} {
		if w := e.containers[id].Labels[labels.DNSWithheld]; w != "" {
			t.Errorf("%s still withheld after the rollback: %q", id, w)
		}
	}
}

func TestRollingStopFirstKeepsNumbersAndPausesOnFailure(t *testing.T) {
	e := newFakeEngine("busybox")
	a, _, _ := fakeApp(t, e)
	const cfg = "{parallelism: 1}"
	if err := upFile(t, a, rollingFile("1", cfg, 2)); err != nil {
		t.Fatal(err)
	}
	e.ops = nil
	e.exitOnStart["web"] = 1
	err := upFile(t, a, rollingFile("2", cfg, 2))
	if err == nil || !strings.Contains(err.Error(), "update paused") {
		t.Fatalf("err %v, want the update paused", err)
	}
	// Stop-first, in place: p-web-1 was recreated and failed; p-web-2,
	// the next group, was never touched.
	if slices.Contains(e.opsOf("stop"), "p-web-2") || !slices.Contains(e.opsOf("create"), "p-web-1") {
		t.Errorf("ops %v", e.ops)
	}
	if got := runningOf(e, "web"); !slices.Equal(got, []string{"p-web-2"}) {
		t.Errorf("running %v, want [p-web-2]", got)
	}
}

// A service another shares the network namespace of cannot take new
// names: it is updated in place, and the sharer follows it.
func TestStartFirstFallsBackWhenTheNamespaceIsShared(t *testing.T) {
	e := newFakeEngine("busybox")
	a, _, errb := fakeApp(t, e)
	file := func(v string) string {
		return rollingFile(v, "{order: start-first, failure_action: rollback}", 1) + `
  side:
    image: busybox
    network_mode: service:web
`
	}
	if err := upFile(t, a, file("1")); err != nil {
		t.Fatal(err)
	}
	if err := upFile(t, a, file("2")); err != nil {
		t.Fatal(err)
	}
	if got := runningOf(e, "web"); !slices.Equal(got, []string{"p-web-1"}) {
		t.Errorf("running %v, want [p-web-1] recreated in place", got)
	}
	if !strings.Contains(errb.String(), "updated stop-first and without rollback: side shares its network namespace") {
		t.Errorf("no warning:\n%s", errb)
	}
}

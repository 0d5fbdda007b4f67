package app

import (
	"context"
	"slices"
	"strings"
	"testing"
)

const hooksFile = `
services:
  web:
    image: busybox
    post_start:
      - command: ["sh", "-c", "echo started"]
        user: "1000"
        environment: {STAGE: post}
    pre_stop:
      - command: ["sh", "-c", "echo stopping"]
`

func TestHooksRunAroundStartAndStop(t *testing.T) {
	e := newFakeEngine("busybox")
	a, out, _ := fakeApp(t, e)
	p := load(t, hooksFile)
	if err := a.Up(context.Background(), p, UpOptions{Detach: true}); err != nil {
		t.Fatal(err)
	}
	if len(e.execs) != 1 || !slices.Equal(e.execs[0], []string{"sh", "-c", "echo started"}) {
		t.Fatalf("post_start: execs %v", e.execs)
	}
	if !strings.Contains(out.String(), "web-1 -> sh -c echo started") {
		t.Errorf("hook output not shown: %q", out)
	}
	e.ops = nil
	if err := a.Stop(context.Background(), p, nil, nil); err != nil {
		t.Fatal(err)
	}
	// pre_stop ran in the running container, before the stop.
	if i, j := index(e.ops, "exec p-web-1"), index(e.ops, "stop p-web-1"); i < 0 || i > j || len(e.execs) != 2 {
		t.Errorf("pre_stop: ops %v execs %v", e.ops, e.execs)
	}
}

func TestFailingHooksFailTheCommand(t *testing.T) {
	e := newFakeEngine("busybox")
	a, _, _ := fakeApp(t, e)
	p := load(t, hooksFile)
	e.execCode = 3
	err := a.Up(context.Background(), p, UpOptions{Detach: true})
	if err == nil || !strings.Contains(err.Error(), "web hook exited with status 3") {
		t.Fatalf("up with a failing post_start: %v", err)
	}
	// A failing pre_stop keeps the container running.
	if err := a.Stop(context.Background(), p, nil, nil); err == nil {
		t.Error("stop with a failing pre_stop succeeded")
	}
	if got := runningOf(e, "web"); !slices.Equal(got, []string{"p-web-1"}) {
		t.Errorf("running %v", got)
	}
}

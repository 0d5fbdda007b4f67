package app

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gocompose/gocompose/internal/labels"
	"github.com/gocompose/gocompose/internal/lock"
	"github.com/gocompose/gocompose/runtime"
)

const bootFile = `
services:
  db: {image: busybox, restart: always}
  web:
    image: busybox
    restart: unless-stopped
    depends_on: [db]
  job: {image: busybox, restart: on-failure}
  done: {image: busybox, restart: on-failure}
  off: {image: busybox}
  stopped: {image: busybox, restart: unless-stopped}
`

func TestBootBringsBackWhatTheRestartPolicySays(t *testing.T) {
	e := newFakeEngine("busybox")
	a, _, _ := fakeApp(t, e)
	if err := upFile(t, a, bootFile); err != nil {
		t.Fatal(err)
	}
	// The host goes down: every task is gone. "done" had exited before,
	// "stopped" was stopped by its user; the others were running.
	start := time.Now().Add(-time.Hour)
	for id, c := range e.containers {
		c.state = runtime.StateExited
		c.Labels[labels.StartedAt] = start.Format(time.RFC3339Nano)
		switch id {
		case "p-done-1":
			c.Labels[labels.FinishedAt] = start.Add(time.Minute).Format(time.RFC3339Nano)
		case "p-stopped-1":
			c.Labels[labels.UserStopped] = "True"
			c.Labels[labels.FinishedAt] = start.Add(time.Minute).Format(time.RFC3339Nano)
		}
	}
	e.ops = nil
	var mu sync.Mutex
	var logged []string
	if err := a.Boot(context.Background(), func(f string, args ...any) { mu.Lock(); logged = append(logged, f); mu.Unlock() }); err != nil {
		t.Fatal(err)
	}
	started := e.opsOf("start")
	slices.Sort(started)
	if want := []string{"p-db-1", "p-job-1", "p-web-1"}; !slices.Equal(started, want) {
		t.Errorf("started %v, want %v", started, want)
	}
	if i, j := index(e.opsOf("start"), "p-db-1"), index(e.opsOf("start"), "p-web-1"); i > j {
		t.Errorf("web started before its dependency db: %v", e.opsOf("start"))
	}
	if len(logged) != 3 {
		t.Errorf("logged %v", logged)
	}
	// Running containers are left alone: a second boot starts nothing.
	e.ops = nil
	if err := a.Boot(context.Background(), func(string, ...any) {}); err != nil {
		t.Fatal(err)
	}
	if got := e.opsOf("start"); len(got) != 0 {
		t.Errorf("a second boot started %v", got)
	}
}

func TestAtBoot(t *testing.T) {
	at := func(policy string, extra ...string) runtime.Container {
		l := map[string]string{labels.Restart: policy, labels.StartedAt: "2026-01-01T00:00:00Z"}
		for i := 0; i+1 < len(extra); i += 2 {
			l[extra[i]] = extra[i+1]
		}
		return runtime.Container{Labels: l, State: runtime.StateExited}
	}
	for _, tc := range []struct {
		name string
		c    runtime.Container
		want bool
	}{
		{"always", at("always"), true},
		{"always, stopped by its user", at("always", labels.UserStopped, "True"), true},
		{"unless-stopped", at("unless-stopped"), true},
		{"unless-stopped, stopped by its user", at("unless-stopped", labels.UserStopped, "True"), false},
		{"on-failure, running at the crash", at("on-failure:3"), true},
		{"on-failure, exited before", at("on-failure", labels.FinishedAt, "2026-01-01T00:01:00Z"), false},
		{"no", at(""), false},
		{"never started", runtime.Container{Labels: map[string]string{labels.Restart: "always"}, State: runtime.StateCreated}, false},
		{"one-off", at("always", labels.OneOff, "True"), false},
		{"running", runtime.Container{Labels: at("always").Labels, State: runtime.StateRunning}, false},
	} {
		if got := atBoot(tc.c); got != tc.want {
			t.Errorf("%s: atBoot = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// A command holding the project (up -d from a boot script) goes first: the
// boot waits for it and then finds the containers running.
func TestBootWaitsForTheProjectLock(t *testing.T) {
	e := newFakeEngine("busybox")
	a, _, _ := fakeApp(t, e)
	if err := upFile(t, a, "services:\n  db: {image: busybox, restart: always}\n"); err != nil {
		t.Fatal(err)
	}
	c := e.containers["p-db-1"]
	c.state = runtime.StateExited
	c.Labels[labels.StartedAt] = time.Now().Add(-time.Hour).Format(time.RFC3339Nano)
	l, err := lock.Project(context.Background(), a.LockDir, "p")
	if err != nil {
		t.Fatal(err)
	}
	e.ops = nil
	done := make(chan error, 1)
	go func() { done <- a.Boot(context.Background(), func(string, ...any) {}) }()
	time.Sleep(200 * time.Millisecond)
	select {
	case <-done:
		t.Fatal("boot did not wait for the project lock")
	default:
	}
	e.mu.Lock()
	c.state = runtime.StateRunning // the command brought it back
	e.mu.Unlock()
	l.Unlock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := e.opsOf("start"); len(got) != 0 {
		t.Errorf("boot started %v after the command had", got)
	}
}

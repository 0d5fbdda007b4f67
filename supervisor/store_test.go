package supervisor

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/gocompose/gocompose/dns"
	"github.com/gocompose/gocompose/internal/health"
	"github.com/gocompose/gocompose/internal/labels"
	"github.com/gocompose/gocompose/runtime"
)

// fakeStore is containerd as the supervisor sees it, in memory.
type fakeStore struct {
	mu         sync.Mutex
	containers map[string]map[string]*fakeCtr // ns -> id
	restarts   []string
	execs      int
	execCode   int
}

type fakeCtr struct {
	labels map[string]string
	task   *task
}

func (f *fakeStore) add(ns, id string, lbls map[string]string, t *task) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.containers == nil {
		f.containers = map[string]map[string]*fakeCtr{}
	}
	if f.containers[ns] == nil {
		f.containers[ns] = map[string]*fakeCtr{}
	}
	f.containers[ns][id] = &fakeCtr{labels: lbls, task: t}
}

func (f *fakeStore) Namespaces(context.Context) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for ns := range f.containers {
		out = append(out, ns)
	}
	return out, nil
}

func (f *fakeStore) Containers(_ context.Context, ns, label string) ([]container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []container
	for id, c := range f.containers[ns] {
		if _, ok := c.labels[label]; ok && c.labels[labels.State] == "/state" {
			out = append(out, container{ID: id, Labels: c.labels})
		}
	}
	return out, nil
}

func (f *fakeStore) get(ns, id string) (*fakeCtr, error) {
	c, ok := f.containers[ns][id]
	if !ok {
		return nil, fmt.Errorf("container %s: %w", id, errdefs.ErrNotFound)
	}
	return c, nil
}

func (f *fakeStore) Labels(_ context.Context, ns, id string) (map[string]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.get(ns, id)
	if err != nil {
		return nil, err
	}
	return c.labels, nil
}

func (f *fakeStore) Task(_ context.Context, ns, id string) (task, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.get(ns, id)
	if err != nil {
		return task{}, err
	}
	if c.task == nil {
		return task{}, fmt.Errorf("task of %s: %w", id, errdefs.ErrNotFound)
	}
	return *c.task, nil
}

func (f *fakeStore) SetLabel(_ context.Context, ns, id, key, value string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.get(ns, id)
	if err != nil {
		return err
	}
	c.labels[key] = value
	return nil
}

func (f *fakeStore) Restart(_ context.Context, ns, id string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.get(ns, id)
	if err != nil {
		return false, err
	}
	f.restarts = append(f.restarts, ns+"/"+id)
	c.task = &task{Pid: c.task.Pid + 1, Running: true}
	return true, nil
}

func (f *fakeStore) Exec(context.Context, string, string, runtime.ExecRequest) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.execs++
	return f.execCode, nil
}

func (f *fakeStore) restarted() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.restarts...)
}

func fakeSupervisor(t *testing.T, st store) *supervisor {
	t.Helper()
	s := &supervisor{cfg: Config{State: "/state", Root: t.TempDir(), Logger: log.New(io.Discard, "", 0)}, store: st,
		handler: dns.NewHandler(nil), reqs: make(chan chan error, 4), listeners: map[string]*dns.Listener{},
		workers: map[string]chan exitEvent{}}
	s.probers = &probers{s: s, loops: map[string]*prober{}}
	return s
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// On start the supervisor applies the restart policies of containers that
// exited while it was away, and records the restart count.
func TestCatchUpRestartsWhatExitedMeanwhile(t *testing.T) {
	st := &fakeStore{}
	mine := func(kv ...string) map[string]string {
		m := map[string]string{labels.State: "/state"}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	st.add("ns", "crashed", mine(labels.Restart, "on-failure"), &task{Pid: 10, Stopped: true, ExitStatus: 1})
	st.add("ns", "finished", mine(labels.Restart, "on-failure"), &task{Pid: 11, Stopped: true, ExitStatus: 0})
	st.add("ns", "stopped-by-user", mine(labels.Restart, "always", labels.UserStopped, "True"), &task{Pid: 12, Stopped: true, ExitStatus: 137})
	st.add("ns", "running", mine(labels.Restart, "always"), &task{Pid: 13, Running: true})
	st.add("ns", "notask", mine(labels.Restart, "always"), nil)
	st.add("ns", "other-install", map[string]string{labels.State: "/elsewhere", labels.Restart: "always"}, &task{Pid: 14, Stopped: true, ExitStatus: 1})
	s := fakeSupervisor(t, st)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := s.catchUp(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the restart of crashed", func() bool { return len(st.restarted()) == 1 })
	time.Sleep(300 * time.Millisecond) // no other restart follows
	if got := st.restarted(); len(got) != 1 || got[0] != "ns/crashed" {
		t.Errorf("restarted %v, want only ns/crashed", got)
	}
	eventually(t, "the restart count", func() bool {
		l, _ := st.Labels(ctx, "ns", "crashed")
		st.mu.Lock()
		defer st.mu.Unlock()
		return l[labels.RestartCount] == "1"
	})
	// A stale exit (another process than the current task's) is not
	// handled: the restarted task has a new pid.
	if s.applyRestart(ctx, "ns", "crashed", exitEvent{pid: 10, code: 1}) {
		t.Error("a stale exit event was handled")
	}
}

// Health loops follow the running containers with a healthcheck.
func TestProbersFollowRunningContainers(t *testing.T) {
	st := &fakeStore{}
	hc := `{"test":["CMD","true"],"interval":20000000,"timeout":1000000000,"retries":1}`
	st.add("ns", "web", map[string]string{labels.State: "/state", health.Label: hc, labels.StartedAt: "t1"}, &task{Pid: 1, Running: true})
	st.add("ns", "idle", map[string]string{labels.State: "/state", health.Label: hc}, &task{Pid: 2, Stopped: true})
	st.add("ns", "broken", map[string]string{labels.State: "/state", health.Label: "{"}, &task{Pid: 3, Running: true})
	state := t.TempDir()
	s := fakeSupervisor(t, st)
	s.cfg.State = state
	for _, id := range []string{"web", "idle", "broken"} {
		st.containers["ns"][id].labels[labels.State] = "/state"
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := s.probers.sync(ctx); err != nil {
		t.Fatal(err)
	}
	s.probers.mu.Lock()
	n := len(s.probers.loops)
	s.probers.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d health loops, want 1 (web)", n)
	}
	eventually(t, "a healthy verdict", func() bool {
		h, ok := health.Read(state, "ns", "web")
		return ok && h.Status == health.Healthy
	})
	// web stops: its loop goes.
	st.mu.Lock()
	st.containers["ns"]["web"].task = &task{Pid: 1, Stopped: true}
	st.mu.Unlock()
	if err := s.probers.sync(ctx); err != nil {
		t.Fatal(err)
	}
	s.probers.mu.Lock()
	n = len(s.probers.loops)
	s.probers.mu.Unlock()
	if n != 0 {
		t.Errorf("%d health loops after web stopped", n)
	}
}

// rebuild serves the records of every attached container.
func TestRebuildServesRecords(t *testing.T) {
	st := &fakeStore{}
	st.add("ns", "p-web-1", map[string]string{labels.State: "/state",
		labels.Networks: `[{"network":"p_default","ifname":"eth0","ip":"10.89.0.2","names":["p-web-1","web"]}]`}, &task{Running: true})
	st.add("ns", "p-db-1", map[string]string{labels.State: "/state",
		labels.Networks: `[{"network":"p_default","ifname":"eth0","ip":"10.89.0.3","names":["p-db-1","db"]}]`}, &task{Running: true})
	s := fakeSupervisor(t, st)
	if err := s.rebuild(context.Background()); err != nil {
		t.Fatal(err)
	}
	ips, ok := s.handler.Snapshot().Lookup(netip.MustParseAddr("10.89.0.2"), "db")
	if !ok || len(ips) != 1 || ips[0].String() != "10.89.0.3" {
		t.Errorf("web looking up db: %v %v", ips, ok)
	}
	if name, ok := s.handler.Snapshot().PTR(netip.MustParseAddr("10.89.0.3"), netip.MustParseAddr("10.89.0.2")); !ok || !strings.HasPrefix(name, "p-web-1") {
		t.Errorf("PTR of web: %q %v", name, ok)
	}
}

// Reload requests are served by the rebuild loop; a burst shares rebuilds,
// and the records are there when Reload returns.
func TestReloadWaitsForTheRebuild(t *testing.T) {
	st := &fakeStore{}
	s := fakeSupervisor(t, st)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.rebuildLoop(ctx)
	st.add("ns", "p-web-1", map[string]string{labels.State: "/state",
		labels.Networks: `[{"network":"p_default","ifname":"eth0","ip":"10.89.0.2","names":["web"]}]`}, &task{Running: true})
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.reload(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if _, ok := s.handler.Snapshot().Lookup(netip.MustParseAddr("10.89.0.2"), "web"); !ok {
		t.Error("records not served after reload")
	}
	cancel()
	if err := s.reload(ctx); err == nil {
		t.Error("reload after the supervisor stopped succeeded")
	}
}

// One exit is handled once, however often containerd reports it.
func TestRestartWorkerHandlesAnExitOnce(t *testing.T) {
	st := &fakeStore{}
	st.add("ns", "w", map[string]string{labels.State: "/state", labels.Restart: "always"}, &task{Pid: 7, Stopped: true, ExitStatus: 1})
	s := fakeSupervisor(t, st)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range 3 {
		s.restartOnExit(ctx, "ns", "w", 7, 1)
	}
	eventually(t, "the restart", func() bool { return len(st.restarted()) == 1 })
	time.Sleep(300 * time.Millisecond)
	if n := len(st.restarted()); n != 1 {
		t.Errorf("%d restarts for one exit", n)
	}
}

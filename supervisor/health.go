package supervisor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	"github.com/gocompose/gocompose/internal/health"
	"github.com/gocompose/gocompose/internal/labels"
	"github.com/gocompose/gocompose/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// probers runs one healthcheck loop per running container that has one.
type probers struct {
	s  *supervisor
	mu sync.Mutex // guards loops
	// loops by namespace/id; started is the task start the loop serves.
	loops map[string]*prober
}

type prober struct {
	cancel  context.CancelFunc
	started string
}

// sync starts loops for running containers with a healthcheck and stops
// those whose container stopped or went away.
func (p *probers) sync(ctx context.Context) error {
	nss, err := p.s.store.Namespaces(ctx)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, ns := range nss {
		cs, err := p.s.store.Containers(ctx, ns, health.Label)
		if err != nil {
			return err
		}
		for _, c := range cs {
			t, err := p.s.store.Task(ctx, ns, c.ID)
			if err != nil || !t.Running {
				continue
			}
			var cfg health.Config
			if err := json.Unmarshal([]byte(c.Labels[health.Label]), &cfg); err != nil {
				p.s.cfg.Logger.Printf("healthcheck of %s/%s: label %s: %v", ns, c.ID, health.Label, err)
				continue
			}
			if len(cfg.Test) == 0 {
				continue
			}
			key := ns + "/" + c.ID
			want[key] = true
			started := c.Labels[labels.StartedAt]
			p.mu.Lock()
			cur := p.loops[key]
			if cur == nil || cur.started != started {
				if cur != nil {
					cur.cancel()
				}
				lctx, cancel := context.WithCancel(ctx)
				p.loops[key] = &prober{cancel: cancel, started: started}
				go p.run(lctx, ns, c.ID, cfg.WithDefaults())
			}
			p.mu.Unlock()
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for key, l := range p.loops {
		if !want[key] {
			l.cancel()
			delete(p.loops, key)
		}
	}
	return nil
}

// run probes one container until ctx ends, writing its state after each
// probe. Failures during start_period do not count, as in Docker.
func (p *probers) run(ctx context.Context, ns, id string, cfg health.Config) {
	rt := nsExec{st: p.s.store, ns: ns}
	begin := time.Now()
	st := health.State{Status: health.Starting, StartedAt: begin}
	p.write(ns, id, st)
	for {
		wait := cfg.Interval
		if st.Status == health.Starting && time.Since(begin) < cfg.StartPeriod {
			wait = cfg.StartInterval
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		res := probe(ctx, rt, id, cfg, health.Path(p.s.cfg.State, ns, id)+".probe")
		if ctx.Err() != nil {
			return
		}
		st = judge(st, res, cfg, time.Since(begin))
		p.write(ns, id, st)
	}
}

// judge folds one probe's result into a container's health, as Docker
// does: a success makes it healthy; retries failures in a row make it
// unhealthy, except that failures while it is still starting within
// start_period do not count; a probe containerd could not run gives no
// verdict (the health is not known, not bad). The last five results are
// kept.
func judge(st health.State, res health.Result, cfg health.Config, sinceStart time.Duration) health.State {
	switch {
	case res.ExitCode == probeUnreachable:
		st.Status, st.FailingStreak = health.Starting, 0
	case res.ExitCode == 0:
		st.Status, st.FailingStreak = health.Healthy, 0
	case st.Status != health.Starting || sinceStart >= cfg.StartPeriod:
		st.FailingStreak++
		if st.FailingStreak >= cfg.Retries {
			st.Status = health.Unhealthy
		}
	}
	st.Log = append(slices.Clone(st.Log), res)
	if len(st.Log) > 5 {
		st.Log = st.Log[len(st.Log)-5:]
	}
	return st
}

// write records a verdict where service_healthy waits read it; a verdict
// that cannot be written is logged, as the waiter then sees none.
func (p *probers) write(ns, id string, st health.State) {
	if err := health.Write(p.s.cfg.State, ns, id, st); err != nil {
		p.s.cfg.Logger.Printf("health of %s/%s: %v", ns, id, err)
	}
}

// limitedBuffer keeps the first 4 KiB of probe output, like Docker.
type limitedBuffer struct {
	mu  sync.Mutex // the process's stdout and stderr write concurrently
	buf bytes.Buffer
}

func (l *limitedBuffer) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := 4096 - l.buf.Len(); room > 0 {
		if len(b) > room {
			l.buf.Write(b[:room])
		} else {
			l.buf.Write(b)
		}
	}
	return len(b), nil
}

// execer runs a process in a container; runtime implements it.
type execer interface {
	Exec(ctx context.Context, id string, req runtime.ExecRequest) (int, error)
}

// probe runs the healthcheck command once, within its timeout, keeping
// the first 4 KiB of its output.
func probe(ctx context.Context, rt execer, id string, cfg health.Config, outFile string) health.Result {
	res := health.Result{Start: time.Now()}
	out := &limitedBuffer{}
	pctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	req := runtime.ExecRequest{Args: cfg.Test, Stdio: runtime.Stdio{Out: out, Err: out}}
	if outFile != "" {
		// The shim writes the output to a file, not to FIFOs this process
		// reads: a supervisor killed mid-probe must not leave the shim
		// blocked (which, once containerd gives up on the shim, takes
		// the container down).
		_ = os.Remove(outFile)
		req.OutputFile = outFile
		defer os.Remove(outFile)
	}
	code, err := rt.Exec(pctx, id, req)
	res.End = time.Now()
	if outFile != "" {
		if f, ferr := os.Open(outFile); ferr == nil {
			_, _ = io.Copy(out, io.LimitReader(f, 4096))
			f.Close()
		}
	}
	switch {
	case unreachable(err):
		res.ExitCode, res.Output = probeUnreachable, "containerd cannot be reached: "+err.Error()
	case errors.Is(err, context.DeadlineExceeded):
		res.ExitCode, res.Output = -1, "Health check exceeded timeout ("+cfg.Timeout.String()+")"
	case err != nil:
		res.ExitCode, res.Output = -1, err.Error()
	default:
		res.ExitCode, res.Output = code, out.buf.String()
	}
	return res
}

// probeUnreachable is the exit code recorded for a probe that could not run
// because containerd did not answer.
const probeUnreachable = -2

// unreachable reports whether err means containerd did not answer (its
// socket gone or refusing), as opposed to the probe failing.
func unreachable(err error) bool {
	if err == nil {
		return false
	}
	if errdefs.IsUnavailable(err) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
		return true
	}
	return status.Code(err) == codes.Unavailable
}

// catchUp applies, when the supervisor starts, the restart policies of the
// containers that exited while it was away: their exits were never seen.
func (s *supervisor) catchUp(ctx context.Context) error {
	nss, err := s.store.Namespaces(ctx)
	if err != nil {
		return err
	}
	for _, ns := range nss {
		cs, err := s.store.Containers(ctx, ns, labels.Restart)
		if err != nil {
			return err
		}
		for _, c := range cs {
			t, err := s.store.Task(ctx, ns, c.ID)
			if err != nil || !t.Stopped {
				continue // no task: stopped by a command, which records it
			}
			s.restartOnExit(ctx, ns, c.ID, t.Pid, t.ExitStatus)
		}
	}
	return nil
}

// restartOnExit queues the exit for the container's restart worker. One
// worker per container handles exits one at a time, so a restart and the
// next exit never race over the restart count.
func (s *supervisor) restartOnExit(ctx context.Context, ns, id string, pid, exitCode uint32) {
	key := ns + "/" + id
	s.restartMu.Lock()
	w, ok := s.workers[key]
	if !ok {
		w = make(chan exitEvent, 16)
		s.workers[key] = w
		go s.restartWorker(ctx, ns, id, w)
	}
	s.restartMu.Unlock()
	select {
	case w <- exitEvent{pid: pid, code: exitCode}:
	default: // a burst of events: the worker reads the task's state anyway
	}
}

type exitEvent struct{ pid, code uint32 }

func (s *supervisor) restartWorker(ctx context.Context, ns, id string, events chan exitEvent) {
	key := ns + "/" + id
	defer func() {
		s.restartMu.Lock()
		delete(s.workers, key)
		s.restartMu.Unlock()
	}()
	var handled uint32
	for {
		var ev exitEvent
		select {
		case ev = <-events:
		case <-ctx.Done():
			return
		case <-time.After(time.Minute):
			return // idle: the next exit starts a new worker
		}
		if ev.pid == handled {
			continue // containerd can report one exit more than once
		}
		if done := s.applyRestart(ctx, ns, id, ev); done {
			handled = ev.pid
		}
	}
}

// applyRestart restarts the container if its policy says so. It reports
// whether the exit was handled (false: stale event for another process).
func (s *supervisor) applyRestart(ctx context.Context, ns, id string, ev exitEvent) bool {
	lbls, err := s.store.Labels(ctx, ns, id)
	if err != nil {
		return true // gone
	}
	// Only the exit of the current, stopped task counts.
	t, err := s.store.Task(ctx, ns, id)
	if err != nil || t.Pid != ev.pid || !t.Stopped {
		return false
	}
	restart, delay, why := restartPolicy(lbls, ev.code, s.cfg.State)
	if why != "" {
		s.cfg.Logger.Printf("%s/%s: %s", ns, id, why)
	}
	if !restart {
		return true
	}
	count, _ := strconv.Atoi(lbls[labels.RestartCount])
	select {
	case <-ctx.Done():
		return true
	case <-time.After(delay):
	}
	// Restart retries the transient start failures of containerd 1.6
	// itself (runtime's startTask): no second loop here.
	started, err := s.store.Restart(ctx, ns, id)
	if ctx.Err() != nil {
		return true
	}
	if err != nil {
		s.cfg.Logger.Printf("restart %s/%s: giving up: %v", ns, id, err)
		return true
	}
	if !started {
		return true
	}
	// Counted after the start: this worker handles the next exit only
	// once this returns, so it sees the new count.
	if err := s.store.SetLabel(ctx, ns, id, labels.RestartCount, strconv.Itoa(count+1)); err != nil {
		s.cfg.Logger.Printf("restart %s/%s: record the restart count: %v", ns, id, err)
	}
	s.cfg.Logger.Printf("restarted %s/%s (exit %d, restart %d)", ns, id, ev.code, count+1)
	return true
}

// restartPolicy decides, from a stopped container's labels and exit code,
// whether its restart policy restarts it and after which back-off: the
// first delay (100ms unless set) doubles with each restart made, up to 10s.
// Containers a user stopped, another gocompose installation's, and those
// with no policy are left alone; why says when a limit stopped it.
func restartPolicy(lbls map[string]string, code uint32, state string) (restart bool, delay time.Duration, why string) {
	policy := lbls[labels.Restart]
	if policy == "" || policy == "no" || lbls[labels.UserStopped] == "True" || lbls[labels.State] != state {
		return false, 0, ""
	}
	count, _ := strconv.Atoi(lbls[labels.RestartCount])
	name, maxStr, _ := cutColon(policy)
	switch name {
	case "always", "unless-stopped":
	case "on-failure":
		if code == 0 {
			return false, 0, ""
		}
	default:
		return false, 0, ""
	}
	if n, err := strconv.Atoi(maxStr); err == nil && n > 0 && count >= n {
		return false, 0, fmt.Sprintf("restart limit %d reached", n)
	}
	delay = 100 * time.Millisecond
	if d, err := time.ParseDuration(lbls[labels.RestartDelay]); err == nil && d > 0 {
		delay = d
	}
	for i := 0; i < count && delay < 10*time.Second; i++ {
		delay *= 2
	}
	return true, min(delay, 10*time.Second), ""
}

func cutColon(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

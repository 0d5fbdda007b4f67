package app

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/gocompose/gocompose/internal/health"
	"github.com/gocompose/gocompose/internal/labels"
	"github.com/gocompose/gocompose/network"
	"github.com/gocompose/gocompose/runtime"
	"github.com/gocompose/gocompose/scheduler"
)

// Rolling updates: deploy.update_config and rollback_config, which Docker
// Compose ignores outside swarm. A service with an update_config has its
// outdated containers replaced in groups of `parallelism`, `delay` apart,
// each new container ready (healthy, or running without a healthcheck)
// before the next group. With order start-first the new container starts
// beside the old one, takes no traffic until it is ready, and then takes
// the service's DNS name and published ports in one switch; the old one
// is stopped after.

// Failure actions, as the compose specification names them.
const (
	actionPause    = "pause"
	actionContinue = "continue"
	actionRollback = "rollback"
)

// rollout is one service's update (or rollback) settings.
type rollout struct {
	parallelism int // containers at once; 0: all
	delay       time.Duration
	monitor     time.Duration
	action      string
	ratio       float64 // failures tolerated, as a fraction of the containers
	startFirst  bool
}

// rolloutOf reads an update_config or rollback_config with swarm's
// defaults: one container at a time, failure_action pause, stop-first.
func rolloutOf(c *types.UpdateConfig) rollout {
	r := rollout{parallelism: 1, action: actionPause}
	if c == nil {
		return r
	}
	if c.Parallelism != nil {
		r.parallelism = int(*c.Parallelism)
	}
	r.delay, r.monitor = time.Duration(c.Delay), time.Duration(c.Monitor)
	if c.FailureAction != "" {
		r.action = c.FailureAction
	}
	r.ratio = float64(c.MaxFailureRatio)
	r.startFirst = c.Order == "start-first"
	return r
}

// updateConfigOf is the service's update_config, nil without one.
func updateConfigOf(svc types.ServiceConfig) *types.UpdateConfig {
	if svc.Deploy == nil {
		return nil
	}
	return svc.Deploy.UpdateConfig
}

// replaces says whether the plan should replace the service's running
// outdated containers under new numbers: start-first updates run old and
// new side by side, and an update that may roll back keeps the old one.
// Not when another service shares the service's network namespace
// (network_mode: service:X): it could not follow a container that takes
// a new name, so that update is stop-first, with a warning.
func (a *App) replaces(p *types.Project, svc types.ServiceConfig) bool {
	c := updateConfigOf(svc)
	if c == nil {
		return false
	}
	r := rolloutOf(c)
	if !r.startFirst && r.action != actionRollback {
		return false
	}
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		if p.Services[name].NetworkMode == "service:"+svc.Name {
			a.warn("service %s: updated stop-first and without rollback: %s shares its network namespace (network_mode: service:%s)", svc.Name, name, svc.Name)
			return false
		}
	}
	return true
}

// rolling says which of a step's operations the rolling update does: the
// recreations of a service with an update_config.
func rolling(svc types.ServiceConfig, op scheduler.Op) bool {
	return updateConfigOf(svc) != nil && (op.Kind == scheduler.Recreate || op.Kind == scheduler.Replace)
}

// swap is one replaced container: new serves in old's place; old is kept
// (stopped or on standby) until the update is over when it may roll back.
type swap struct {
	old, new   string
	oldRunning bool // old still runs, withheld (start-first)
}

// rollOut updates the service's outdated containers group by group. When
// more containers fail than max_failure_ratio allows, failure_action says
// what happens: pause stops the update there, continue goes on, rollback
// puts back every container already replaced. The old container of a
// failed replacement always keeps serving, and nothing of the new one is
// left.
func (a *App) rollOut(ctx context.Context, p *types.Project, r *resolved, ops []scheduler.Op, nets map[string]*network.Network, o UpOptions) error {
	ro := rolloutOf(updateConfigOf(r.svc))
	keepOld := ro.action == actionRollback
	var swaps []swap
	var errs []error
	failures := 0
	tooMany := func() bool { return float64(failures) > ro.ratio*float64(len(ops)) }
	for start := 0; start < len(ops); start += groupSize(ro.parallelism, len(ops)) {
		if start > 0 && ro.delay > 0 {
			if err := sleep(ctx, ro.delay); err != nil {
				return err
			}
		}
		group := ops[start:min(start+groupSize(ro.parallelism, len(ops)), len(ops))]
		done := make([]swap, len(group))
		gerrs := make([]error, len(group))
		_ = eachLimited(len(group), a.limit(), func(i int) error {
			done[i], gerrs[i] = a.replace(ctx, p, r, group[i], nets, o, ro.startFirst, keepOld)
			return nil
		})
		var fresh []string
		for i, err := range gerrs {
			if err != nil {
				failures++
				errs = append(errs, err)
				continue
			}
			swaps = append(swaps, done[i])
			fresh = append(fresh, done[i].new)
		}
		if ro.monitor > 0 && len(fresh) > 0 {
			for _, err := range a.monitor(ctx, p, fresh, ro.monitor) {
				failures++
				errs = append(errs, err)
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !tooMany() {
			if len(errs) > 0 {
				a.warn("service %s: %v (tolerated by max_failure_ratio %v)", r.svc.Name, errors.Join(errs...), ro.ratio)
				errs = nil
			}
			continue
		}
		switch ro.action {
		case actionContinue:
			continue
		case actionRollback:
			err := fmt.Errorf("service %s: update failed, rolled back: %w", r.svc.Name, errors.Join(errs...))
			return errors.Join(err, a.rollBack(ctx, p, r.svc, swaps, o))
		default:
			return fmt.Errorf("service %s: update paused: %w", r.svc.Name, errors.Join(errs...))
		}
	}
	if keepOld {
		for _, s := range swaps {
			if s.old == s.new {
				continue // recreated in place (stop-first): nothing kept
			}
			if err := a.stopRemove(ctx, s.old, o.Timeout); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("service %s: %w", r.svc.Name, errors.Join(errs...))
	}
	return nil
}

func groupSize(parallelism, n int) int {
	if parallelism <= 0 {
		return max(n, 1)
	}
	return parallelism
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// replace puts a new container in the place of op's. Recreate (stop-first,
// same number): stop and remove the old one, make the new one, wait until
// it is ready. Replace: the new container takes the next number; with
// start-first it starts beside the running old one, on standby, and takes
// over once ready; else the old one is stopped first and started again if
// the new one fails. keepOld leaves the old container (stopped or on
// standby) for a rollback.
func (a *App) replace(ctx context.Context, p *types.Project, r *resolved, op scheduler.Op, nets map[string]*network.Network, o UpOptions, startFirst, keepOld bool) (swap, error) {
	old, id := op.Container, containerID(p.Name, r.svc, op.Number)
	if op.Kind == scheduler.Recreate {
		if _, err := a.prepare(ctx, p, r, op, nets, o); err != nil {
			return swap{}, err
		}
		if err := a.start(ctx, id); err != nil {
			return swap{}, err
		}
		return swap{old: old, new: id}, a.waitReady(ctx, p, []string{id})
	}
	standby := startFirst
	if !standby {
		a.progress("Container", old, "Stopping")
		if err := a.Engine.Stop(ctx, old, o.Timeout); err != nil {
			return swap{}, err
		}
		a.progress("Container", old, "Stopped")
		if err := a.withhold(ctx, old); err != nil {
			return swap{}, a.restore(ctx, old, err)
		}
	}
	lbls := projectLabels(p, r.svc, r.hash, op.Number, false)
	for k, v := range restartLabels(r.svc) {
		lbls[k] = v
	}
	a.progress("Container", id, "Creating")
	err := a.createWith(ctx, p, r, id, lbls, nets, createOpts{aliases: true, replaces: old, standby: standby})
	if err == nil {
		a.progress("Container", id, "Created")
		err = a.Engine.CreateTask(ctx, id)
	}
	if err == nil {
		err = a.start(ctx, id)
	}
	if err == nil {
		err = a.waitReady(ctx, p, []string{id})
	}
	if err != nil {
		err = fmt.Errorf("new container %s: %w", id, err)
		if rerr := a.discard(ctx, id); rerr != nil {
			err = errors.Join(err, rerr)
		}
		if !standby {
			return swap{}, a.restore(ctx, old, err)
		}
		return swap{}, fmt.Errorf("%w; %s keeps serving", err, old)
	}
	if standby {
		if err := a.switchTraffic(ctx, id, old); err != nil {
			return swap{}, err
		}
	}
	s := swap{old: old, new: id, oldRunning: standby}
	if keepOld {
		return s, nil
	}
	return s, a.stopRemove(ctx, old, o.Timeout)
}

// switchTraffic moves the service's names and published ports from old to
// id. The names of both are answered for a moment, never of neither, so a
// lookup during the switch never fails; new connections to the published
// ports go to id from one rule change on, established ones keep theirs.
func (a *App) switchTraffic(ctx context.Context, id, old string) error {
	if err := a.Engine.SetLabels(ctx, id, map[string]string{labels.DNSWithheld: ""}); err != nil {
		return err
	}
	if err := a.reloadDNS(ctx); err != nil {
		return err
	}
	if a.Net != nil {
		if err := a.Net.ServePorts(id); err != nil {
			return err
		}
	}
	return a.withhold(ctx, old)
}

// withhold stops DNS answering a container by its service name and aliases.
func (a *App) withhold(ctx context.Context, id string) error {
	c, err := a.Engine.Inspect(ctx, id)
	if err != nil {
		return err
	}
	eps, err := labels.EndpointsOf(c.Labels)
	if err != nil {
		return fmt.Errorf("container %s: %w", id, err)
	}
	if names := withheldNames(eps, id); names != "" {
		if err := a.Engine.SetLabels(ctx, id, map[string]string{labels.DNSWithheld: names}); err != nil {
			return err
		}
	}
	return a.reloadDNS(ctx)
}

// restore brings back an old container stopped for a replacement that
// failed: started, answered by DNS and taking its ports again. cause is
// returned with what went wrong on the way.
func (a *App) restore(ctx context.Context, old string, cause error) error {
	if err := a.start(ctx, old); err != nil {
		return errors.Join(cause, err)
	}
	err := a.Engine.SetLabels(ctx, old, map[string]string{labels.DNSWithheld: ""})
	if err == nil {
		err = a.reloadDNS(ctx)
	}
	if err == nil && a.Net != nil {
		err = a.Net.ServePorts(old)
	}
	if err != nil {
		return errors.Join(cause, err)
	}
	return fmt.Errorf("%w; %s is running again", cause, old)
}

// discard stops and removes a new container that did not make it, with
// its anonymous volumes (nothing of it is left).
func (a *App) discard(ctx context.Context, id string) error {
	ctx = context.WithoutCancel(ctx)
	zero := time.Duration(0)
	if err := a.Engine.Stop(ctx, id, &zero); err != nil && !runtime.IsNotFound(err) {
		return err
	}
	a.progress("Container", id, "Removing")
	if err := a.removeWithVolumes(ctx, id, true); err != nil {
		return err
	}
	a.progress("Container", id, "Removed")
	return nil
}

// monitor watches containers for d after they took over (update_config
// monitor): each that exits or turns unhealthy in that time is a failure.
func (a *App) monitor(ctx context.Context, p *types.Project, ids []string, d time.Duration) []error {
	deadline := time.Now().Add(d)
	failed := map[string]error{}
	for time.Now().Before(deadline) && len(failed) < len(ids) {
		cs, err := a.observe(ctx, p.Name, &no)
		if err != nil {
			return []error{err}
		}
		for _, c := range cs {
			if !slices.Contains(ids, c.ID) || failed[c.ID] != nil {
				continue
			}
			switch {
			case c.State != runtime.StateRunning && c.State != runtime.StatePaused:
				failed[c.ID] = fmt.Errorf("container %s %s (exit %d) within the update's monitor period", c.ID, c.State, c.ExitCode)
			case a.healthOf(c) == health.Unhealthy:
				failed[c.ID] = fmt.Errorf("container %s became unhealthy within the update's monitor period%s", c.ID, lastProbe(a, c.ID))
			}
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return []error{err}
		}
	}
	var out []error
	for _, id := range ids {
		if err := failed[id]; err != nil {
			out = append(out, err)
		}
	}
	return out
}

// lastProbe is ": OUTPUT" of the container's last failed health probe, or "".
func lastProbe(a *App, id string) string {
	st, ok := health.Read(a.StateDir, a.Engine.Namespace(), id)
	if !ok || len(st.Log) == 0 {
		return ""
	}
	out := strings.TrimSpace(st.Log[len(st.Log)-1].Output)
	if out == "" {
		return fmt.Sprintf(": health probe exited %d", st.Log[len(st.Log)-1].ExitCode)
	}
	return ": " + out
}

// rollBack puts the old containers back in place of the new ones, in the
// groups and order of the service's rollback_config: an old container on
// standby takes the traffic back at once; a stopped one is started (with
// stop-first after its successor stopped) and takes it once ready. The new
// containers are removed. failure_action pause stops at the first error,
// continue goes on.
func (a *App) rollBack(ctx context.Context, p *types.Project, svc types.ServiceConfig, swaps []swap, o UpOptions) error {
	var c *types.UpdateConfig
	if svc.Deploy != nil {
		c = svc.Deploy.RollbackConfig
	}
	ro := rolloutOf(c)
	// A rollback runs to its end; containers recreated in place kept no
	// old one to go back to.
	ctx = context.WithoutCancel(ctx)
	swaps = slices.DeleteFunc(slices.Clone(swaps), func(s swap) bool { return s.old == s.new })
	var errs []error
	for start := 0; start < len(swaps); start += groupSize(ro.parallelism, len(swaps)) {
		if start > 0 && ro.delay > 0 {
			_ = sleep(ctx, ro.delay)
		}
		group := swaps[start:min(start+groupSize(ro.parallelism, len(swaps)), len(swaps))]
		gerrs := make([]error, len(group))
		_ = eachLimited(len(group), a.limit(), func(i int) error {
			gerrs[i] = a.putBack(ctx, p, group[i], ro.startFirst, o)
			return nil
		})
		for _, err := range gerrs {
			if err != nil {
				errs = append(errs, err)
			}
		}
		if len(errs) > 0 && ro.action != actionContinue {
			return fmt.Errorf("rollback paused: %w", errors.Join(errs...))
		}
	}
	return errors.Join(errs...)
}

func (a *App) putBack(ctx context.Context, p *types.Project, s swap, startFirst bool, o UpOptions) error {
	if !s.oldRunning {
		if !startFirst {
			if err := a.Engine.Stop(ctx, s.new, o.Timeout); err != nil {
				return err
			}
		}
		if err := a.start(ctx, s.old); err != nil {
			return err
		}
		if err := a.waitReady(ctx, p, []string{s.old}); err != nil {
			return err
		}
	}
	if err := a.switchTraffic(ctx, s.old, s.new); err != nil {
		return err
	}
	a.progress("Container", s.old, "Rolled back")
	return a.stopRemove(ctx, s.new, o.Timeout)
}

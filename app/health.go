package app

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/gocompose/gocompose/internal/health"
	"github.com/gocompose/gocompose/internal/labels"
	"github.com/gocompose/gocompose/model"
	"github.com/gocompose/gocompose/runtime"
	"golang.org/x/sync/errgroup"
)

// testArgv turns Docker's test form into what to exec.
func testArgv(test []string) ([]string, error) {
	if len(test) == 0 {
		return nil, nil
	}
	switch test[0] {
	case "NONE":
		return nil, nil
	case "CMD":
		return test[1:], nil
	case "CMD-SHELL":
		if len(test) < 2 {
			return nil, errors.New("healthcheck CMD-SHELL needs a command")
		}
		return []string{"/bin/sh", "-c", test[1]}, nil
	}
	return nil, fmt.Errorf("healthcheck test must start with NONE, CMD or CMD-SHELL, not %q", test[0])
}

func dur(d *types.Duration) time.Duration {
	if d == nil {
		return 0
	}
	return time.Duration(*d)
}

// healthConfig merges the service's healthcheck over the image's; nil means
// the container has none (absent, NONE, or disable: true).
func healthConfig(svc types.ServiceConfig, img *model.Healthcheck) (*health.Config, error) {
	var c health.Config
	var test []string
	if img != nil {
		test = img.Test
		c = health.Config{Interval: img.Interval, Timeout: img.Timeout, StartPeriod: img.StartPeriod,
			StartInterval: img.StartInterval, Retries: img.Retries}
	}
	if h := svc.HealthCheck; h != nil {
		if h.Disable {
			return nil, nil
		}
		if len(h.Test) > 0 {
			test = h.Test
		}
		if h.Interval != nil {
			c.Interval = dur(h.Interval)
		}
		if h.Timeout != nil {
			c.Timeout = dur(h.Timeout)
		}
		if h.StartPeriod != nil {
			c.StartPeriod = dur(h.StartPeriod)
		}
		if h.StartInterval != nil {
			c.StartInterval = dur(h.StartInterval)
		}
		if h.Retries != nil {
			c.Retries = int(*h.Retries)
		}
	}
	argv, err := testArgv(test)
	if err != nil {
		return nil, fmt.Errorf("service %s: %w", svc.Name, err)
	}
	if len(argv) == 0 {
		return nil, nil
	}
	c.Test = argv
	c = c.WithDefaults()
	return &c, nil
}

// restartLabels turns restart: or deploy.restart_policy into the policy
// label the supervisor applies: always, unless-stopped or on-failure, with
// ":N" for a maximum number of restarts.
func restartLabels(svc types.ServiceConfig) map[string]string {
	out := map[string]string{}
	if svc.Restart != "" && svc.Restart != types.RestartPolicyNo {
		out[labels.Restart] = svc.Restart
	}
	if d := svc.Deploy; d != nil && d.RestartPolicy != nil {
		rp := d.RestartPolicy
		policy := "always"
		switch rp.Condition {
		case "on-failure":
			policy = "on-failure"
		case "none":
			policy = ""
		}
		if policy != "" && rp.MaxAttempts != nil {
			policy += ":" + strconv.FormatUint(*rp.MaxAttempts, 10)
		}
		if policy == "" {
			delete(out, labels.Restart)
		} else {
			out[labels.Restart] = policy
		}
		if rp.Delay != nil {
			out[labels.RestartDelay] = time.Duration(*rp.Delay).String()
		}
	}
	return out
}

// healthOf returns the health status of a running container ("" when it
// has no healthcheck or is not running).
func (a *App) healthOf(c runtime.Container) string {
	if c.Labels[health.Label] == "" || c.State != runtime.StateRunning {
		return ""
	}
	st, ok := health.Read(a.StateDir, a.Engine.Namespace(), c.ID)
	if !ok || st.StartedAt.Before(c.StartedAt.Add(-time.Second)) {
		return health.Starting
	}
	return st.Status
}

// waitCondition blocks until the dependency's containers satisfy cond:
// started (already true), healthy, completed successfully, or running or
// healthy (up --wait). Cancel returns ctx.Err(), never success.
func (a *App) waitCondition(ctx context.Context, p *types.Project, dep, cond string) error {
	if cond == "" || cond == types.ServiceConditionStarted {
		return nil
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	// As Docker Compose, the dependency's containers show Waiting, then
	// Healthy or Exited, or the error that ends the wait.
	var shown []runtime.Container
	show := func(state string) {
		for _, c := range shown {
			a.progress("Container", c.ID, state)
		}
	}
	for first := true; ; first = false {
		// Only the dependency's containers, not the whole project, each tick.
		cs, err := a.Engine.List(ctx, map[string]string{labels.Project: p.Name, labels.Service: dep, labels.OneOff: boolLabel(false)})
		if err != nil {
			return err
		}
		if len(cs) == 0 {
			return fmt.Errorf("dependency %s has no container", dep)
		}
		if first {
			shown = cs
			show("Waiting")
		}
		done := true
		for _, c := range cs {
			switch cond {
			case runningOrHealthy:
				switch {
				case c.State == runtime.StateExited:
					show("Error")
					return fmt.Errorf("container %s exited (%d)", c.ID, c.ExitCode)
				case c.State != runtime.StateRunning:
					done = false
				default:
					switch a.healthOf(c) {
					case "", health.Healthy: // no healthcheck: running is enough
					case health.Unhealthy:
						show("Error")
						return fmt.Errorf("container %s is unhealthy%s", c.ID, lastProbe(a, c.ID))
					default:
						done = false
					}
				}
			case types.ServiceConditionHealthy:
				if c.Labels[health.Label] == "" {
					show("Error dependency " + dep + " failed to start")
					return fmt.Errorf("dependency %s has no healthcheck configured", dep)
				}
				if c.State == runtime.StateExited {
					show("Error dependency " + dep + " failed to start")
					return fmt.Errorf("dependency %s exited (%d) before becoming healthy", c.ID, c.ExitCode)
				}
				switch a.healthOf(c) {
				case health.Healthy:
				case health.Unhealthy:
					show("Error dependency " + dep + " failed to start")
					return fmt.Errorf("dependency failed to start: container %s is unhealthy", c.ID)
				default:
					done = false
				}
			case types.ServiceConditionCompletedSuccessfully:
				if c.State != runtime.StateExited {
					done = false
				} else if c.ExitCode != 0 {
					msg := fmt.Sprintf("service %q didn't complete successfully: exit %d", dep, c.ExitCode)
					show("Error " + msg)
					return errors.New(msg)
				}
			default:
				return fmt.Errorf("unknown depends_on condition %q", cond)
			}
		}
		if done {
			if cond == types.ServiceConditionCompletedSuccessfully {
				show("Exited")
			} else {
				show("Healthy")
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// runningOrHealthy is the condition up --wait applies to services nothing
// waits for with service_completed_successfully, as Docker Compose's
// (running, and healthy when there is a healthcheck; exiting fails it).
const runningOrHealthy = "running_or_healthy"

// waitServices is up --wait and start --wait as Docker Compose v5.5 waits,
// through the dependency wait: a service another depends on with
// service_completed_successfully must exit 0, every other must be running
// or healthy; the services are waited for together, the first failure
// ending the wait.
func (a *App) waitServices(ctx context.Context, p *types.Project, ids []string) error {
	completes := map[string]bool{}
	for _, svc := range p.Services {
		for dep, d := range svc.DependsOn {
			if d.Condition == types.ServiceConditionCompletedSuccessfully {
				completes[dep] = true
			}
		}
	}
	cs, err := a.observe(ctx, p.Name, &no)
	if err != nil {
		return err
	}
	services := map[string]bool{}
	for _, c := range cs {
		if slices.Contains(ids, c.ID) {
			services[c.Labels[labels.Service]] = true
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, svc := range slices.Sorted(maps.Keys(services)) {
		cond := runningOrHealthy
		if completes[svc] {
			cond = types.ServiceConditionCompletedSuccessfully
		}
		g.Go(func() error { return a.waitCondition(gctx, p, svc, cond) })
	}
	return g.Wait()
}

// waitReady is a rolling update's wait for a new container: running (and
// healthy when it has a healthcheck), or exited 0 for one-shot services.
func (a *App) waitReady(ctx context.Context, p *types.Project, ids []string) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		cs, err := a.observe(ctx, p.Name, &no)
		if err != nil {
			return err
		}
		ready := true
		for _, c := range cs {
			if !slices.Contains(ids, c.ID) {
				continue
			}
			switch {
			case c.State == runtime.StateExited && c.ExitCode == 0:
			case c.State == runtime.StateExited:
				return fmt.Errorf("container %s exited (%d)", c.ID, c.ExitCode)
			case c.State != runtime.StateRunning:
				ready = false
			default:
				switch a.healthOf(c) {
				case "", health.Healthy:
				case health.Unhealthy:
					return fmt.Errorf("container %s is unhealthy%s", c.ID, lastProbe(a, c.ID))
				default:
					ready = false
				}
			}
		}
		if ready {
			for _, id := range ids {
				a.progress("Container", id, "Healthy")
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

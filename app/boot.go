package app

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/gocompose/gocompose/internal/labels"
	"github.com/gocompose/gocompose/internal/lock"
	"github.com/gocompose/gocompose/runtime"
	"github.com/gocompose/gocompose/scheduler"
	"github.com/gocompose/gocompose/spec"
)

// atBoot says whether a container that has no running task should be
// started when the host comes back, as dockerd decides: restart: always
// always; unless-stopped unless a user stopped it; on-failure when it was
// running when the host went down (started, no exit recorded since) and
// is under its retry limit. `no` and one-off containers stay as they are.
func atBoot(c runtime.Container) bool {
	l := c.Labels
	if l[labels.OneOff] == "True" || l[labels.StartedAt] == "" || c.State == runtime.StateRunning || c.State == runtime.StatePaused {
		return false
	}
	policy, _, _ := strings.Cut(l[labels.Restart], ":")
	userStopped := l[labels.UserStopped] == "True"
	switch policy {
	case "always":
		return true
	case "unless-stopped":
		return !userStopped
	case "on-failure":
		started, _ := time.Parse(time.RFC3339Nano, l[labels.StartedAt])
		finished, err := time.Parse(time.RFC3339Nano, l[labels.FinishedAt])
		wasRunning := err != nil || finished.Before(started)
		return wasRunning && !userStopped
	}
	return false
}

// Boot brings back, when the host comes up, every container of this
// namespace (made with this state directory) that its restart policy says
// should run (atBoot), project by project, in depends_on order: each
// service's containers start once its dependencies being brought back meet
// their conditions. What a reboot took is made again first: network
// namespace, addresses, masquerade rule, secrets tmpfs, driver_opts mounts.
// logf says what it did; the projects' errors are joined.
func (a *App) Boot(ctx context.Context, logf func(format string, args ...any)) error {
	cs, err := a.Engine.List(ctx, map[string]string{labels.State: a.StateDir})
	if err != nil {
		return err
	}
	byProject := map[string][]runtime.Container{}
	for _, c := range cs {
		if atBoot(c) && c.Labels[labels.Project] != "" {
			byProject[c.Labels[labels.Project]] = append(byProject[c.Labels[labels.Project]], c)
		}
	}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(byProject)) {
		if err := a.bootProject(ctx, name, byProject[name], logf); err != nil {
			logf("project %s: %v", name, err)
			errs = append(errs, fmt.Errorf("project %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// bootProject starts one project's containers in dependency order, under
// the project's lock: a command started at boot (`up -d` from a boot
// script) and the supervisor never bring the same containers back at
// once; whichever comes second finds them running.
func (a *App) bootProject(ctx context.Context, project string, cs []runtime.Container, logf func(string, ...any)) error {
	l, err := lock.Project(ctx, a.LockDir, project)
	if err != nil {
		return err
	}
	defer l.Unlock()
	var now []runtime.Container
	for _, c := range cs {
		if fresh, err := a.Engine.Inspect(ctx, c.ID); err == nil && atBoot(fresh) {
			now = append(now, fresh)
		}
	}
	if len(now) == 0 {
		return nil
	}
	cs = now
	p := a.bootModel(ctx, project, cs[0], logf)
	byService := map[string][]runtime.Container{}
	for _, c := range cs {
		byService[c.Labels[labels.Service]] = append(byService[c.Labels[labels.Service]], c)
	}
	g := scheduler.Graph{}
	conds := map[string]map[string]string{}
	var order []string
	for svc, list := range byService {
		order = append(order, svc)
		g[svc] = nil // a node even without dependencies
		conds[svc] = map[string]string{}
		for _, dep := range strings.Split(list[0].Labels[labels.DependsOn], ",") {
			name, rest, _ := strings.Cut(dep, ":")
			cond, _, _ := strings.Cut(rest, ":")
			if _, back := byService[name]; back && name != "" && name != svc {
				g[svc] = append(g[svc], name)
				conds[svc][name] = cond
			}
		}
	}
	slices.Sort(order)
	errs := scheduler.Walk(ctx, g, func(ctx context.Context, svc string, d scheduler.Deps) error {
		if err := d.Wait(); err != nil {
			return err
		}
		for _, dep := range slices.Sorted(slices.Values(g[svc])) {
			if err := a.waitCondition(ctx, p, dep, conds[svc][dep]); err != nil {
				return fmt.Errorf("service %s not started: %w", svc, err)
			}
		}
		var errs []error
		for _, c := range byService[svc] {
			if err := a.restoreHost(ctx, p, c); err != nil {
				errs = append(errs, err)
				continue
			}
			if err := a.Engine.Start(ctx, c.ID); err != nil {
				errs = append(errs, fmt.Errorf("container %s: %w", c.ID, err))
				continue
			}
			logf("started %s (restart: %s)", c.ID, c.Labels[labels.Restart])
		}
		return errors.Join(errs...)
	})
	return scheduler.FirstError(order, errs)
}

// bootModel is the project as its files say (for its secrets and configs,
// which the reboot took with /run), else only its name: a file that moved
// or no longer loads leaves those containers without secrets, said in the
// log, and the others start.
func (a *App) bootModel(ctx context.Context, project string, c runtime.Container, logf func(string, ...any)) *types.Project {
	files := strings.Split(c.Labels[labels.ConfigFiles], ",")
	if len(files) == 0 || files[0] == "" {
		return &types.Project{Name: project}
	}
	p, err := spec.LoadUnchecked(ctx, spec.Options{Files: files, ProjectName: project, ProjectDirectory: c.Labels[labels.WorkingDir]})
	if err != nil {
		logf("project %s: its compose file %s does not load (%v): containers start without re-made secrets", project, filepath.Base(files[0]), err)
		return &types.Project{Name: project}
	}
	return p
}

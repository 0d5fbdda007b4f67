package app

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/containerd/errdefs"
	"github.com/gocompose/gocompose/internal/labels"
	"github.com/gocompose/gocompose/internal/lock"
	"github.com/gocompose/gocompose/runtime"
	"github.com/gocompose/gocompose/scheduler"
	"golang.org/x/sync/errgroup"
)

// order says which services must finish before each service.
type order map[string][]string

// forward: a service after its dependencies.
func forward(p *types.Project) order {
	o := order{}
	for name, s := range p.Services {
		for d := range s.DependsOn {
			o[name] = append(o[name], d)
		}
	}
	return o
}

// reverse: a service after the services that depend on it.
func reverse(p *types.Project) order {
	o := order{}
	for name, s := range p.Services {
		for d := range s.DependsOn {
			o[d] = append(o[d], name)
		}
	}
	return o
}

// walk runs fn on every container, service by service in the given order,
// the containers of one service and independent services in parallel. It
// returns the first error; services after a failed one are still attempted,
// since stopping and removing should get as far as it can.
func (a *App) walk(ctx context.Context, cs []runtime.Container, after order, fn func(runtime.Container) error) error {
	return a.walkGated(ctx, cs, after, nil, fn)
}

// startAfter is the gate of the walks that start containers (start,
// restart): a service starts only once each dependency being started with
// it has started without error and reached its depends_on condition
// (service_healthy judged on its current run), as `up` waits.
func (a *App) startAfter(p *types.Project) func(ctx context.Context, service, dep string) error {
	return func(ctx context.Context, service, dep string) error {
		d := p.Services[service].DependsOn[dep]
		if err := a.waitCondition(ctx, p, dep, d.Condition); err != nil {
			if !d.Required {
				a.warn("optional dependency %s of %s: %v", dep, service, err)
				return nil
			}
			return fmt.Errorf("service %s not started: %w", service, err)
		}
		return nil
	}
}

// walkGated is walk with a gate: when gate is set, a service whose
// dependency failed fails too (never runs), and gate must pass for each
// dependency before the service's containers run.
func (a *App) walkGated(ctx context.Context, cs []runtime.Container, after order,
	gate func(ctx context.Context, service, dep string) error, fn func(runtime.Container) error) error {
	byService := map[string][]runtime.Container{}
	for _, c := range cs {
		s := c.Labels[labels.Service]
		byService[s] = append(byService[s], c)
	}
	g := scheduler.Graph{}
	for s := range byService {
		g[s] = after[s]
	}
	var mu sync.Mutex // guards firstErr
	var firstErr error
	scheduler.Walk(ctx, g, func(ctx context.Context, s string, d scheduler.Deps) error {
		err := func() error {
			werr := d.Wait()
			if errors.Is(werr, ctx.Err()) && ctx.Err() != nil {
				return nil // cancelled: reported below
			}
			if gate != nil {
				if werr != nil {
					return werr // a dependency failed: this one never runs
				}
				for _, dep := range slices.Sorted(slices.Values(after[s])) {
					if _, ok := byService[dep]; !ok {
						continue
					}
					if err := gate(ctx, s, dep); err != nil {
						return err
					}
				}
			}
			group := byService[s]
			return a.parallel(len(group), func(i int) error { return fn(group[i]) })
		}()
		if err != nil {
			mu.Lock()
			if firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
		}
		return err
	})
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

func running(c runtime.Container) bool {
	return c.State == runtime.StateRunning || c.State == runtime.StatePaused
}

// stopAll stops every running container of the project, dependents first.
func (a *App) stopAll(ctx context.Context, p *types.Project, timeout *time.Duration) error {
	cs, err := a.observe(ctx, p.Name, &no)
	if err != nil {
		return err
	}
	return a.walk(ctx, cs, reverse(p), func(c runtime.Container) error {
		if !running(c) {
			return nil
		}
		a.progress("Container", c.ID, "Stopping")
		if err := a.stopContainer(ctx, c.ID, timeout); err != nil {
			return err
		}
		a.progress("Container", c.ID, "Stopped")
		return nil
	})
}

// DownOptions are the flags of `down`.
type DownOptions struct {
	// Services limits down to these services and those depending on them.
	Services      []string
	RemoveOrphans bool
	Volumes       bool
	Timeout       *time.Duration
	// Rmi removes images after the containers: "local" those built without
	// an image: name, "all" every service's image.
	Rmi string
}

// Down stops and removes the project's containers (one-off ones too),
// dependents first. Running it twice is harmless.
func (a *App) Down(ctx context.Context, p *types.Project, o DownOptions) error {
	// One DNS reload for the whole down, not one per container.
	bctx, batch := withDNSBatch(ctx)
	err := a.down(bctx, p, o)
	return errors.Join(err, batch.flush(ctx, a))
}

func (a *App) down(ctx context.Context, p *types.Project, o DownOptions) error {
	if o.Rmi != "" && o.Rmi != "local" && o.Rmi != "all" {
		return fmt.Errorf("invalid --rmi %q: use local or all", o.Rmi)
	}
	l, err := lock.Project(ctx, a.LockDir, p.Name)
	if err != nil {
		return err
	}
	defer l.Unlock()
	cs, err := a.observe(ctx, p.Name, nil)
	if err != nil {
		return err
	}
	var chosen map[string]bool
	if len(o.Services) > 0 {
		if chosen, err = downServices(p, cs, o.Services); err != nil {
			return err
		}
	}
	var targets, orphans, kept []runtime.Container
	for _, c := range cs {
		svc := c.Labels[labels.Service]
		_, inFile := p.Services[svc]
		switch {
		case chosen != nil && !chosen[svc]:
			kept = append(kept, c)
		case chosen != nil || inFile || len(p.Services) == 0 || o.RemoveOrphans || c.Labels[labels.OneOff] == "True":
			targets = append(targets, c)
		default:
			orphans = append(orphans, c)
		}
	}
	if len(orphans) > 0 {
		var names []string
		for _, c := range orphans {
			names = append(names, c.ID)
		}
		a.warn("Found orphan containers (%s) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.", strings.Join(names, ", "))
	}
	// Stops follow the dependency order in reverse; removal (snapshot,
	// network detach, DNS) needs no order, so it runs alongside.
	var removals errgroup.Group
	removals.SetLimit(max(a.Parallel, 8))
	var rmMu sync.Mutex // guards rmErr
	var rmErr error
	err = a.walk(ctx, targets, reverse(p), func(c runtime.Container) error {
		if running(c) {
			a.progress("Container", c.ID, "Stopping")
			if err := a.stopObserved(ctx, c, o.Timeout); err != nil {
				return err
			}
			a.progress("Container", c.ID, "Stopped")
		}
		// Go may wait for a slot: the walk's next stop waits with it,
		// which bounds removals and stops together.
		removals.Go(func() error {
			a.progress("Container", c.ID, "Removing")
			if err := a.removeContainer(ctx, c.ID, true); err != nil {
				rmMu.Lock()
				rmErr = errors.Join(rmErr, err)
				rmMu.Unlock()
				return nil
			}
			a.progress("Container", c.ID, "Removed")
			return nil
		})
		return nil
	})
	_ = removals.Wait() // their errors are in rmErr
	if err = errors.Join(err, rmErr); err != nil {
		return err
	}
	// Provider services go after the containers that depend on them.
	if err := a.providersDo(ctx, p, chosen, "down"); err != nil {
		return err
	}
	if len(kept) == 0 {
		if err := a.sweepLeftovers(ctx, p.Name); err != nil {
			return err
		}
	}
	for _, c := range targets {
		keep := a.detachAnonymousVolumes
		if o.Volumes {
			keep = a.removeAnonymousVolumes
		}
		if err := keep(c); err != nil {
			return err
		}
	}
	if err := a.unmountIdleVolumes(ctx, p); err != nil {
		return err
	}
	if len(kept) == 0 {
		// The copies belong to the project: they go with its last container.
		if err := a.secretFS().Remove(p.Name); err != nil {
			return err
		}
	}
	if o.Volumes {
		if err := a.removeVolumes(ctx, p); err != nil {
			return err
		}
	}
	if o.Rmi != "" {
		if err := a.removeImages(ctx, p, o.Rmi == "all"); err != nil {
			return err
		}
	}
	if len(orphans) > 0 {
		return nil // their networks are still in use
	}
	return a.removeNetworks(ctx, p, kept)
}

// downServices returns the services `down SERVICE...` takes: the named ones
// and, transitively, the services that depend on them, as Docker Compose
// walks them. Without a compose file (down -p NAME) the dependencies come
// from the containers' depends_on labels and unknown names are skipped,
// since a typo cannot be told from a service already removed.
func downServices(p *types.Project, cs []runtime.Container, services []string) (map[string]bool, error) {
	deps := map[string][]string{} // service -> the services it depends on
	if len(p.Services) > 0 {
		if err := checkServices(p, services); err != nil {
			return nil, err
		}
		for name, svc := range p.Services {
			deps[name] = slices.Collect(maps.Keys(svc.DependsOn))
		}
	} else {
		for _, c := range cs {
			svc := c.Labels[labels.Service]
			for _, d := range strings.Split(c.Labels[labels.DependsOn], ",") {
				if name, _, _ := strings.Cut(d, ":"); name != "" {
					deps[svc] = append(deps[svc], name)
				}
			}
		}
	}
	chosen := map[string]bool{}
	for _, s := range services {
		chosen[s] = true
	}
	for changed := true; changed; {
		changed = false
		for name, ds := range deps {
			if chosen[name] {
				continue
			}
			for _, d := range ds {
				if chosen[d] {
					chosen[name], changed = true, true
					break
				}
			}
		}
	}
	return chosen, nil
}

// Stop stops the services' containers without removing them.
func (a *App) Stop(ctx context.Context, p *types.Project, services []string, timeout *time.Duration) error {
	if err := checkServices(p, services); err != nil {
		return err
	}
	cs, err := a.observe(ctx, p.Name, nil)
	if err != nil {
		return err
	}
	err = a.walk(ctx, selectContainers(cs, services), reverse(p), func(c runtime.Container) error {
		// An exited container with a restart policy may be about to come
		// back: stopping it marks it user-stopped.
		if !running(c) && c.Labels[labels.Restart] == "" {
			return nil
		}
		a.progress("Container", c.ID, "Stopping")
		if err := a.stopContainer(ctx, c.ID, timeout); err != nil {
			return err
		}
		a.progress("Container", c.ID, "Stopped")
		return nil
	})
	if err != nil {
		return err
	}
	var chosen map[string]bool
	if len(services) > 0 {
		chosen = map[string]bool{}
		for _, s := range services {
			chosen[s] = true
		}
	}
	return a.providersDo(ctx, p, chosen, "stop")
}

// providersDo runs command (down, stop) for the project's provider
// services (those chosen, when chosen is set), dependents first.
func (a *App) providersDo(ctx context.Context, p *types.Project, chosen map[string]bool, command string) error {
	order := providerOrder(p)
	for _, name := range slices.Backward(order) {
		if chosen != nil && !chosen[name] {
			continue
		}
		if _, err := a.runProvider(ctx, p, p.Services[name], command); err != nil {
			return err
		}
	}
	return nil
}

// Start starts existing containers of the services, dependencies first.
// With wait (start --wait) it then waits, up to *wait when that is not
// zero, until they are running or healthy, as up --wait does.
func (a *App) Start(ctx context.Context, p *types.Project, services []string, wait *time.Duration) error {
	cs, err := a.serviceContainers(ctx, p, services, &no)
	if err != nil {
		return err
	}
	if len(cs) == 0 {
		return fmt.Errorf("service(s) %v have no container to start: run `up` first", services)
	}
	err = a.walkGated(ctx, cs, forward(p), a.startAfter(p), func(c runtime.Container) error {
		if running(c) {
			return nil
		}
		if err := a.restoreHost(ctx, p, c); err != nil {
			return err
		}
		return a.start(ctx, c.ID)
	})
	if err != nil || wait == nil {
		return err
	}
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	return a.waitFor(ctx, p, ids, *wait)
}

// restartDependents adds to services, transitively, the services whose
// depends_on names one of them with restart: true (Docker Compose restarts
// those after their dependency).
func restartDependents(p *types.Project, services []string) []string {
	set := map[string]bool{}
	for _, s := range services {
		set[s] = true
	}
	for changed := true; changed; {
		changed = false
		for name, svc := range p.Services {
			if set[name] {
				continue
			}
			for dep, d := range svc.DependsOn {
				if d.Restart && set[dep] {
					set[name], changed = true, true
					break
				}
			}
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// Restart stops then starts the services' containers; unless noDeps, the
// services that depend on them with restart: true are restarted too.
func (a *App) Restart(ctx context.Context, p *types.Project, services []string, timeout *time.Duration, noDeps bool) error {
	if err := checkServices(p, services); err != nil {
		return err
	}
	if len(services) > 0 && !noDeps {
		services = restartDependents(p, services)
	}
	cs, err := a.serviceContainers(ctx, p, services, &no)
	if err != nil {
		return err
	}
	if err := a.walk(ctx, cs, reverse(p), func(c runtime.Container) error {
		if !running(c) {
			return nil
		}
		a.progress("Container", c.ID, "Restarting")
		return a.stopContainer(ctx, c.ID, timeout)
	}); err != nil {
		return err
	}
	return a.walkGated(ctx, cs, forward(p), a.startAfter(p), func(c runtime.Container) error {
		if err := a.restoreHost(ctx, p, c); err != nil {
			return err
		}
		if err := a.Engine.Start(ctx, c.ID); err != nil {
			return err
		}
		if err := a.postStart(ctx, c.ID); err != nil {
			return err
		}
		a.progress("Container", c.ID, "Started")
		return nil
	})
}

// Kill sends a signal to the services' running containers.
func (a *App) Kill(ctx context.Context, p *types.Project, services []string, signal string, removeOrphans bool) error {
	if err := checkServices(p, services); err != nil {
		return err
	}
	sig := syscall.SIGKILL
	if signal != "" {
		var err error
		if sig, err = runtime.ParseSignal(signal); err != nil {
			return err
		}
	}
	cs, err := a.observe(ctx, p.Name, nil)
	if err != nil {
		return err
	}
	removed := 0
	if removeOrphans {
		if removed, err = a.removeOrphans(ctx, p, cs); err != nil {
			return err
		}
	}
	cs = slices.DeleteFunc(selectContainers(cs, services), func(c runtime.Container) bool {
		_, inFile := p.Services[c.Labels[labels.Service]]
		return !running(c) || (removeOrphans && !inFile && c.Labels[labels.OneOff] != "True")
	})
	if len(cs) == 0 {
		if removed > 0 {
			return nil
		}
		return fmt.Errorf("no container to kill")
	}
	return a.parallel(len(cs), func(i int) error {
		a.progress("Container", cs[i].ID, "Killing")
		if err := a.Engine.Kill(ctx, cs[i].ID, sig); err != nil {
			return err
		}
		a.progress("Container", cs[i].ID, "Killed")
		return nil
	})
}

// removeOrphans stops and removes the containers of cs whose service is
// no longer in the file, as down --remove-orphans does (run containers are
// not orphans), and says how many went.
func (a *App) removeOrphans(ctx context.Context, p *types.Project, cs []runtime.Container) (int, error) {
	removed := 0
	for _, c := range cs {
		if _, inFile := p.Services[c.Labels[labels.Service]]; inFile || c.Labels[labels.OneOff] == "True" {
			continue
		}
		if err := a.stopRemove(ctx, c.ID, nil); err != nil {
			return removed, err
		}
		removed++
	}
	return removed, nil
}

// RmOptions are the flags of `rm`.
type RmOptions struct {
	Force   bool // don't ask (gocompose never asks; kept for compatibility)
	Stop    bool
	Volumes bool
}

// Rm removes the services' stopped containers (with -s, stops them first).
func (a *App) Rm(ctx context.Context, p *types.Project, services []string, o RmOptions) error {
	cs, err := a.serviceContainers(ctx, p, services, nil)
	if err != nil {
		return err
	}
	var targets []runtime.Container
	for _, c := range cs {
		if running(c) {
			if !o.Stop {
				continue
			}
			if err := a.stopContainer(ctx, c.ID, nil); err != nil {
				return err
			}
		}
		targets = append(targets, c)
	}
	if len(targets) == 0 {
		fmt.Fprintln(a.Err, "No stopped containers")
		return nil
	}
	return a.parallel(len(targets), func(i int) error {
		a.progress("Container", targets[i].ID, "Removing")
		remove := a.removeContainer
		if o.Volumes {
			remove = a.removeWithVolumes
		}
		if err := remove(ctx, targets[i].ID, false); err != nil {
			return err
		}
		if !o.Volumes {
			if err := a.detachAnonymousVolumes(targets[i]); err != nil {
				return err
			}
		}
		a.progress("Container", targets[i].ID, "Removed")
		return nil
	})
}

// Pause freezes the services' running containers.
func (a *App) Pause(ctx context.Context, p *types.Project, services []string) error {
	return a.eachRunning(ctx, p, services, "Paused", a.Engine.Pause)
}

// Unpause thaws the services' paused containers.
func (a *App) Unpause(ctx context.Context, p *types.Project, services []string) error {
	return a.eachRunning(ctx, p, services, "Unpaused", a.Engine.Unpause)
}

func (a *App) eachRunning(ctx context.Context, p *types.Project, services []string, state string, fn func(context.Context, string) error) error {
	if err := checkServices(p, services); err != nil {
		return err
	}
	cs, err := a.observe(ctx, p.Name, nil)
	if err != nil {
		return err
	}
	cs = slices.DeleteFunc(selectContainers(cs, services), func(c runtime.Container) bool { return !running(c) })
	return a.parallel(len(cs), func(i int) error {
		if err := fn(ctx, cs[i].ID); err != nil {
			return err
		}
		a.progress("Container", cs[i].ID, state)
		return nil
	})
}

// removeImages removes the services' images for down --rmi: the ones built
// under the default name, or with all every one. An image another
// container still uses is kept with a warning, as Docker Compose does.
func (a *App) removeImages(ctx context.Context, p *types.Project, all bool) error {
	im, err := a.images()
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		svc := p.Services[name]
		if !all && svc.Image != "" {
			continue
		}
		ref := ImageName(p, svc)
		if seen[ref] {
			continue
		}
		seen[ref] = true
		err := im.RemoveImage(ctx, ref, false)
		switch {
		case err == nil:
			a.progress("Image", ref, "Removed")
		case errdefs.IsNotFound(err):
		case errors.Is(err, runtime.ErrImageInUse):
			a.warn("%v", err)
		default:
			return err
		}
	}
	return nil
}

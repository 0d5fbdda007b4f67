package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/containerd/errdefs"
	"github.com/gocompose/gocompose/internal/health"
	"github.com/gocompose/gocompose/internal/labels"
	"github.com/gocompose/gocompose/internal/lock"
	"github.com/gocompose/gocompose/model"
	"github.com/gocompose/gocompose/network"
	"github.com/gocompose/gocompose/runtime"
	"github.com/gocompose/gocompose/scheduler"
	"github.com/gocompose/gocompose/spec"
	"golang.org/x/sync/semaphore"
)

// UpOptions are the flags of `up` (and `create`).
type UpOptions struct {
	Services      []string
	Detach        bool
	ForceRecreate bool
	NoRecreate    bool
	NoStart       bool
	NoDeps        bool
	RemoveOrphans bool
	Scale         map[string]int
	Timeout       *time.Duration
	// Foreground only.
	AbortOnContainerExit bool
	ExitCodeFrom         string
	Attach               []string
	NoAttach             []string
	Log                  LogFormat
	// Build: build images first (--build); NoBuild: never build.
	Build   bool
	NoBuild bool
	// Wait for running/healthy (or exited 0) before returning, up to
	// WaitTimeout (0: no limit).
	Wait        bool
	WaitTimeout time.Duration
	// RenewAnonVolumes recreates anonymous volumes instead of carrying
	// them over to a recreated container (up -V).
	RenewAnonVolumes bool
	// Pull overrides every service's pull_policy (up --pull): always,
	// missing or never.
	Pull string
	// QuietPull and QuietBuild print no pull or build progress.
	QuietPull  bool
	QuietBuild bool
	// AbortOnContainerFailure stops the project when a container exits
	// with a non-zero code, and exits with it.
	AbortOnContainerFailure bool
	// AttachDependencies follows the logs of the named services'
	// dependencies too (without it only the named services are followed).
	AttachDependencies bool
	// AlwaysRecreateDeps recreates the named services' dependencies even
	// when unchanged.
	AlwaysRecreateDeps bool
	// IgnoreOrphans silences the orphan warning (COMPOSE_IGNORE_ORPHANS).
	IgnoreOrphans bool
	// AllResources makes every network and volume the file declares, not
	// only those the services use (--all-resources).
	AllResources bool
	// Watch follows the services' develop.watch paths while attached
	// (up --watch).
	Watch bool
}

// validate refuses the flag combinations Docker Compose refuses, with its
// words.
func (o UpOptions) validate() error {
	switch {
	case o.AbortOnContainerExit && o.AbortOnContainerFailure:
		return fmt.Errorf("--abort-on-container-failure cannot be combined with --abort-on-container-exit")
	case o.Wait && (o.AttachDependencies || o.AbortOnContainerExit || o.AbortOnContainerFailure || len(o.Attach) > 0 || o.Watch):
		return fmt.Errorf("--wait cannot be combined with --abort-on-container-exit, --abort-on-container-failure, --attach, --attach-dependencies or --watch")
	case o.Detach && !o.NoStart && (o.AttachDependencies || o.AbortOnContainerExit || o.AbortOnContainerFailure || len(o.Attach) > 0 || o.Watch):
		return fmt.Errorf("--detach cannot be combined with --abort-on-container-exit, --abort-on-container-failure, --attach, --attach-dependencies or --watch")
	case o.NoBuild && o.Watch:
		return fmt.Errorf("--no-build and --watch are incompatible")
	case o.Build && o.NoBuild:
		return fmt.Errorf("--build and --no-build are incompatible")
	case o.RenewAnonVolumes && o.NoRecreate:
		return fmt.Errorf("--no-recreate and --renew-anon-volumes are incompatible")
	case o.ForceRecreate && o.NoRecreate:
		return fmt.Errorf("--force-recreate and --no-recreate are incompatible")
	case o.AlwaysRecreateDeps && o.NoRecreate:
		return fmt.Errorf("--always-recreate-deps and --no-recreate are incompatible")
	}
	return nil
}

// Up creates and starts the project's services in dependency order.
func (a *App) Up(ctx context.Context, p *types.Project, o UpOptions) error {
	if o.Pull == types.PullPolicyBuild {
		o.Build = true // up --pull build: build what can be built
	}
	if err := checkServices(p, o.Services); err != nil {
		return err
	}
	if o.ExitCodeFrom != "" {
		o.AbortOnContainerExit = !o.AbortOnContainerFailure
		if err := checkServices(p, []string{o.ExitCodeFrom}); err != nil {
			return err
		}
	}
	if err := o.validate(); err != nil {
		return err
	}
	var rules []watchRule
	if o.Watch {
		var err error
		if p, rules, err = a.watchRulesOf(p, o.Services); err != nil {
			return err
		}
	}
	started, err := a.converge(ctx, p, o)
	if err != nil {
		return err
	}
	if o.Watch && !o.NoStart {
		wctx, stop := context.WithCancel(ctx)
		defer stop()
		go func() {
			if err := a.follow(wctx, p, rules, WatchOptions{Services: o.Services, NoUp: true}); err != nil {
				a.warn("watch: %v", err)
			}
		}()
	}
	if o.Wait && !o.NoStart {
		if err := a.waitFor(ctx, p, started, o.WaitTimeout); err != nil {
			return err
		}
	}
	if o.Detach || o.NoStart {
		return nil
	}
	if a.Display != nil {
		a.Display.Done() // the logs follow
	}
	return a.attach(ctx, p, started, o)
}

// waitFor waits until the containers are running or healthy (--wait), up
// to timeout when it is not zero.
func (a *App) waitFor(ctx context.Context, p *types.Project, ids []string, timeout time.Duration) error {
	wctx := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	err := a.waitServices(wctx, p, ids)
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		return fmt.Errorf("application not healthy after %s", timeout)
	}
	return err
}

// converge runs the plan under the project lock and returns the containers
// of the selected services.
func (a *App) converge(ctx context.Context, p *types.Project, o UpOptions) ([]string, error) {
	p = withImageNames(p)
	sel, err := selectServices(p, o.Services, !o.NoDeps)
	if err != nil {
		return nil, err
	}
	// Provider services have no container: their executables run once
	// the project is locked, before the services depending on them are
	// resolved, since what they set goes into those services' environment.
	providers := providerOrder(sel)
	sel = withoutProviders(sel)
	// What would collide on the host is refused before anything is
	// pulled, built or made.
	if err := checkConflicts(p, sel, o.Scale); err != nil {
		return nil, err
	}
	if err := a.pullMissing(ctx, sel, o.Pull, o.QuietPull); err != nil {
		return nil, err
	}
	if err := a.buildMissing(ctx, p, sel, o); err != nil {
		return nil, err
	}
	l, err := lock.Project(ctx, a.LockDir, p.Name)
	if err != nil {
		return nil, err
	}
	defer l.Unlock()

	for _, name := range providers {
		vars, err := a.runProvider(ctx, p, p.Services[name], "up")
		if err != nil {
			return nil, err
		}
		a.setProviderVars(name, vars, p, sel)
		if a.provided == nil {
			a.provided = map[string]providerVars{}
		}
		a.provided[name] = vars
	}
	observed, err := a.observe(ctx, p.Name, &no)
	if err != nil {
		return nil, err
	}
	rs, err := a.resolveAll(ctx, p, sel, o.Scale)
	if err != nil {
		return nil, err
	}
	if err := checkHostPorts(p, sel, observed); err != nil {
		return nil, err
	}
	nets, err := a.ensureNetworks(ctx, p, sel, o.AllResources)
	if err != nil {
		return nil, err
	}
	if err := a.ensureVolumes(p, sel, o.AllResources); err != nil {
		return nil, err
	}
	var desired []scheduler.Service
	for _, name := range slices.Sorted(maps.Keys(rs)) {
		svc, h := rs[name].svc, rs[name].hash
		replicas := spec.Replicas(svc)
		if svc.ContainerName != "" && replicas > 1 {
			return nil, fmt.Errorf("service %q: container_name %q cannot be used with %d replicas", name, svc.ContainerName, replicas)
		}
		var deps []string
		conds := map[string]string{}
		for d, dep := range svc.DependsOn {
			if _, ok := sel.Services[d]; ok {
				deps = append(deps, d)
				conds[d] = dep.Condition
			}
		}
		named := len(o.Services) == 0 || slices.Contains(o.Services, name)
		force := named && o.ForceRecreate || !named && o.AlwaysRecreateDeps
		desired = append(desired, scheduler.Service{Name: name, Hash: h, Replicas: replicas, DependsOn: deps, Conditions: conds,
			ForceRecreate: force, Replace: a.replaces(p, svc)})
	}
	var obs []scheduler.Container
	for _, c := range observed {
		svc := c.Labels[labels.Service]
		_, inFile := p.Services[svc]
		_, selected := sel.Services[svc]
		if inFile && !selected {
			continue // another service of the file: not ours to touch now
		}
		obs = append(obs, scheduler.Container{
			Name: c.ID, Service: svc, Number: containerNumber(c),
			Hash: c.Labels[labels.ConfigHash], Running: c.State == runtime.StateRunning || c.State == runtime.StatePaused,
		})
	}
	plan, err := scheduler.Make(p.Name, desired, obs, scheduler.Options{
		NoRecreate:    o.NoRecreate,
		RemoveOrphans: o.RemoveOrphans, NoStart: o.NoStart,
	})
	if err != nil {
		return nil, err
	}
	if len(plan.OrphanNames) > 0 && !o.IgnoreOrphans {
		a.warn("Found orphan containers (%s) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.", strings.Join(plan.OrphanNames, ", "))
	}
	// Up-to-date running containers are reported as Docker Compose does.
	planned := map[string]bool{}
	for _, st := range plan.Steps {
		for _, op := range st.Ops {
			planned[op.Container] = true
		}
	}
	for _, c := range observed {
		if _, selected := sel.Services[c.Labels[labels.Service]]; selected && c.State == runtime.StateRunning && !planned[c.ID] {
			a.progress("Container", c.ID, "Running")
		}
	}
	for _, op := range plan.Orphans {
		if err := a.stopRemove(ctx, op.Container, o.Timeout); err != nil {
			return nil, err
		}
	}
	if err := a.execute(ctx, p, plan, rs, nets, o); err != nil {
		return nil, err
	}
	if !o.NoStart {
		if err := a.restartAfterRecreate(ctx, p, plan, o.Timeout); err != nil {
			return nil, err
		}
	}
	// The selected services' containers as they are now (replicas are
	// numbered as Docker Compose numbers them: not always 1..n).
	now, err := a.observe(ctx, p.Name, &no)
	if err != nil {
		return nil, err
	}
	var started []string
	for _, c := range now {
		if _, ok := rs[c.Labels[labels.Service]]; ok {
			started = append(started, c.ID)
		}
	}
	return started, nil
}

// pullMissing checks the selected services' platforms and pulls the images
// their pull_policy (or --pull) asks for.
func (a *App) pullMissing(ctx context.Context, sel *types.Project, override string, quiet bool) error {
	for _, name := range slices.Sorted(maps.Keys(sel.Services)) {
		if err := runtime.CheckPlatform(sel.Services[name].Platform); err != nil {
			return fmt.Errorf("service %s: %w", name, err)
		}
	}
	return a.pullForUp(ctx, sel, override, quiet)
}

// buildMissing builds the selected services' images (those named and,
// unless --no-deps, their dependencies: nothing else of the file) that
// --build, pull_policy: build, or a missing image asks for.
func (a *App) buildMissing(ctx context.Context, p, sel *types.Project, o UpOptions) error {
	var names []string
	for _, name := range withBuildDeps(p, sel.ServiceNames()) {
		svc := p.Services[name]
		if svc.Build == nil {
			continue
		}
		need := o.Build || svc.PullPolicy == types.PullPolicyBuild
		if !need {
			if _, err := a.Engine.ImageID(ctx, svc.Image); err != nil {
				if o.NoBuild {
					return fmt.Errorf("service %s: image %s is missing and --no-build was given", name, svc.Image)
				}
				need = true
			}
		}
		if need && !o.NoBuild {
			names = append(names, name)
		}
	}
	return a.buildServices(ctx, p, names, BuildOptions{Quiet: o.QuietBuild})
}

func containerID(project string, svc types.ServiceConfig, n int) string {
	if svc.ContainerName != "" {
		return svc.ContainerName
	}
	return scheduler.ContainerName(project, svc.Name, n)
}

// execute walks the plan. Each service first creates its containers without
// waiting (create-ahead: snapshots and network attach run in parallel with
// the dependencies starting), then waits for each dependency's result and
// condition, then starts. A failed dependency fails its dependents, which
// never start; cancel returns ctx.Err().
func (a *App) execute(ctx context.Context, p *types.Project, plan *scheduler.Plan,
	rs map[string]*resolved, nets map[string]*network.Network, o UpOptions) error {
	steps := map[string]scheduler.Step{}
	g := scheduler.Graph{}
	var order []string
	for _, st := range plan.Steps {
		steps[st.Service], g[st.Service] = st, st.DependsOn
		order = append(order, st.Service)
	}
	// One bound across all services: independent services run in
	// parallel, but no more container operations at once than the limit.
	// Slots are held only around an operation, never while waiting.
	slots := semaphore.NewWeighted(int64(a.limit()))
	bounded := func(fn func() error) error {
		if err := slots.Acquire(ctx, 1); err != nil {
			return err
		}
		defer slots.Release(1)
		return fn()
	}
	errs := scheduler.Walk(ctx, g, func(ctx context.Context, service string, d scheduler.Deps) error {
		step, svc := steps[service], rs[service].svc
		// A shared network namespace, or a container whose mounts this
		// one takes, must exist before this create.
		for _, target := range createdFirst(p, svc) {
			if err := d.Await(target, "created"); err != nil {
				return err
			}
		}
		// A rolling update replaces its containers after the
		// dependencies, group by group; the rest is made ahead.
		var ops, rolled []scheduler.Op
		for _, op := range step.Ops {
			if !o.NoStart && rolling(svc, op) {
				rolled = append(rolled, op)
			} else {
				ops = append(ops, op)
			}
		}
		toStart := make([]string, len(ops))
		bctx, batch := withDNSBatch(ctx)
		err := a.parallel(len(ops), func(i int) error {
			return bounded(func() error {
				id, err := a.prepare(bctx, p, rs[service], ops[i], nets, o)
				toStart[i] = id
				return err
			})
		})
		// The step's names resolve before any of it starts.
		if ferr := batch.flush(ctx, a); err == nil {
			err = ferr
		}
		d.Mark("created")
		if err != nil {
			return err
		}
		if err := d.Wait(); err != nil {
			return err
		}
		if o.NoStart {
			return nil
		}
		for _, dep := range slices.Sorted(slices.Values(step.DependsOn)) {
			if err := a.waitCondition(ctx, p, dep, svc.DependsOn[dep].Condition); err != nil {
				return fmt.Errorf("service %s not started: %w", service, err)
			}
		}
		// pre_start runs when every container of the service starts afresh
		// (as Docker Compose: not for a scale-up beside running ones).
		if len(svc.PreStart) > 0 && len(toStart) > 0 && freshStart(step, spec.Replicas(svc)) {
			first := ""
			for _, id := range toStart {
				if id != "" && (first == "" || id < first) {
					first = id
				}
			}
			if first != "" {
				if err := a.runPreStart(ctx, p, rs[service], first, nets); err != nil {
					return err
				}
			}
		}
		if err := a.parallel(len(toStart), func(i int) error {
			if toStart[i] == "" {
				return nil
			}
			return bounded(func() error { return a.startWith(ctx, toStart[i], len(svc.PostStart) > 0) })
		}); err != nil {
			return err
		}
		if len(rolled) == 0 {
			return nil
		}
		return a.rollOut(ctx, p, rs[service], rolled, nets, o)
	})
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return scheduler.FirstError(order, errs)
}

// freshStart says whether a step starts all the service's containers anew.
func freshStart(step scheduler.Step, replicas int) bool {
	n := 0
	for _, op := range step.Ops {
		switch op.Kind {
		case scheduler.Create, scheduler.Recreate, scheduler.Start:
			n++
		}
	}
	return n >= replicas
}

// restartAfterRecreate restarts the services of the whole project (not just
// the selected ones) that depend with restart: true on a service this plan
// recreated, when they were not created or recreated themselves: a
// container sharing the recreated one's network namespace joins the new
// one this way.
func (a *App) restartAfterRecreate(ctx context.Context, p *types.Project, plan *scheduler.Plan, timeout *time.Duration) error {
	var recreated []string
	fresh := map[string]bool{}
	for _, st := range plan.Steps {
		for _, op := range st.Ops {
			if op.Kind == scheduler.Recreate || op.Kind == scheduler.Replace {
				recreated = append(recreated, st.Service)
			}
			if op.Kind == scheduler.Recreate || op.Kind == scheduler.Replace || op.Kind == scheduler.Create {
				fresh[st.Service] = true
			}
		}
	}
	if len(recreated) == 0 {
		return nil
	}
	var stale []string
	for _, name := range restartDependents(p, recreated) {
		if !fresh[name] {
			stale = append(stale, name)
		}
	}
	if len(stale) == 0 {
		return nil
	}
	return a.Restart(ctx, p, stale, timeout, true)
}

// namespaceDonor is the container whose namespace field (ipc, pid) mode
// names: service:X's first container (as Docker Compose picks it) or
// container:NAME; "" for other modes.
func (a *App) namespaceDonor(ctx context.Context, p *types.Project, field, mode string) (string, error) {
	if target, ok := strings.CutPrefix(mode, types.ServicePrefix); ok {
		c, err := a.serviceContainer(ctx, p.Name, target)
		if err != nil {
			return "", fmt.Errorf("%s %s: %w", field, mode, err)
		}
		return c, nil
	}
	name, _ := strings.CutPrefix(mode, types.ContainerPrefix) // mode itself unless container:NAME
	if name == mode {
		return "", nil
	}
	return name, nil
}

// taskAhead reports whether svc's tasks may be made before its
// dependencies start: not when they join another container's IPC or PID
// namespace (only once that one runs), nor when they mount a volume's
// subpath (resolved when the task is made: a dependency may make it).
func taskAhead(svc types.ServiceConfig) bool {
	if spec.SharesNamespace(svc.Ipc) || spec.SharesNamespace(svc.Pid) {
		return false
	}
	return !slices.ContainsFunc(svc.Volumes, func(v types.ServiceVolumeConfig) bool {
		return v.Volume != nil && v.Volume.Subpath != ""
	})
}

// createdFirst names the services whose containers svc's create needs:
// network_mode, ipc or pid service:X or container:NAME, and volumes_from
// container:NAME when NAME is one of the project's containers.
func createdFirst(p *types.Project, svc types.ServiceConfig) []string {
	var out []string
	for _, mode := range []string{svc.NetworkMode, svc.Ipc, svc.Pid} {
		if target, ok := strings.CutPrefix(mode, "service:"); ok && !slices.Contains(out, target) {
			out = append(out, target)
		}
	}
	names := []string{}
	for _, mode := range []string{svc.NetworkMode, svc.Ipc, svc.Pid} {
		if c, ok := strings.CutPrefix(mode, types.ContainerPrefix); ok {
			names = append(names, c)
		}
	}
	for _, vf := range svc.VolumesFrom {
		if rest, ok := strings.CutPrefix(vf, types.ContainerPrefix); ok {
			c, _, _ := strings.Cut(rest, ":")
			names = append(names, c)
		}
	}
	for _, c := range names {
		for name, other := range p.Services {
			n, isReplica := strings.CutPrefix(c, p.Name+"-"+name+"-")
			if _, err := strconv.Atoi(n); other.ContainerName == c || (isReplica && err == nil) {
				out = append(out, name)
			}
		}
	}
	return out
}

// prepare does the create side of an operation and returns the container
// to start afterwards ("" for none).
func (a *App) prepare(ctx context.Context, p *types.Project, r *resolved, op scheduler.Op, nets map[string]*network.Network, o UpOptions) (string, error) {
	id := containerID(p.Name, r.svc, op.Number)
	if op.Kind == scheduler.Start {
		c, err := a.Engine.Inspect(ctx, op.Container)
		if err != nil {
			return "", err
		}
		if !c.Broken {
			return op.Container, a.restoreHost(ctx, p, c)
		}
		// Its snapshot is gone (a down killed half-way): only a new one
		// will run.
		op.Kind = scheduler.Recreate
	}
	switch op.Kind {
	case scheduler.Remove:
		return "", a.stopRemove(ctx, op.Container, o.Timeout)
	case scheduler.Recreate:
		a.progress("Container", op.Container, "Recreate")
		if err := a.Engine.Stop(ctx, op.Container, o.Timeout); err != nil {
			return "", err
		}
		remove := a.removeContainer
		if o.RenewAnonVolumes {
			remove = a.removeWithVolumes
		}
		if err := remove(ctx, op.Container, true); err != nil {
			return "", err
		}
		if err := a.create(ctx, p, r, id, op.Number, nets); err != nil {
			return "", err
		}
		a.progress("Container", id, "Recreated")
	case scheduler.Create:
		a.progress("Container", id, "Creating")
		if err := a.create(ctx, p, r, id, op.Number, nets); err != nil {
			return "", err
		}
		a.progress("Container", id, "Created")
	}
	if !o.NoStart && (op.Kind == scheduler.Create || op.Kind == scheduler.Recreate) && taskAhead(r.svc) {
		// The slow half of starting (shim, runc create) runs ahead too;
		// the start that waits for dependencies is then quick.
		if err := a.Engine.CreateTask(ctx, id); err != nil {
			return "", err
		}
	}
	return id, nil
}

func (a *App) start(ctx context.Context, id string) error { return a.startWith(ctx, id, true) }

// startWith starts a container; hooks says it may have post_start hooks
// (false when its resolved service has none, which spares an inspect on
// the path each dependent waits on).
func (a *App) startWith(ctx context.Context, id string, hooks bool) error {
	a.progress("Container", id, "Starting")
	if err := a.Engine.Start(ctx, id); err != nil {
		return err
	}
	if hooks {
		if err := a.postStart(ctx, id); err != nil {
			return err
		}
	}
	a.progress("Container", id, "Started")
	return nil
}

func (a *App) stopRemove(ctx context.Context, id string, timeout *time.Duration) error {
	a.progress("Container", id, "Stopping")
	if err := a.Engine.Stop(ctx, id, timeout); err != nil {
		return err
	}
	a.progress("Container", id, "Stopped")
	a.progress("Container", id, "Removing")
	if err := a.removeContainer(ctx, id, true); err != nil {
		return err
	}
	a.progress("Container", id, "Removed")
	return nil
}

// create makes one service container with Docker Compose's labels, on
// its networks. On error nothing of it is left.
func (a *App) create(ctx context.Context, p *types.Project, r *resolved, id string, n int, nets map[string]*network.Network) error {
	lbls := projectLabels(p, r.svc, r.hash, n, false)
	for k, v := range restartLabels(r.svc) {
		lbls[k] = v
	}
	return a.createWith(ctx, p, r, id, lbls, nets, createOpts{aliases: true})
}

// createOpts say how a container joins its networks.
type createOpts struct {
	// aliases: its service name and network aliases resolve to it.
	aliases bool
	// replaces is the container whose place it takes in an update: its
	// published ports pass to this one.
	replaces string
	// standby: it takes no traffic yet (DNS withholds its service names,
	// the replaced container keeps its ports) until the switch.
	standby bool
}

// createWith makes the container from the resolved service: it builds the
// container's model (labels, mounts with host paths, network) and hands it
// to the engine. With aliases its service name and network aliases resolve
// to it (service containers, and run --use-aliases).
func (a *App) createWith(ctx context.Context, p *types.Project, r *resolved, id string, lbls map[string]string, nets map[string]*network.Network, co createOpts) error {
	svc := r.svc
	// A name another project's (or a stray) container holds: say whose,
	// before anything of this one is made.
	if c, err := a.Engine.Inspect(ctx, id); err == nil {
		return fmt.Errorf("service %s: container name %q is already in use by a container of project %q (service %q): %w",
			svc.Name, id, c.Labels[labels.Project], c.Labels[labels.Service], errdefs.ErrAlreadyExists)
	} else if !runtime.IsNotFound(err) {
		return fmt.Errorf("service %s: %w", svc.Name, err)
	}
	c := model.Container{ID: id, Service: svc, Image: r.image, Log: r.log, Labels: maps.Clone(svc.Labels)}
	if c.Labels == nil {
		c.Labels = map[string]string{}
	}
	maps.Copy(c.Labels, lbls)
	if r.health != "" {
		c.Labels[health.Label] = r.health
	}
	if h := hooksLabel(svc); h != "" {
		c.Labels[labels.Hooks] = h
	}
	ns, err := a.setupNetwork(ctx, p, svc, id, nets, co)
	if err != nil {
		return err
	}
	maps.Copy(c.Labels, ns.labels)
	if len(svc.ExternalLinks) > 0 {
		hosts, err := a.externalLinks(ctx, svc, ns.labels)
		if err != nil {
			ns.cleanup()
			return err
		}
		c.Service.ExtraHosts = hosts
	}
	c.Labels[labels.State] = a.StateDir
	c.NetNS, c.Etc = ns.netns, ns.etc
	if c.IpcFrom, err = a.namespaceDonor(ctx, p, "ipc", svc.Ipc); err == nil {
		c.PidFrom, err = a.namespaceDonor(ctx, p, "pid", svc.Pid)
	}
	if err != nil {
		ns.cleanup()
		return fmt.Errorf("service %s: %w", svc.Name, err)
	}
	mounts, copyUp, volDirs, err := a.volumeMounts(p, svc, id)
	if err == nil {
		var from []model.Mount
		var inherited []string
		from, inherited, err = a.volumesFrom(ctx, p, svc)
		mounts, volDirs = append(mounts, from...), append(volDirs, inherited...)
	}
	if err == nil {
		var files []model.Mount
		files, err = a.secretMounts(p.Name, svc.Name, r.files)
		mounts = append(mounts, files...)
	}
	if err != nil {
		ns.cleanup()
		return err
	}
	c.Mounts, c.CopyUp = mounts, copyUp
	if len(volDirs) > 0 {
		c.Labels[labels.Volumes] = strings.Join(volDirs, ",")
	}
	if err := a.Engine.Create(ctx, c); err != nil {
		ns.cleanup()
		return err
	}
	if ns.labels[labels.Networks] != "" {
		if err := a.reloadDNS(ctx); err != nil {
			return fmt.Errorf("container %s: %w", id, err)
		}
	}
	return nil
}

// externalLinks resolves external_links ("NAME[:ALIAS]", containers outside
// the project) to /etc/hosts entries, with the container's address on a
// network this container is on, as Docker's links answer them. A container
// that is not there, or shares no network with this one, is an error.
func (a *App) externalLinks(ctx context.Context, svc types.ServiceConfig, own map[string]string) (types.HostsList, error) {
	hosts := maps.Clone(svc.ExtraHosts)
	if hosts == nil {
		hosts = types.HostsList{}
	}
	mine, err := labels.EndpointsOf(own)
	if err != nil {
		return nil, err
	}
	for _, l := range svc.ExternalLinks {
		name, alias, ok := strings.Cut(l, ":")
		if !ok {
			alias = name
		}
		c, err := a.Engine.Inspect(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("service %s: external_links: container %s: %w", svc.Name, name, err)
		}
		eps, err := labels.EndpointsOf(c.Labels)
		if err != nil {
			return nil, fmt.Errorf("service %s: external_links: container %s: %w", svc.Name, name, err)
		}
		ip := ""
		for _, e := range eps {
			for _, m := range mine {
				if e.Network == m.Network && ip == "" {
					ip = e.IP
				}
			}
		}
		if ip == "" {
			return nil, fmt.Errorf("service %s: external_links: container %s shares no network with this service (add the network, e.g. as external)", svc.Name, name)
		}
		for _, h := range []string{alias, name} {
			if !slices.Contains(hosts[h], ip) {
				hosts[h] = append(hosts[h], ip)
			}
		}
	}
	return hosts, nil
}

func projectLabels(p *types.Project, svc types.ServiceConfig, hash string, n int, oneoff bool) map[string]string {
	return map[string]string{
		labels.Project:         p.Name,
		labels.Service:         svc.Name,
		labels.ContainerNumber: strconv.Itoa(n),
		labels.OneOff:          boolLabel(oneoff),
		labels.ConfigHash:      hash,
		labels.ConfigFiles:     spec.ConfigFilesLabel(p),
		labels.WorkingDir:      p.WorkingDir,
		labels.DependsOn:       dependsOnLabel(svc),
		labels.Image:           svc.Image,
		labels.Version:         Version,
		labels.InstanceID:      newInstanceID(),
	}
}

// newInstanceID is a fresh 64-hex container ID.
func newInstanceID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand never fails on Linux
	return hex.EncodeToString(b)
}

// instanceID is the container's ID as ps shows it; containers made before
// the label existed get one derived from their name and creation time,
// which is stable and differs between two containers of the same name.
func instanceID(c runtime.Container) string {
	if id := c.Labels[labels.InstanceID]; id != "" {
		return id
	}
	sum := sha256.Sum256([]byte(c.ID + "\x00" + c.Created.UTC().Format(time.RFC3339Nano)))
	return hex.EncodeToString(sum[:])
}

// attach follows the logs of the started containers until they all exit, a
// container exits with --abort-on-container-exit, or the user interrupts; in
// the last two cases the project is stopped.
func (a *App) attach(ctx context.Context, p *types.Project, ids []string, o UpOptions) error {
	cs, err := a.observe(context.WithoutCancel(ctx), p.Name, &no)
	if err != nil {
		return err
	}
	var targets []runtime.Container
	for _, c := range cs {
		if !slices.Contains(ids, c.ID) {
			continue
		}
		svc := c.Labels[labels.Service]
		if len(o.Attach) > 0 && !slices.Contains(o.Attach, svc) || slices.Contains(o.NoAttach, svc) {
			continue
		}
		// up SERVICE follows that service, not the dependencies it
		// started, unless --attach-dependencies (as Docker Compose).
		if len(o.Attach) == 0 && len(o.Services) > 0 && !o.AttachDependencies && !slices.Contains(o.Services, svc) {
			continue
		}
		if s, ok := p.Services[svc]; ok && s.Attach != nil && !*s.Attach && !slices.Contains(o.Attach, svc) {
			continue
		}
		targets = append(targets, c)
	}
	f := newFormatter(a, targets, o.Log)
	type exit struct {
		id, service string
		code        int
	}
	exits := make(chan exit, len(targets))
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	var wg sync.WaitGroup
	for _, c := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mu sync.Mutex
			exited, code := false, 0
			waited := make(chan struct{})
			go func() {
				defer close(waited)
				n, err := a.Engine.Wait(watchCtx, c.ID)
				if err == nil {
					mu.Lock()
					exited, code = true, n
					mu.Unlock()
				}
			}()
			done := func() bool { mu.Lock(); defer mu.Unlock(); return exited }
			show := func(e runtime.LogEntry) { f.print(c, e) }
			err := a.Engine.ReadLogs(watchCtx, c.ID, runtime.LogOptions{Follow: true, Tail: -1, Done: done}, show)
			if errors.Is(err, runtime.ErrLogsNotReadable) {
				// The none driver keeps no log: its output since the
				// start comes from the driver's memory, then as it comes
				// (Docker Compose attaches to the stream the same way).
				out, errw := entryLines("stdout", show), entryLines("stderr", show)
				err = a.Engine.AttachStdio(watchCtx, c.ID, runtime.AttachIO{Out: out, Err: errw, Replay: true})
				if errors.Is(err, runtime.ErrNoStdio) {
					err = nil // its driver is gone, and its output with it
				}
				out.Flush()
				errw.Flush()
				if err == nil {
					<-waited
				}
			}
			if err == nil {
				mu.Lock()
				n := code
				mu.Unlock()
				f.exited(c, n)
				exits <- exit{id: c.ID, service: c.Labels[labels.Service], code: n}
			}
		}()
	}
	allDone := make(chan struct{})
	go func() { wg.Wait(); close(allDone) }()
	fromCode := 0
	for remaining := len(targets); remaining > 0; {
		select {
		case e := <-exits:
			remaining--
			if e.service == o.ExitCodeFrom {
				fromCode = e.code
			}
			if o.AbortOnContainerExit || o.AbortOnContainerFailure && e.code != 0 {
				if o.ExitCodeFrom == "" {
					fromCode = e.code
				}
				fmt.Fprintln(a.Out, "Aborting on container exit...")
				stopWatch()
				<-allDone
				if err := a.stopAll(context.WithoutCancel(ctx), p, o.Timeout); err != nil {
					return err
				}
				if fromCode != 0 {
					return &ExitError{Code: fromCode}
				}
				return nil
			}
		case <-ctx.Done():
			fmt.Fprintln(a.Err, "Gracefully stopping... (press Ctrl+C again to force)")
			<-allDone
			if err := a.stopAll(context.WithoutCancel(ctx), p, o.Timeout); err != nil {
				return err
			}
			return &ExitError{Code: 130}
		}
	}
	if fromCode != 0 {
		return &ExitError{Code: fromCode}
	}
	return nil
}

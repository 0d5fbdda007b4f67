package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/format"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/gocompose/gocompose/internal/labels"
	"github.com/gocompose/gocompose/runtime"
)

// ExecOptions are the flags of `exec`.
type ExecOptions struct {
	Index int
	TTY   bool
	// Interactive attaches stdin (-i, the default).
	Interactive bool
	Detach      bool
	Env         []string
	User        string
	WorkDir     string
	// Privileged gives the process every capability.
	Privileged bool
}

// Exec runs a command in a running service container and returns its exit
// code as an ExitError when it is not zero.
func (a *App) Exec(ctx context.Context, p *types.Project, service string, args []string, o ExecOptions) error {
	target, err := a.replica(ctx, p, service, o.Index)
	if err != nil {
		return err
	}
	if !running(target) {
		return fmt.Errorf("container %s is not running", target.ID)
	}
	stdio := runtime.Stdio{In: a.In, Out: a.Out, Err: a.Err, TTY: o.TTY}
	if !o.Interactive {
		stdio.In = nil
	}
	code, err := a.Engine.Exec(ctx, target.ID, runtime.ExecRequest{
		Args: args, Env: resolveEnv(o.Env), User: o.User, WorkDir: o.WorkDir, Detach: o.Detach,
		Stdio: stdio, Privileged: o.Privileged,
	})
	if err != nil {
		return err
	}
	if code != 0 {
		return &ExitError{Code: code}
	}
	return nil
}

// resolveEnv turns "-e NAME" into NAME=value from our environment, as Docker does.
func resolveEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, e := range env {
		if !strings.Contains(e, "=") {
			if v, ok := lookupEnv(e); ok {
				e = e + "=" + v
			} else {
				continue
			}
		}
		out = append(out, e)
	}
	return out
}

// RunOptions are the flags of `run`.
type RunOptions struct {
	Name       string
	Remove     bool
	Detach     bool
	NoDeps     bool
	TTY        bool
	Entrypoint *string
	Env        []string
	User       string
	WorkDir    string
	Volumes    []string
	Labels     []string
	// Pull is run --pull: always, missing or never.
	Pull string
	// Interactive keeps stdin attached (-i, the default).
	Interactive bool
	// ServicePorts publishes the service's ports (-P); Publish adds ports
	// of its own (-p). Without either a run container publishes nothing.
	ServicePorts bool
	Publish      []string
	CapAdd       []string
	CapDrop      []string
	// EnvFiles are read before Env (--env-from-file).
	EnvFiles []string
	// UseAliases gives the container the service's name and network
	// aliases in DNS; without it only its container name resolves.
	UseAliases    bool
	RemoveOrphans bool
	// Build builds the image first (--build); QuietPull and QuietBuild
	// print no pull or build progress.
	Build      bool
	QuietPull  bool
	QuietBuild bool
}

// Run starts a one-off container of a service (its dependencies first,
// unless NoDeps) and returns its exit code as an ExitError when not zero.
func (a *App) Run(ctx context.Context, p *types.Project, service string, args []string, o RunOptions) error {
	if err := checkServices(p, []string{service}); err != nil {
		return err
	}
	p = withImageNames(p)
	svc := p.Services[service]
	only, err := p.WithSelectedServices([]string{service}, types.IgnoreDependencies)
	if err != nil {
		return err
	}
	if err := a.pullForUp(ctx, only, o.Pull, o.QuietPull); err != nil {
		return err
	}
	if svc.Build != nil {
		_, err := a.Engine.ImageID(ctx, svc.Image)
		if o.Build || err != nil {
			if err := a.buildServices(ctx, p, []string{service}, BuildOptions{Quiet: o.QuietBuild}); err != nil {
				return err
			}
		}
	} else if o.Build {
		return fmt.Errorf("run --build: service %s has no build section", service)
	}
	if o.RemoveOrphans {
		cs, err := a.observe(ctx, p.Name, nil)
		if err != nil {
			return err
		}
		if _, err := a.removeOrphans(ctx, p, cs); err != nil {
			return err
		}
	}
	if !o.NoDeps && len(svc.DependsOn) > 0 {
		var deps []string
		for d := range svc.DependsOn {
			if _, ok := p.Services[d]; ok {
				deps = append(deps, d)
			}
		}
		slices.Sort(deps)
		if len(deps) > 0 {
			if _, err := a.converge(ctx, p, UpOptions{Services: deps, Detach: true}); err != nil {
				return err
			}
			// What the provider services it depends on set, as for up.
			one := &types.Project{Services: types.Services{service: svc}}
			for _, name := range slices.Sorted(maps.Keys(a.provided)) {
				a.setProviderVars(name, a.provided[name], one)
			}
			svc = one.Services[service]
		}
	}
	svc, err = runService(p, svc, args, o)
	if err != nil {
		return err
	}
	name := o.Name
	if name == "" {
		b := make([]byte, 6)
		_, _ = rand.Read(b)
		name = fmt.Sprintf("%s-%s-run-%s", p.Name, service, hex.EncodeToString(b))
	}
	r, err := a.resolve(ctx, p, svc)
	if err != nil {
		return err
	}
	lbls := projectLabels(p, svc, r.hash, 1, true)
	for _, l := range o.Labels {
		k, v, _ := strings.Cut(l, "=")
		lbls[k] = v
	}
	nets, err := a.ensureNetworks(ctx, p, only, false)
	if err != nil {
		return err
	}
	if err := a.ensureVolumes(p, only, false); err != nil {
		return err
	}
	if err := a.createWith(ctx, p, r, name, lbls, nets, createOpts{aliases: o.UseAliases}); err != nil {
		return err
	}
	if o.Detach {
		if err := a.Engine.Start(ctx, name); err != nil {
			return errors.Join(err, a.removeContainer(context.WithoutCancel(ctx), name, true))
		}
		fmt.Fprintln(a.Out, lbls[labels.InstanceID]) // Docker prints the container's ID
		return nil
	}
	stdio := runtime.Stdio{In: a.In, Out: a.Out, Err: a.Err, TTY: o.TTY}
	if !o.Interactive {
		stdio.In = nil
	}
	code, err := a.Engine.StartAttached(ctx, name, stdio)
	if o.Remove {
		if rerr := a.removeWithVolumes(context.WithoutCancel(ctx), name, true); rerr != nil && err == nil {
			err = rerr
		}
	}
	if err != nil {
		return err
	}
	if code != 0 {
		return &ExitError{Code: code}
	}
	return nil
}

// runService applies `run` overrides to a copy of the service.
func runService(p *types.Project, svc types.ServiceConfig, args []string, o RunOptions) (types.ServiceConfig, error) {
	if len(args) > 0 {
		svc.Command = args
	}
	if o.Entrypoint != nil {
		ep, err := shellSplit(*o.Entrypoint)
		if err != nil {
			return svc, fmt.Errorf("--entrypoint: %w", err)
		}
		svc.Entrypoint = ep
	}
	if o.User != "" {
		svc.User = o.User
	}
	if o.WorkDir != "" {
		svc.WorkingDir = o.WorkDir
	}
	svc.Tty = o.TTY
	svc.ContainerName = ""
	if !o.ServicePorts {
		svc.Ports = nil
	}
	for _, pub := range o.Publish {
		ports, err := types.ParsePortConfig(pub)
		if err != nil {
			return svc, fmt.Errorf("--publish %s: %w", pub, err)
		}
		svc.Ports = append(slices.Clone(svc.Ports), ports...)
	}
	svc.CapAdd = append(slices.Clone(svc.CapAdd), o.CapAdd...)
	svc.CapDrop = append(slices.Clone(svc.CapDrop), o.CapDrop...)
	env := types.MappingWithEquals{}
	for k, v := range svc.Environment {
		env[k] = v
	}
	if len(o.EnvFiles) > 0 {
		vars, err := dotenv.GetEnvFromFile(p.Environment, o.EnvFiles)
		if err != nil {
			return svc, fmt.Errorf("--env-from-file: %w", err)
		}
		for k, v := range vars {
			env[k] = &v
		}
	}
	for _, e := range resolveEnv(o.Env) {
		k, v, _ := strings.Cut(e, "=")
		env[k] = &v
	}
	svc.Environment = env
	svc.Volumes = slices.Clone(svc.Volumes)
	for _, v := range o.Volumes {
		vol, err := format.ParseVolume(v)
		if err != nil {
			return svc, fmt.Errorf("-v %s: %w", v, err)
		}
		if vol.Type != types.VolumeTypeBind {
			return svc, fmt.Errorf("-v %s: only bind mounts are supported by gocompose yet", v)
		}
		if !filepath.IsAbs(vol.Source) {
			vol.Source = filepath.Join(p.WorkingDir, vol.Source)
		}
		if vol.Bind == nil {
			vol.Bind = &types.ServiceVolumeBind{CreateHostPath: true}
		}
		svc.Volumes = append(svc.Volumes, vol)
	}
	return svc, nil
}

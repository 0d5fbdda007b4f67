package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/gocompose/gocompose/internal/labels"
	"github.com/gocompose/gocompose/network"
	"github.com/gocompose/gocompose/runtime"
)

// Lifecycle hooks, as Docker Compose runs them: post_start in the
// container once it started (a failing hook fails the command, the
// container keeps running), pre_stop before stop, down, restart or rm -s
// stop it (a failing hook fails the command and the container is not
// stopped). As in Docker Compose v5.5, up's own stops (recreate, scale
// down, orphans) run no pre_stop. They are kept in a label so start, stop and
// restart run them from the container alone.

type serviceHooks struct {
	PostStart []types.ServiceHook `json:"post_start,omitempty"`
	PreStop   []types.ServiceHook `json:"pre_stop,omitempty"`
}

// hooksLabel is the label value of the service's hooks ("" for none).
func hooksLabel(svc types.ServiceConfig) string {
	if len(svc.PostStart) == 0 && len(svc.PreStop) == 0 {
		return ""
	}
	b, _ := json.Marshal(serviceHooks{PostStart: svc.PostStart, PreStop: svc.PreStop}) // plain data: cannot fail
	return string(b)
}

// runHooks runs the container's post_start ("post_start") or pre_stop
// hooks, one after the other; the first that fails stops the rest.
func (a *App) runHooks(ctx context.Context, c runtime.Container, which string) error {
	v := c.Labels[labels.Hooks]
	if v == "" {
		return nil
	}
	var h serviceHooks
	if err := json.Unmarshal([]byte(v), &h); err != nil {
		return fmt.Errorf("container %s: hooks label: %w", c.ID, err)
	}
	list := h.PostStart
	if which == "pre_stop" {
		list = h.PreStop
	}
	for _, hook := range list {
		if err := a.runHook(ctx, c, hook, which); err != nil {
			return err
		}
	}
	return nil
}

// runHook runs one hook (or watch's sync+exec command) in the container,
// its output shown as "<name> -> line"; a non-zero exit is an error, worded
// as Docker Compose words it.
func (a *App) runHook(ctx context.Context, c runtime.Container, hook types.ServiceHook, which string) error {
	svc := c.Labels[labels.Service]
	var env []string
	for _, k := range slices.Sorted(maps.Keys(hook.Environment)) {
		if v := hook.Environment[k]; v != nil {
			env = append(env, k+"="+*v)
		} else {
			env = append(env, k)
		}
	}
	var out bytes.Buffer
	code, err := a.Engine.Exec(ctx, c.ID, runtime.ExecRequest{Args: hook.Command, Env: env, User: hook.User,
		WorkDir: hook.WorkingDir, Privileged: hook.Privileged, Stdio: runtime.Stdio{Out: &out, Err: &out}})
	if err != nil {
		return fmt.Errorf("%s %s hook: %w", svc, which, err)
	}
	if text := strings.TrimSpace(out.String()); text != "" {
		for _, l := range strings.Split(text, "\n") {
			fmt.Fprintf(a.Out, "%s -> %s\n", strings.TrimPrefix(c.ID, c.Labels[labels.Project]+"-"), l)
		}
	}
	if code != 0 {
		return fmt.Errorf("%s hook exited with status %d", svc, code)
	}
	return nil
}

// stopContainer stops a service container a user command stops (stop,
// down, restart, rm -s): its pre_stop hooks first, while it runs.
func (a *App) stopContainer(ctx context.Context, id string, timeout *time.Duration) error {
	c, err := a.Engine.Inspect(ctx, id)
	if err == nil && c.State == runtime.StateRunning {
		if err := a.runHooks(ctx, c, "pre_stop"); err != nil {
			return err
		}
	}
	return a.Engine.Stop(ctx, id, timeout)
}

// stopObserved is stopContainer for a container just listed: one without
// hooks needs no inspect first (the walk of a down waits on each stop).
func (a *App) stopObserved(ctx context.Context, c runtime.Container, timeout *time.Duration) error {
	if c.Labels[labels.Hooks] == "" {
		return a.Engine.Stop(ctx, c.ID, timeout)
	}
	return a.stopContainer(ctx, c.ID, timeout)
}

// postStart runs the post_start hooks of a container just started.
func (a *App) postStart(ctx context.Context, id string) error {
	c, err := a.Engine.Inspect(ctx, id)
	if err != nil || c.Labels[labels.Hooks] == "" {
		return err
	}
	return a.runHooks(ctx, c, "post_start")
}

// runPreStart runs the service's pre_start hooks in order, each as a
// one-off container of the service (its networks, and the mounts of the
// service's first container, as Docker's volumes_from), to completion,
// before the service's containers start. A hook that exits non-zero fails
// the service's start; the hook containers are removed either way.
func (a *App) runPreStart(ctx context.Context, p *types.Project, r *resolved, first string, nets map[string]*network.Network) error {
	for i, hook := range r.svc.PreStart {
		svc := r.svc
		svc.PreStart, svc.PostStart, svc.PreStop = nil, nil, nil
		svc.HealthCheck = &types.HealthCheckConfig{Disable: true}
		svc.Restart, svc.Deploy, svc.ContainerName = "", nil, ""
		svc.Ports = nil // the service publishes them, not its init steps
		svc.Command = types.ShellCommand(hook.Command)
		if hook.Image != "" {
			svc.Image = hook.Image
		}
		if hook.User != "" {
			svc.User = hook.User
		}
		if hook.WorkingDir != "" {
			svc.WorkingDir = hook.WorkingDir
		}
		svc.Privileged = svc.Privileged || hook.Privileged
		svc.Environment = maps.Clone(svc.Environment)
		if svc.Environment == nil {
			svc.Environment = types.MappingWithEquals{}
		}
		maps.Copy(svc.Environment, hook.Environment)
		svc.Volumes, svc.VolumesFrom, svc.Tmpfs = nil, []string{types.ContainerPrefix + first}, nil
		hr, err := a.resolve(ctx, p, svc)
		if err != nil {
			return fmt.Errorf("service %s pre_start[%d]: %w", r.svc.Name, i, err)
		}
		id := fmt.Sprintf("%s-%s-pre_start-%d", p.Name, r.svc.Name, i)
		lbls := projectLabels(p, svc, hr.hash, 1, true)
		a.progress("Container", id, "Creating")
		_ = a.removeWithVolumes(ctx, id, true) // what a killed command left
		if err := a.createWith(ctx, p, hr, id, lbls, nets, createOpts{}); err != nil {
			return fmt.Errorf("service %s pre_start[%d]: %w", r.svc.Name, i, err)
		}
		a.progress("Container", id, "Running")
		var out bytes.Buffer
		code, err := a.Engine.StartAttached(ctx, id, runtime.Stdio{Out: &out, Err: &out})
		if rerr := a.removeWithVolumes(context.WithoutCancel(ctx), id, true); err == nil {
			err = rerr
		}
		if text := strings.TrimSpace(out.String()); text != "" {
			for _, l := range strings.Split(text, "\n") {
				fmt.Fprintf(a.Out, "%s -> %s\n", strings.TrimPrefix(id, p.Name+"-"), l)
			}
		}
		if err != nil {
			return fmt.Errorf("service %s pre_start[%d]: %w", r.svc.Name, i, err)
		}
		if code != 0 {
			return fmt.Errorf("service %q pre_start[%d] exited with status %d", r.svc.Name, i, code)
		}
		a.progress("Container", id, "Exited")
	}
	return nil
}

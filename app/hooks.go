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
	"github.com/gocompose/gocompose/runtime"
)

// Lifecycle hooks, as Docker Compose runs them: post_start in the
// container once it started (a failing hook fails the command, the
// container keeps running), pre_stop before it is stopped by stop, down,
// restart or a recreate (a failing hook fails the command and the
// container is not stopped). They are kept in a label so start, stop and
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
	svc := c.Labels[labels.Service]
	for _, hook := range list {
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
	}
	return nil
}

// stopContainer stops a service container the user (or up) means to stop:
// its pre_stop hooks first, while it runs.
func (a *App) stopContainer(ctx context.Context, id string, timeout *time.Duration) error {
	c, err := a.Engine.Inspect(ctx, id)
	if err == nil && c.State == runtime.StateRunning {
		if err := a.runHooks(ctx, c, "pre_stop"); err != nil {
			return err
		}
	}
	return a.Engine.Stop(ctx, id, timeout)
}

// postStart runs the post_start hooks of a container just started.
func (a *App) postStart(ctx context.Context, id string) error {
	c, err := a.Engine.Inspect(ctx, id)
	if err != nil || c.Labels[labels.Hooks] == "" {
		return err
	}
	return a.runHooks(ctx, c, "post_start")
}

package app

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/gocompose/gocompose/internal/labels"
	"github.com/gocompose/gocompose/runtime"
)

// EventSource streams container events; the runtime implements it.
type EventSource interface {
	Events(ctx context.Context, fn func(runtime.Event)) error
}

// Events prints the project's container events as `docker compose events`
// does, one per line (JSON with asJSON), until interrupted.
//
// since and until (zero: unset) bound the stream as Docker Compose's flags
// do; containerd keeps no event history, so a since in the past is refused
// rather than silently replaying nothing.
func (a *App) Events(ctx context.Context, p *types.Project, services []string, asJSON bool, since, until time.Time) error {
	src, ok := a.Engine.(EventSource)
	if !ok {
		return fmt.Errorf("events are not available")
	}
	if err := checkServices(p, services); err != nil {
		return err
	}
	if !since.IsZero() && since.Before(time.Now().Add(-time.Second)) {
		return fmt.Errorf("events --since %s: gocompose keeps no event history (containerd does not), so past events cannot be shown", since.Format(time.RFC3339))
	}
	if !until.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, until)
		defer cancel()
	}
	known := map[string]runtime.Container{} // cached, for their labels
	err := src.Events(ctx, func(e runtime.Event) {
		c, ok := known[e.Container]
		if !ok {
			var err error
			if c, err = a.Engine.Inspect(ctx, e.Container); err != nil {
				return // already gone and never seen: not ours to report
			}
			known[e.Container] = c
		}
		if e.Time.Before(since) {
			return
		}
		lbls := c.Labels
		if lbls[labels.Project] != p.Name {
			return
		}
		svc := lbls[labels.Service]
		if len(services) > 0 && !slices.Contains(services, svc) {
			return
		}
		attrs := map[string]string{"name": e.Container, "image": lbls[labels.Image]}
		if e.ExitCode != nil {
			attrs["exitCode"] = fmt.Sprint(*e.ExitCode)
		}
		if asJSON {
			b, _ := json.Marshal(map[string]any{"time": e.Time, "type": "container", "action": e.Action,
				"id": instanceID(c), "service": svc, "attributes": attrs})
			fmt.Fprintln(a.Out, string(b))
			return
		}
		var kv []string
		for _, k := range []string{"exitCode", "image", "name"} {
			if v, ok := attrs[k]; ok {
				kv = append(kv, k+"="+v)
			}
		}
		fmt.Fprintf(a.Out, "%s container %s %s (%s)\n", e.Time.Format("2006-01-02 15:04:05.000000"), e.Action, instanceID(c), strings.Join(kv, ", "))
	})
	if ctx.Err() != nil {
		return nil
	}
	return err
}

package app

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

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
func (a *App) Events(ctx context.Context, p *types.Project, services []string, asJSON bool) error {
	src, ok := a.Engine.(EventSource)
	if !ok {
		return fmt.Errorf("events are not available")
	}
	if err := checkServices(p, services); err != nil {
		return err
	}
	known := map[string]map[string]string{} // container -> labels, cached
	err := src.Events(ctx, func(e runtime.Event) {
		lbls, ok := known[e.Container]
		if !ok {
			c, err := a.Engine.Inspect(ctx, e.Container)
			if err != nil {
				return // already gone and never seen: not ours to report
			}
			lbls = c.Labels
			known[e.Container] = lbls
		}
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
				"id": e.Container, "service": svc, "attributes": attrs})
			fmt.Fprintln(a.Out, string(b))
			return
		}
		var kv []string
		for _, k := range []string{"exitCode", "image", "name"} {
			if v, ok := attrs[k]; ok {
				kv = append(kv, k+"="+v)
			}
		}
		fmt.Fprintf(a.Out, "%s container %s %s (%s)\n", e.Time.Format("2006-01-02 15:04:05.000000"), e.Action, e.Container, strings.Join(kv, ", "))
	})
	if ctx.Err() != nil {
		return nil
	}
	return err
}

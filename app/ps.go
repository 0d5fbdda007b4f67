package app

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/go-units"
	"github.com/gocompose/gocompose/internal/labels"
	"github.com/gocompose/gocompose/runtime"
)

// PsOptions are the flags of `ps`.
type PsOptions struct {
	Services     []string
	All          bool
	Quiet        bool
	ListServices bool
	Status       []string
	Format       string // table or json
}

// PsEntry is one line of `ps --format json`, with Docker Compose's keys.
type PsEntry struct {
	Command      string
	CreatedAt    string
	ExitCode     int
	Health       string
	ID           string
	Image        string
	Labels       string
	LocalVolumes string
	Mounts       string
	Name         string
	Names        string
	Networks     string
	Ports        string
	Project      string
	Publishers   []any
	RunningFor   string
	Service      string
	Size         string
	State        string
	Status       string
}

// statusText is Docker's STATUS column: "Up 3 seconds", "Exited (0) 2 seconds ago".
func statusText(c runtime.Container, now time.Time, health string) string {
	switch c.State {
	case runtime.StateRunning:
		if health != "" {
			if health == "starting" {
				health = "health: starting"
			}
			return "Up " + units.HumanDuration(now.Sub(c.StartedAt)) + " (" + health + ")"
		}
		return "Up " + units.HumanDuration(now.Sub(c.StartedAt))
	case runtime.StatePaused:
		return "Up " + units.HumanDuration(now.Sub(c.StartedAt)) + " (Paused)"
	case runtime.StateExited:
		return fmt.Sprintf("Exited (%d) %s ago", c.ExitCode, units.HumanDuration(now.Sub(c.FinishedAt)))
	}
	return "Created"
}

func quoteCommand(args []string) string {
	cmd := strings.Join(args, " ")
	if len(cmd) > 20 {
		cmd = cmd[:19] + "…"
	}
	return fmt.Sprintf("%q", cmd)
}

func (a *App) entry(c runtime.Container, now time.Time) PsEntry {
	var ls []string
	for _, k := range slices.Sorted(maps.Keys(c.Labels)) {
		ls = append(ls, k+"="+c.Labels[k])
	}
	img := runtime.FamiliarImage(c.Image)
	return PsEntry{
		Command:      quoteCommand(c.Args),
		CreatedAt:    c.Created.Format("2006-01-02 15:04:05 -0700 MST"),
		ExitCode:     c.ExitCode,
		ID:           c.ID,
		Image:        img,
		Labels:       strings.Join(ls, ","),
		LocalVolumes: "0",
		Name:         c.ID,
		Names:        c.ID,
		Project:      c.Labels[labels.Project],
		Publishers:   []any{},
		RunningFor:   units.HumanDuration(now.Sub(c.Created)) + " ago",
		Service:      c.Labels[labels.Service],
		Size:         "0B",
		State:        c.State,
		Status:       statusText(c, now, a.healthOf(c)),
		Ports:        portsText(c),
		Health:       a.healthOf(c),
	}
}

// portsText is Docker's PORTS column: 0.0.0.0:8000->5000/tcp, ...
func portsText(c runtime.Container) string {
	var ps []labels.Port
	if json.Unmarshal([]byte(c.Labels[labels.Ports]), &ps) != nil {
		return ""
	}
	var out []string
	for _, p := range ps {
		out = append(out, fmt.Sprintf("%s:%d->%d/%s", p.HostIP, p.HostPort, p.ContainerPort, p.Protocol))
	}
	return strings.Join(out, ", ")
}

// Ps lists the project's containers like `docker compose ps`.
func (a *App) Ps(ctx context.Context, p *types.Project, o PsOptions) error {
	if err := checkServices(p, o.Services); err != nil {
		return err
	}
	cs, err := a.observe(ctx, p.Name, &no)
	if err != nil {
		return err
	}
	cs = selectContainers(cs, o.Services)
	status := o.Status
	var keep []runtime.Container
	for _, c := range cs {
		switch {
		case len(status) > 0:
			if !slices.Contains(status, c.State) {
				continue
			}
		case !o.All && c.State != runtime.StateRunning && c.State != runtime.StatePaused:
			continue
		}
		keep = append(keep, c)
	}
	if o.ListServices {
		seen := map[string]bool{}
		for _, c := range keep {
			s := c.Labels[labels.Service]
			if !seen[s] {
				seen[s] = true
				fmt.Fprintln(a.Out, s)
			}
		}
		return nil
	}
	if o.Quiet {
		for _, c := range keep {
			fmt.Fprintln(a.Out, c.ID)
		}
		return nil
	}
	now := time.Now()
	switch o.Format {
	case "json":
		enc := json.NewEncoder(a.Out)
		for _, c := range keep {
			if err := enc.Encode(a.entry(c, now)); err != nil {
				return err
			}
		}
		return nil
	case "", "table":
		tw := tabwriter.NewWriter(a.Out, 0, 4, 3, ' ', 0)
		fmt.Fprintln(tw, "NAME\tIMAGE\tCOMMAND\tSERVICE\tCREATED\tSTATUS\tPORTS")
		for _, c := range keep {
			e := a.entry(c, now)
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Name, e.Image, e.Command, e.Service, e.RunningFor, e.Status, e.Ports)
		}
		return tw.Flush()
	default:
		return fmt.Errorf("unsupported --format %q: use table or json", o.Format)
	}
}

package app

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
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
	// NoTrunc shows whole IDs, commands and mount names.
	NoTrunc bool
	// NoOrphans leaves out containers of services the file no longer has
	// (ps --orphans=false).
	NoOrphans bool
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
	Publishers   []Publisher
	RunningFor   string
	Service      string
	Size         string
	State        string
	Status       string
}

// Publisher is one published port in ps's JSON, as Docker Compose writes it.
type Publisher struct {
	URL           string
	TargetPort    int
	PublishedPort int
	Protocol      string
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

// ellipsis shortens s to n characters, the last one "…", as Docker's
// formatter does.
func ellipsis(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func quoteCommand(args []string, trunc bool) string {
	cmd := strings.Join(args, " ")
	if trunc {
		cmd = ellipsis(cmd, 20)
	}
	return fmt.Sprintf("%q", cmd)
}

// mountNames are ps's Mounts: the volume name of each volume, the source of
// each bind (secrets and configs included), leaving out the /etc files
// gocompose writes for every container; and how many are volumes.
func (a *App) mountNames(c runtime.Container) ([]string, int) {
	var names []string
	local := 0
	volumes := filepath.Join(a.RootDir, "volumes") + "/"
	for _, m := range c.Mounts {
		switch m.Destination {
		case "/etc/hosts", "/etc/resolv.conf", "/etc/hostname":
			continue
		}
		if rest, ok := strings.CutPrefix(m.Source, volumes); ok {
			name, _, _ := strings.Cut(rest, "/")
			names = append(names, name)
			local++
			continue
		}
		names = append(names, m.Source)
	}
	return names, local
}

// networkNames are the networks the container is attached to; a label
// that does not parse is warned about.
func (a *App) networkNames(c runtime.Container) []string {
	eps, err := labels.EndpointsOf(c.Labels)
	if err != nil {
		a.warn("container %s: %v", c.ID, err)
	}
	var out []string
	for _, e := range eps {
		out = append(out, e.Network)
	}
	return out
}

func (a *App) entry(c runtime.Container, now time.Time, trunc bool) PsEntry {
	var ls []string
	for _, k := range slices.Sorted(maps.Keys(c.Labels)) {
		ls = append(ls, k+"="+c.Labels[k])
	}
	img := runtime.FamiliarImage(c.Image)
	id := instanceID(c)
	mounts, local := a.mountNames(c)
	if trunc {
		id = id[:12]
		for i := range mounts {
			mounts[i] = ellipsis(mounts[i], 15)
		}
	}
	publishers := []Publisher{}
	published := a.publishedLabel(c)
	for _, p := range published {
		publishers = append(publishers, Publisher{URL: p.HostIP, TargetPort: p.ContainerPort, PublishedPort: p.HostPort, Protocol: p.Protocol})
	}
	return PsEntry{
		Command:      quoteCommand(c.Args, trunc),
		CreatedAt:    c.Created.Format("2006-01-02 15:04:05 -0700 MST"),
		ExitCode:     c.ExitCode,
		ID:           id,
		Image:        img,
		Labels:       strings.Join(ls, ","),
		LocalVolumes: strconv.Itoa(local),
		Mounts:       strings.Join(mounts, ","),
		Networks:     strings.Join(a.networkNames(c), ","),
		Name:         c.ID,
		Names:        c.ID,
		Project:      c.Labels[labels.Project],
		Publishers:   publishers,
		RunningFor:   units.HumanDuration(now.Sub(c.Created)) + " ago",
		Service:      c.Labels[labels.Service],
		Size:         "0B",
		State:        c.State,
		Status:       statusText(c, now, a.healthOf(c)),
		Ports:        portsText(published),
		Health:       a.healthOf(c),
	}
}

// portsText is Docker's PORTS column: 0.0.0.0:8000->5000/tcp, ...
func portsText(ps []labels.Port) string {
	var out []string
	for _, p := range ps {
		out = append(out, fmt.Sprintf("%s:%d->%d/%s", p.HostIP, p.HostPort, p.ContainerPort, p.Protocol))
	}
	return strings.Join(out, ", ")
}

// publishedLabel reads the container's published ports; a label that does
// not parse is warned about.
func (a *App) publishedLabel(c runtime.Container) []labels.Port {
	ps, err := labels.PortsOf(c.Labels)
	if err != nil {
		a.warn("container %s: %v", c.ID, err)
	}
	return ps
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
	if o.NoOrphans && len(p.Services) > 0 {
		cs = slices.DeleteFunc(cs, func(c runtime.Container) bool {
			_, inFile := p.Services[c.Labels[labels.Service]]
			return !inFile
		})
	}
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
			fmt.Fprintln(a.Out, instanceID(c))
		}
		return nil
	}
	now := time.Now()
	switch o.Format {
	case "json":
		enc := json.NewEncoder(a.Out)
		for _, c := range keep {
			if err := enc.Encode(a.entry(c, now, !o.NoTrunc)); err != nil {
				return err
			}
		}
		return nil
	case "", "table":
		tw := tabwriter.NewWriter(a.Out, 0, 4, 3, ' ', 0)
		fmt.Fprintln(tw, "NAME\tIMAGE\tCOMMAND\tSERVICE\tCREATED\tSTATUS\tPORTS")
		for _, c := range keep {
			e := a.entry(c, now, !o.NoTrunc)
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Name, e.Image, e.Command, e.Service, e.RunningFor, e.Status, e.Ports)
		}
		return tw.Flush()
	default:
		if !isTemplate(o.Format) {
			return fmt.Errorf("unsupported --format %q: use table, json or a Go template", o.Format)
		}
		var rows []any
		for _, c := range keep {
			rows = append(rows, a.entry(c, now, !o.NoTrunc))
		}
		return writeTemplate(a.Out, o.Format, psHeaders, rows)
	}
}

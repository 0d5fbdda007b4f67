package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/compose-spec/compose-go/v2/template"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/docker/go-units"
	"github.com/gocompose/gocompose/internal/labels"
	"github.com/gocompose/gocompose/model"
	"github.com/gocompose/gocompose/runtime"
	"github.com/opencontainers/go-digest"
	"go.yaml.in/yaml/v4"
)

// Top prints the processes of each running container, as `docker compose top`.
func (a *App) Top(ctx context.Context, p *types.Project, services []string) error {
	if err := checkServices(p, services); err != nil {
		return err
	}
	cs, err := a.observe(ctx, p.Name, nil)
	if err != nil {
		return err
	}
	for _, c := range selectContainers(cs, services) {
		if !running(c) {
			continue
		}
		pids, err := a.Engine.Pids(ctx, c.ID)
		if err != nil {
			return err
		}
		list := make([]string, len(pids))
		for i, pid := range pids {
			list[i] = strconv.FormatUint(uint64(pid), 10)
		}
		// Like dockerd, read the host's process table with ps.
		out, err := exec.CommandContext(ctx, "ps", "-o", "user=UID,pid=PID,ppid=PPID,c=C,stime=STIME,tty=TTY,time=TIME,cmd=CMD", "-p", strings.Join(list, ",")).Output()
		if err != nil {
			return fmt.Errorf("top %s: ps: %w", c.ID, err)
		}
		fmt.Fprintf(a.Out, "%s\n", c.ID)
		tw := tabwriter.NewWriter(a.Out, 0, 4, 3, ' ', 0)
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			f := strings.Fields(line)
			if len(f) < 8 {
				continue
			}
			fmt.Fprintln(tw, strings.Join(append(f[:7:7], strings.Join(f[7:], " ")), "\t"))
		}
		tw.Flush()
		fmt.Fprintln(a.Out)
	}
	return nil
}

// Port prints the host address a container port is published on.
func (a *App) Port(ctx context.Context, p *types.Project, service string, port string, protocol string, index int) error {
	if err := checkServices(p, []string{service}); err != nil {
		return err
	}
	if index == 0 {
		index = 1
	}
	num, proto, ok := strings.Cut(port, "/")
	if !ok {
		proto = protocol
	}
	id := containerID(p.Name, p.Services[service], index)
	c, err := a.Engine.Inspect(ctx, id)
	if err != nil {
		return fmt.Errorf("service %q has no container number %d: %w", service, index, err)
	}
	ps, err := labels.PortsOf(c.Labels)
	if err != nil {
		return fmt.Errorf("container %s: %w", id, err)
	}
	for _, pm := range ps {
		if strconv.Itoa(pm.ContainerPort) == num && pm.Protocol == proto {
			fmt.Fprintf(a.Out, "%s:%d\n", pm.HostIP, pm.HostPort)
			return nil
		}
	}
	return fmt.Errorf("no port %s/%s for container %s", num, proto, id)
}

// Images lists the images the project's containers use.
func (a *App) Images(ctx context.Context, p *types.Project, services []string, quiet bool, format string) error {
	cs, err := a.observe(ctx, p.Name, nil)
	if err != nil {
		return err
	}
	cs = selectContainers(cs, services)
	infos := map[string]runtime.ImageInfo{}
	if im, err := a.images(); err == nil {
		all, err := im.ListImages(ctx)
		if err != nil {
			return err
		}
		for _, i := range all {
			infos[i.Name] = i
		}
	}
	if quiet {
		// Image IDs, each once, as Docker Compose prints them.
		seen := map[string]bool{}
		for _, c := range cs {
			if i, ok := infos[c.Image]; ok && !seen[i.Digest] {
				seen[i.Digest] = true
				fmt.Fprintln(a.Out, i.Digest)
			}
		}
		return nil
	}
	// Docker Compose's fields, by container.
	type image struct {
		ID            string     `json:"ID"`
		ContainerName string     `json:"ContainerName"`
		Repository    string     `json:"Repository"`
		Tag           string     `json:"Tag"`
		Platform      string     `json:"Platform"`
		Size          int64      `json:"Size"`
		Created       *time.Time `json:"Created,omitempty"`
	}
	var list []image
	for _, c := range cs {
		repo, tag := splitRef(runtime.FamiliarImage(c.Image))
		i := infos[c.Image]
		list = append(list, image{ID: i.Digest, ContainerName: c.ID, Repository: repo, Tag: tag, Platform: i.Platform, Size: i.Size, Created: i.Built})
	}
	switch format {
	case "json":
		if list == nil {
			list = []image{}
		}
		return json.NewEncoder(a.Out).Encode(list)
	case "", "table":
	default:
		return fmt.Errorf("unsupported --format %q: use table or json", format)
	}
	tw := tabwriter.NewWriter(a.Out, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "CONTAINER\tREPOSITORY\tTAG\tPLATFORM\tIMAGE ID\tSIZE\tCREATED")
	for _, i := range list {
		id, size, created := "<missing>", "0B", "N/A"
		if i.ID != "" {
			id, size = shortID(i.ID), units.HumanSizeWithPrecision(float64(i.Size), 3)
		}
		if i.Created != nil {
			created = units.HumanDuration(time.Since(*i.Created)) + " ago"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", i.ContainerName, i.Repository, i.Tag, i.Platform, id, size, created)
	}
	return tw.Flush()
}

func splitRef(ref string) (string, string) {
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[:i], ref[i+1:]
	}
	return ref, "latest"
}

// ConfigOptions are the flags of `config`.
type ConfigOptions struct {
	Services, Volumes, Images, Quiet bool
	// Networks and Profiles list names; Environment the variables used
	// for interpolation.
	Networks, Profiles, Environment bool
	Format                          string
	// Variables prints the variables the file uses (table unless Format
	// was given); LockImages prints only the services' images, as an
	// override file.
	Variables, LockImages bool
	FormatGiven           bool
}

// Config prints the normalised model, or parts of it.
func (a *App) Config(p *types.Project, o ConfigOptions) error {
	names := slices.Sorted(maps.Keys(p.Services))
	switch {
	case o.Quiet:
		return nil
	case o.Services:
		for _, n := range names {
			fmt.Fprintln(a.Out, n)
		}
		return nil
	case o.Volumes:
		for _, n := range slices.Sorted(maps.Keys(p.Volumes)) {
			fmt.Fprintln(a.Out, n)
		}
		return nil
	case o.Networks:
		for _, n := range slices.Sorted(maps.Keys(p.Networks)) {
			fmt.Fprintln(a.Out, n)
		}
		return nil
	case o.Profiles:
		// Every profile the file names, enabled or not.
		set := map[string]bool{}
		for _, svcs := range []types.Services{p.Services, p.DisabledServices} {
			for _, s := range svcs {
				for _, pr := range s.Profiles {
					set[pr] = true
				}
			}
		}
		for _, n := range slices.Sorted(maps.Keys(set)) {
			fmt.Fprintln(a.Out, n)
		}
		return nil
	case o.Environment:
		for _, k := range slices.Sorted(maps.Keys(p.Environment)) {
			fmt.Fprintf(a.Out, "%s=%s\n", k, p.Environment[k])
		}
		return nil
	case o.Images:
		for _, n := range names {
			img := p.Services[n].Image
			if img == "" {
				img = p.Name + "-" + n
			}
			fmt.Fprintln(a.Out, img)
		}
		return nil
	case o.Variables:
		return a.printVariables(p, o)
	}
	if o.LockImages {
		// An override file pinning the images, nothing else.
		services := map[string]any{}
		for _, n := range names {
			services[n] = map[string]string{"image": p.Services[n].Image}
		}
		lock := map[string]any{"services": services}
		var b []byte
		var err error
		if o.Format == "json" {
			b, err = json.MarshalIndent(lock, "", "  ")
			b = append(b, '\n')
		} else {
			b, err = yaml.Marshal(lock)
		}
		if err != nil {
			return err
		}
		_, err = a.Out.Write(b)
		return err
	}
	var b []byte
	var err error
	switch o.Format {
	case "", "yaml":
		b, err = p.MarshalYAML()
	case "json":
		b, err = p.MarshalJSON()
	default:
		return fmt.Errorf("unsupported --format %q: use yaml or json", o.Format)
	}
	if err != nil {
		return err
	}
	_, err = a.Out.Write(b)
	return err
}

// printVariables lists the variables the (uninterpolated) model uses, with
// whether they are required, their default and their alternate value, as
// `docker compose config --variables` does.
func (a *App) printVariables(p *types.Project, o ConfigOptions) error {
	y, err := p.MarshalYAML()
	if err != nil {
		return err
	}
	var model map[string]any
	if err := yaml.Unmarshal(y, &model); err != nil {
		return err
	}
	vars := template.ExtractVariables(model, template.DefaultPattern)
	switch {
	case o.FormatGiven && o.Format == "json":
		b, err := json.Marshal(vars)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(a.Out, "%s\n", b)
		return err
	case o.FormatGiven && o.Format == "yaml":
		b, err := yaml.Marshal(vars)
		if err != nil {
			return err
		}
		_, err = a.Out.Write(b)
		return err
	case o.FormatGiven:
		return fmt.Errorf("unsupported --format %q: use yaml or json", o.Format)
	}
	tw := tabwriter.NewWriter(a.Out, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "NAME\tREQUIRED\tDEFAULT VALUE\tALTERNATE VALUE")
	for _, n := range slices.Sorted(maps.Keys(vars)) {
		v := vars[n]
		fmt.Fprintf(tw, "%s\t%t\t%s\t%s\n", n, v.Required, v.DefaultValue, v.PresenceValue)
	}
	return tw.Flush()
}

// ResolveImageDigests pins every service's image to the digest of the
// image this host holds under that name (config --resolve-image-digests):
// "busybox:latest@sha256:…". An image not on the host is an error (pull
// or build it first: no registry is asked).
func (a *App) ResolveImageDigests(ctx context.Context, p *types.Project) (*types.Project, error) {
	q := *p
	q.Services = maps.Clone(p.Services)
	for _, name := range slices.Sorted(maps.Keys(q.Services)) {
		svc := q.Services[name]
		ref := ImageName(p, svc)
		named, err := reference.ParseNormalizedNamed(ref)
		if err != nil {
			return nil, fmt.Errorf("service %s: image %q: %w", name, ref, err)
		}
		if _, ok := named.(reference.Digested); ok {
			continue // pinned already
		}
		d, err := a.Engine.ImageID(ctx, ref)
		if err != nil {
			return nil, fmt.Errorf("service %s: %w (pull or build it first)", name, err)
		}
		pinned, err := reference.WithDigest(reference.TagNameOnly(named), digest.Digest(d))
		if err != nil {
			return nil, fmt.Errorf("service %s: %w", name, err)
		}
		svc.Image = reference.FamiliarString(pinned)
		q.Services[name] = svc
	}
	return &q, nil
}

// ConfigHash prints "SERVICE HASH" for the named services (all when none
// are named), by name: the com.docker.compose.config-hash label `up`
// gives their containers with the images present now (a missing image
// hashes as none).
func (a *App) ConfigHash(ctx context.Context, p *types.Project, services []string) error {
	if err := checkServices(p, services); err != nil {
		return err
	}
	p = withImageNames(p)
	sel, err := selectServices(p, services, false)
	if err != nil {
		return err
	}
	for _, name := range sel.ServiceNames() {
		svc := sel.Services[name]
		// The digest only: hashing reads the image store, it does not
		// unpack (ResolveImage would).
		digest, err := a.Engine.ImageID(ctx, svc.Image)
		if err != nil {
			if !errors.Is(err, errdefs.ErrNotFound) {
				return fmt.Errorf("service %s: %w", name, err)
			}
			digest = ""
		}
		h, err := model.ConfigHash(svc, a.hashDigest(ctx, svc, digest))
		if err != nil {
			return err
		}
		fmt.Fprintf(a.Out, "%s %s\n", name, h)
	}
	return nil
}

// LsEntry is one project in `ls --format json`.
type LsEntry struct {
	Name        string
	Status      string
	ConfigFiles string
}

// Ls lists the projects that have containers, as `docker compose ls`.
//
// With names (ls --filter name=…), only the projects whose name is one of
// them, or matches one as a regular expression, as Docker Compose filters.
func (a *App) Ls(ctx context.Context, all, quiet bool, format string, names ...string) error {
	cs, err := a.Engine.List(ctx, nil)
	if err != nil {
		return err
	}
	type proj struct {
		states map[string]int
		files  string
	}
	projects := map[string]*proj{}
	for _, c := range cs {
		name := c.Labels[labels.Project]
		if name == "" {
			continue
		}
		pr := projects[name]
		if pr == nil {
			pr = &proj{states: map[string]int{}, files: c.Labels[labels.ConfigFiles]}
			projects[name] = pr
		}
		pr.states[c.State]++
	}
	var entries []LsEntry
	for _, name := range slices.Sorted(maps.Keys(projects)) {
		pr := projects[name]
		if !all && pr.states[runtime.StateRunning]+pr.states[runtime.StatePaused] == 0 {
			continue
		}
		if len(names) > 0 && !slices.ContainsFunc(names, func(n string) bool {
			ok, err := regexp.MatchString(n, name)
			return n == name || err == nil && ok
		}) {
			continue
		}
		var parts []string
		for _, st := range slices.Sorted(maps.Keys(pr.states)) {
			parts = append(parts, fmt.Sprintf("%s(%d)", st, pr.states[st]))
		}
		entries = append(entries, LsEntry{Name: name, Status: strings.Join(parts, ", "), ConfigFiles: pr.files})
	}
	switch {
	case quiet:
		for _, e := range entries {
			fmt.Fprintln(a.Out, e.Name)
		}
	case format == "json":
		if entries == nil {
			entries = []LsEntry{}
		}
		return json.NewEncoder(a.Out).Encode(entries)
	case isTemplate(format):
		var rows []any
		for _, e := range entries {
			rows = append(rows, e)
		}
		return writeTemplate(a.Out, format, lsHeaders, rows)
	case format != "" && format != "table":
		return fmt.Errorf("unsupported --format %q: use table, json or a Go template", format)
	default:
		tw := tabwriter.NewWriter(a.Out, 0, 4, 3, ' ', 0)
		fmt.Fprintln(tw, "NAME\tSTATUS\tCONFIG FILES")
		for _, e := range entries {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", e.Name, e.Status, e.ConfigFiles)
		}
		return tw.Flush()
	}
	return nil
}

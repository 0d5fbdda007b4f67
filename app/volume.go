package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/gocompose/gocompose/internal/labels"
	"github.com/gocompose/gocompose/model"
	"github.com/gocompose/gocompose/runtime"
	"github.com/gocompose/gocompose/volume"
)

// vols is the host's volume store, under RootDir.
func (a *App) vols() *volume.Store {
	a.volOnce.Do(func() { a.volStore = &volume.Store{Dir: filepath.Join(a.RootDir, "volumes"), DryRun: a.dry} })
	return a.volStore
}

// volumeDir is where a named volume's data lives, like Docker's local driver.
func (a *App) volumeDir(name string) string { return a.vols().DataDir(name) }

// ensureVolumes creates the named volumes the selected services mount;
// external ones must already exist.
// With all (--all-resources) every volume the file declares is made.
func (a *App) ensureVolumes(p *types.Project, sel *types.Project, all bool) error {
	used := map[string]bool{}
	if all {
		for k := range p.Volumes {
			used[k] = true
		}
	}
	for _, svc := range sel.Services {
		for _, v := range svc.Volumes {
			if v.Type == types.VolumeTypeVolume && v.Source != "" {
				used[v.Source] = true
			}
		}
	}
	for _, key := range slices.Sorted(maps.Keys(used)) {
		cfg := p.Volumes[key]
		if bool(cfg.External) {
			if _, err := a.vols().Get(cfg.Name); err != nil {
				return fmt.Errorf("external volume %q not found", cfg.Name)
			}
			continue
		}
		lbls := map[string]string{labels.Project: p.Name, labels.Volume: key, labels.Version: Version}
		maps.Copy(lbls, cfg.Labels)
		created, err := a.vols().Ensure(volume.Meta{Name: cfg.Name, Project: p.Name, Volume: key, Labels: lbls, DriverOpts: cfg.DriverOpts})
		if err != nil {
			return err
		}
		if created {
			a.progress("Volume", cfg.Name, "Created")
		}
	}
	return nil
}

// volumeMounts resolves the service's volumes to mounts of the container
// id: binds and tmpfs as they are, named and anonymous volumes as binds of
// their directories (mounting the ones whose driver_opts say bind or
// tmpfs). It says which empty volumes to seed from the image (unless
// volume.nocopy) and which volume directories the container uses.
func (a *App) volumeMounts(p *types.Project, svc types.ServiceConfig, id string) ([]model.Mount, []model.CopyUp, []string, error) {
	var copyUp []model.CopyUp
	var dirs []string
	var mounts []model.Mount
	for _, v := range svc.Volumes {
		if v.Type != types.VolumeTypeVolume {
			m, err := model.FromVolume(v)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("service %s: %w", svc.Name, err)
			}

			mounts = append(mounts, m)
			continue
		}
		var name string
		if v.Source == "" {
			name = volume.AnonymousName(id, v.Target)
			// volumes_from makes the source's anonymous volumes too,
			// perhaps while the source's own create does: Ensure is
			// serialised.
			if _, err := a.vols().Ensure(volume.Meta{Name: name, Project: p.Name, Anonymous: true, Labels: map[string]string{labels.AnonymousVolume: ""}}); err != nil {
				return nil, nil, nil, fmt.Errorf("service %s: %w", svc.Name, err)
			}
		} else {
			cfg, ok := p.Volumes[v.Source]
			if !ok {
				return nil, nil, nil, fmt.Errorf("service %s: undefined volume %s", svc.Name, v.Source)
			}
			name = cfg.Name
		}
		dir := a.volumeDir(name)
		meta, err := a.vols().Get(name)
		if a.dry && errors.Is(err, volume.ErrNotFound) {
			meta, err = volume.Meta{Name: name}, nil // made by this dry run
		}
		if err != nil {
			return nil, nil, nil, fmt.Errorf("service %s: %w", svc.Name, err)
		}
		if err := a.vols().Mount(meta); err != nil {
			return nil, nil, nil, fmt.Errorf("service %s: %w", svc.Name, err)
		}
		entries, err := os.ReadDir(dir)
		if a.dry && errors.Is(err, os.ErrNotExist) {
			entries, err = nil, nil
		}
		if err != nil {
			return nil, nil, nil, fmt.Errorf("service %s: volume %s: %w", svc.Name, name, err)
		}
		m := model.Mount{Type: model.Bind, Source: dir, Target: v.Target, ReadOnly: v.ReadOnly}
		if v.Volume != nil && v.Volume.Subpath != "" {
			// volume.subpath: a directory (or file) inside the volume,
			// resolved when each task starts, as Docker's daemon does;
			// never seeded from the image.
			m.Subpath = v.Volume.Subpath
		} else if len(entries) == 0 && (v.Volume == nil || !v.Volume.NoCopy) {
			copyUp = append(copyUp, model.CopyUp{Target: v.Target, HostDir: dir})
		}
		mounts = append(mounts, m)
		dirs = append(dirs, dir)
	}
	return mounts, copyUp, dirs, nil
}

// removeVolumes deletes the project's named volumes (never external ones).
// A volume a container still mounts (another project's, sharing it by
// name:) is kept with a warning, as Docker refuses to remove it.
func (a *App) removeVolumes(ctx context.Context, p *types.Project) error {
	inUse, err := a.volumeUsers(ctx)
	if err != nil {
		return err
	}
	for _, key := range slices.Sorted(maps.Keys(p.Volumes)) {
		cfg := p.Volumes[key]
		if bool(cfg.External) {
			continue
		}
		if _, err := a.vols().Get(cfg.Name); err != nil {
			continue
		}
		if users := inUse[a.volumeDir(cfg.Name)]; len(users) > 0 {
			// Docker Compose's line, then who uses it.
			a.progress("Volume", cfg.Name, "Resource is still in use")
			a.warn("volume %s is in use by %v: not removed", cfg.Name, users)
			continue
		}
		a.progress("Volume", cfg.Name, "Removing")
		if err := a.vols().Delete(cfg.Name); err != nil {
			return err
		}
		a.progress("Volume", cfg.Name, "Removed")
	}
	return nil
}

// restoreHost brings back, before an existing container starts, what a
// reboot (or a cleared state directory) took from the host: its network
// namespace and attachments, its driver_opts volume mounts and its
// project's secrets tmpfs.
func (a *App) restoreHost(ctx context.Context, p *types.Project, c runtime.Container) error {
	if err := a.restoreNetwork(ctx, c); err != nil {
		return err
	}
	return a.restoreMounts(p, c)
}

// restoreMounts brings back a container's driver_opts volume mounts and its
// project's secrets tmpfs.
func (a *App) restoreMounts(p *types.Project, c runtime.Container) error {
	if c.Labels[labels.Volumes] != "" {
		for _, dir := range strings.Split(c.Labels[labels.Volumes], ",") {
			m, err := a.vols().Get(a.vols().NameOf(dir))
			if err != nil {
				continue // a bind of another container's mount, or gone
			}
			if err := a.vols().Mount(m); err != nil {
				return fmt.Errorf("container %s: %w", c.ID, err)
			}
		}
	}
	svc, ok := p.Services[c.Labels[labels.Service]]
	if !ok || len(serviceFileObjects(p, svc)) == 0 {
		return nil
	}
	if a.secretFS().Mounted(p.Name) {
		return nil
	}
	files, err := readFiles(p, svc)
	if err == nil {
		_, err = a.secretMounts(p.Name, svc.Name, files)
	}
	return err
}

// unmountIdleVolumes unmounts the project's driver_opts volumes no
// container uses any more, as Docker's local driver does when the last
// user goes; the next use mounts them again.
func (a *App) unmountIdleVolumes(ctx context.Context, p *types.Project) error {
	var inUse map[string][]string
	for _, key := range slices.Sorted(maps.Keys(p.Volumes)) {
		name := p.Volumes[key].Name
		m, err := a.vols().Get(name)
		if err != nil || len(m.DriverOpts) == 0 {
			continue
		}
		if inUse == nil {
			if inUse, err = a.volumeUsers(ctx); err != nil {
				return err
			}
		}
		if len(inUse[a.volumeDir(name)]) > 0 {
			continue
		}
		if err := a.vols().Unmount(name); err != nil {
			return fmt.Errorf("volume %s: %w", name, err)
		}
	}
	return nil
}

// anonymousVolumesOf lists the anonymous volumes a container mounts, from
// its volumes label.
func (a *App) anonymousVolumesOf(c runtime.Container) []volume.Meta {
	var out []volume.Meta
	if c.Labels[labels.Volumes] == "" {
		return nil
	}
	for _, dir := range strings.Split(c.Labels[labels.Volumes], ",") {
		if m, err := a.vols().Get(a.vols().NameOf(dir)); err == nil && m.Anonymous {
			out = append(out, m)
		}
	}
	return out
}

// detachAnonymousVolumes keeps the data of a removed container's anonymous
// volumes under a new random name, so that, as with Docker, the next
// container of that name starts with fresh ones while the old data waits
// for `volume prune` (down without -v, rm without -v).
func (a *App) detachAnonymousVolumes(c runtime.Container) error {
	for _, m := range a.anonymousVolumesOf(c) {
		if _, err := a.vols().Detach(m); err != nil {
			return err
		}
	}
	return nil
}

// removeAnonymousVolumes deletes the anonymous volumes a removed container
// mounted (down -v, rm -v, run --rm, up -V).
func (a *App) removeAnonymousVolumes(c runtime.Container) error {
	for _, m := range a.anonymousVolumesOf(c) {
		a.progress("Volume", m.Name, "Removing")
		if err := a.vols().Delete(m.Name); err != nil {
			return err
		}
		a.progress("Volume", m.Name, "Removed")
	}
	return nil
}

// VolumeInfo is one named volume, as `volume ls/inspect` show it.
type VolumeInfo struct {
	Name       string            `json:"Name"`
	Driver     string            `json:"Driver"`
	Mountpoint string            `json:"Mountpoint"`
	Project    string            `json:"Project,omitempty"`
	Labels     map[string]string `json:"Labels,omitempty"`
	Options    map[string]string `json:"Options,omitempty"`
	anonymous  bool
}

func (a *App) volumes() ([]VolumeInfo, error) {
	metas, err := a.vols().List()
	if err != nil {
		a.warn("%v", err) // the others are listed
	}
	var out []VolumeInfo
	for _, m := range metas {
		out = append(out, VolumeInfo{Name: m.Name, Driver: "local", Mountpoint: a.volumeDir(m.Name), Project: m.Project,
			Labels: m.Labels, Options: m.DriverOpts, anonymous: m.Anonymous})
	}
	return out, nil
}

// ProjectVolumes lists the volumes that exist of those the project (or the
// named services) mounts, like `docker compose volumes`.
func (a *App) ProjectVolumes(p *types.Project, services []string, quiet bool, format string) error {
	if err := checkServices(p, services); err != nil {
		return err
	}
	want := map[string]bool{}
	for name, svc := range p.Services {
		if len(services) > 0 && !slices.Contains(services, name) {
			continue
		}
		for _, v := range svc.Volumes {
			if v.Type == types.VolumeTypeVolume && v.Source != "" {
				if cfg, ok := p.Volumes[v.Source]; ok {
					want[cfg.Name] = true
				}
			}
		}
	}
	vs, err := a.volumes()
	if err != nil {
		return err
	}
	vs = slices.DeleteFunc(vs, func(v VolumeInfo) bool { return !want[v.Name] })
	if quiet || format == "" || format == "table" {
		return a.printVolumes(vs, quiet)
	}
	// The fields of the docker CLI's volume formatter, which Docker
	// Compose's volumes command uses.
	type row struct {
		Driver, Labels, Links, Mountpoint, Name, Scope, Size string
	}
	var rows []any
	for _, v := range vs {
		var ls []string
		for _, k := range slices.Sorted(maps.Keys(v.Labels)) {
			ls = append(ls, k+"="+v.Labels[k])
		}
		rows = append(rows, row{Driver: v.Driver, Labels: strings.Join(ls, ","), Links: "N/A", Mountpoint: v.Mountpoint,
			Name: v.Name, Scope: "local", Size: "N/A"})
	}
	switch {
	case format == "json":
		format = "{{json .}}"
	case !isTemplate(format):
		return fmt.Errorf("unsupported --format %q: use table, json or a Go template", format)
	}
	return writeTemplate(a.Out, format, volumeHeaders, rows)
}

// volumeHeaders are `volumes --format 'table …'`'s column headers.
var volumeHeaders = map[string]string{"Driver": "DRIVER", "Labels": "LABELS", "Links": "LINKS", "Mountpoint": "MOUNTPOINT",
	"Name": "VOLUME NAME", "Scope": "SCOPE", "Size": "SIZE"}

// VolumeLs lists named volumes.
func (a *App) VolumeLs(quiet bool) error {
	vs, err := a.volumes()
	if err != nil {
		return err
	}
	return a.printVolumes(vs, quiet)
}

func (a *App) printVolumes(vs []VolumeInfo, quiet bool) error {
	if quiet {
		for _, v := range vs {
			fmt.Fprintln(a.Out, v.Name)
		}
		return nil
	}
	tw := tabwriter.NewWriter(a.Out, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "DRIVER\tVOLUME NAME")
	for _, v := range vs {
		fmt.Fprintf(tw, "%s\t%s\n", v.Driver, v.Name)
	}
	return tw.Flush()
}

// VolumeInspect prints volumes as JSON.
func (a *App) VolumeInspect(names []string) error {
	vs, err := a.volumes()
	if err != nil {
		return err
	}
	var sel []VolumeInfo
	for _, n := range names {
		i := slices.IndexFunc(vs, func(v VolumeInfo) bool { return v.Name == n })
		if i < 0 {
			return fmt.Errorf("no such volume: %s", n)
		}
		sel = append(sel, vs[i])
	}
	b, err := json.MarshalIndent(sel, "", "    ")
	if err != nil {
		return err
	}
	fmt.Fprintln(a.Out, string(b))
	return nil
}

// labelEverywhere reads a label on every container of every namespace;
// the runtime implements it.
type labelEverywhere interface {
	LabelEverywhere(ctx context.Context, key string) (map[string]string, error)
}

// volumeUsers maps each volume directory to the containers, in any
// namespace (they share the volume directories), that mount it. Callers
// read it once per command.
func (a *App) volumeUsers(ctx context.Context) (map[string][]string, error) {
	mounts := map[string]string{}
	if le, ok := a.Engine.(labelEverywhere); ok {
		var err error
		if mounts, err = le.LabelEverywhere(ctx, labels.Volumes); err != nil {
			return nil, err
		}
	} else {
		cs, err := a.Engine.List(ctx, nil)
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			mounts[c.ID] = c.Labels[labels.Volumes]
		}
	}
	users := map[string][]string{}
	for _, id := range slices.Sorted(maps.Keys(mounts)) {
		if mounts[id] == "" {
			continue
		}
		for _, dir := range strings.Split(mounts[id], ",") {
			users[dir] = append(users[dir], id)
		}
	}
	return users, nil
}

// VolumeRm removes volumes. A volume a container mounts is never removed,
// with or without force, as with Docker; force only quiets unknown names.
func (a *App) VolumeRm(ctx context.Context, names []string, force bool) error {
	inUse, err := a.volumeUsers(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range names {
		if _, err := a.vols().Get(n); err != nil {
			if !force {
				errs = append(errs, fmt.Errorf("no such volume: %s", n))
			}
			continue
		}
		if users := inUse[a.volumeDir(n)]; len(users) > 0 {
			errs = append(errs, fmt.Errorf("remove %s: volume is in use by %v", n, users))
			continue
		}
		if err := a.vols().Delete(n); err != nil {
			return err
		}
		fmt.Fprintln(a.Out, n)
	}
	return errors.Join(errs...)
}

// VolumePrune removes the anonymous volumes no container uses; with all,
// named ones too. As with Docker since API 1.42, a named volume is never
// pruned without --all.
func (a *App) VolumePrune(ctx context.Context, all bool) error {
	vs, err := a.volumes()
	if err != nil {
		return err
	}
	inUse, err := a.volumeUsers(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(a.Out, "Deleted Volumes:")
	for _, v := range vs {
		if !v.anonymous && !all {
			continue
		}
		if len(inUse[v.Mountpoint]) == 0 {
			if err := a.vols().Delete(v.Name); err != nil {
				return err
			}
			fmt.Fprintln(a.Out, v.Name)
		}
	}
	return nil
}

// labels.Volumes lists, on a container, the volume directories it mounts.

package app

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/gocompose/gocompose/runtime"
)

// volumeDir is where a named volume's data lives, like Docker's local driver.
func (a *App) volumeDir(name string) string {
	return filepath.Join(a.RootDir, "volumes", name, "_data")
}

// ensureVolumes creates the named volumes the selected services mount;
// external ones must already exist.
func (a *App) ensureVolumes(p *types.Project, sel *types.Project) error {
	used := map[string]bool{}
	for _, svc := range sel.Services {
		for _, v := range svc.Volumes {
			if v.Type == types.VolumeTypeVolume && v.Source != "" {
				used[v.Source] = true
			}
		}
	}
	for _, key := range slices.Sorted(maps.Keys(used)) {
		cfg := p.Volumes[key]
		dir := a.volumeDir(cfg.Name)
		if _, err := os.Stat(dir); err == nil {
			continue
		}
		if bool(cfg.External) {
			return fmt.Errorf("external volume %q not found", cfg.Name)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("volume %s: %w", cfg.Name, err)
		}
		meta, _ := json.Marshal(map[string]any{"name": cfg.Name, "project": p.Name, "volume": key, "labels": cfg.Labels})
		if err := os.WriteFile(filepath.Join(filepath.Dir(dir), "meta.json"), meta, 0o644); err != nil {
			return err
		}
		a.progress("Volume", cfg.Name, "Created")
	}
	return nil
}

// bindVolumes turns named volumes into binds of their directories and says
// which empty ones to seed from the image (unless volume.nocopy).
func (a *App) bindVolumes(p *types.Project, svc types.ServiceConfig) (types.ServiceConfig, []runtime.CopyUp, []string, error) {
	var copyUp []runtime.CopyUp
	var dirs []string
	vols := slices.Clone(svc.Volumes)
	for i, v := range vols {
		if v.Type != types.VolumeTypeVolume {
			continue
		}
		cfg, ok := p.Volumes[v.Source]
		if !ok {
			return svc, nil, nil, fmt.Errorf("service %s: undefined volume %s", svc.Name, v.Source)
		}
		dir := a.volumeDir(cfg.Name)
		entries, err := os.ReadDir(dir)
		if err != nil {
			return svc, nil, nil, fmt.Errorf("service %s: volume %s: %w", svc.Name, cfg.Name, err)
		}
		if len(entries) == 0 && (v.Volume == nil || !v.Volume.NoCopy) {
			copyUp = append(copyUp, runtime.CopyUp{Target: v.Target, HostDir: dir})
		}
		vols[i] = types.ServiceVolumeConfig{Type: types.VolumeTypeBind, Source: dir, Target: v.Target,
			ReadOnly: v.ReadOnly, Bind: &types.ServiceVolumeBind{CreateHostPath: false}}
		dirs = append(dirs, dir)
	}
	svc.Volumes = vols
	return svc, copyUp, dirs, nil
}

// removeVolumes deletes the project's named volumes (never external ones).
func (a *App) removeVolumes(p *types.Project) error {
	for _, key := range slices.Sorted(maps.Keys(p.Volumes)) {
		cfg := p.Volumes[key]
		if bool(cfg.External) {
			continue
		}
		dir := filepath.Dir(a.volumeDir(cfg.Name))
		if _, err := os.Stat(dir); err != nil {
			continue
		}
		a.progress("Volume", cfg.Name, "Removing")
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("remove volume %s: %w", cfg.Name, err)
		}
		a.progress("Volume", cfg.Name, "Removed")
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
}

func (a *App) volumes() ([]VolumeInfo, error) {
	metas, err := filepath.Glob(filepath.Join(a.RootDir, "volumes", "*", "meta.json"))
	if err != nil {
		return nil, err
	}
	var out []VolumeInfo
	for _, m := range metas {
		var meta struct {
			Name    string            `json:"name"`
			Project string            `json:"project"`
			Labels  map[string]string `json:"labels"`
		}
		b, err := os.ReadFile(m)
		if err != nil || json.Unmarshal(b, &meta) != nil {
			continue
		}
		out = append(out, VolumeInfo{Name: meta.Name, Driver: "local", Mountpoint: a.volumeDir(meta.Name), Project: meta.Project, Labels: meta.Labels})
	}
	slices.SortFunc(out, func(x, y VolumeInfo) int { return strings.Compare(x.Name, y.Name) })
	return out, nil
}

// VolumeLs lists named volumes.
func (a *App) VolumeLs(quiet bool) error {
	vs, err := a.volumes()
	if err != nil {
		return err
	}
	if quiet {
		for _, v := range vs {
			fmt.Fprintln(a.Out, v.Name)
		}
		return nil
	}
	tw := tabwriter.NewWriter(a.Out, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "DRIVER\tVOLUME NAME")
	for _, v := range vs {
		fmt.Fprintf(tw, "local\t%s\n", v.Name)
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

// volumeInUse reports the containers that mount a volume's directory.
func (a *App) volumeInUse(ctx context.Context, name string) ([]string, error) {
	cs, err := a.Engine.List(ctx, nil)
	if err != nil {
		return nil, err
	}
	dir := a.volumeDir(name)
	var users []string
	for _, c := range cs {
		if c.Labels[labelVolumes] != "" && slices.Contains(strings.Split(c.Labels[labelVolumes], ","), dir) {
			users = append(users, c.ID)
		}
	}
	return users, nil
}

// VolumeRm removes volumes no container uses (with force, any).
func (a *App) VolumeRm(ctx context.Context, names []string, force bool) error {
	for _, n := range names {
		if _, err := os.Stat(a.volumeDir(n)); err != nil {
			return fmt.Errorf("no such volume: %s", n)
		}
		users, err := a.volumeInUse(ctx, n)
		if err != nil {
			return err
		}
		if len(users) > 0 && !force {
			return fmt.Errorf("volume %s is in use by %v", n, users)
		}
		if err := os.RemoveAll(filepath.Dir(a.volumeDir(n))); err != nil {
			return err
		}
		fmt.Fprintln(a.Out, n)
	}
	return nil
}

// VolumePrune removes the volumes no container uses.
func (a *App) VolumePrune(ctx context.Context) error {
	vs, err := a.volumes()
	if err != nil {
		return err
	}
	fmt.Fprintln(a.Out, "Deleted Volumes:")
	for _, v := range vs {
		users, err := a.volumeInUse(ctx, v.Name)
		if err != nil {
			return err
		}
		if len(users) == 0 {
			if err := os.RemoveAll(filepath.Dir(a.volumeDir(v.Name))); err != nil {
				return err
			}
			fmt.Fprintln(a.Out, v.Name)
		}
	}
	return nil
}

// labelVolumes lists, on a container, the volume directories it mounts.
const labelVolumes = "gocompose.volumes"

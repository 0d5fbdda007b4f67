package app

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

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
func (a *App) bindVolumes(p *types.Project, svc types.ServiceConfig) (types.ServiceConfig, []runtime.CopyUp, error) {
	var copyUp []runtime.CopyUp
	vols := slices.Clone(svc.Volumes)
	for i, v := range vols {
		if v.Type != types.VolumeTypeVolume {
			continue
		}
		cfg, ok := p.Volumes[v.Source]
		if !ok {
			return svc, nil, fmt.Errorf("service %s: undefined volume %s", svc.Name, v.Source)
		}
		dir := a.volumeDir(cfg.Name)
		entries, err := os.ReadDir(dir)
		if err != nil {
			return svc, nil, fmt.Errorf("service %s: volume %s: %w", svc.Name, cfg.Name, err)
		}
		if len(entries) == 0 && (v.Volume == nil || !v.Volume.NoCopy) {
			copyUp = append(copyUp, runtime.CopyUp{Target: v.Target, HostDir: dir})
		}
		vols[i] = types.ServiceVolumeConfig{Type: types.VolumeTypeBind, Source: dir, Target: v.Target,
			ReadOnly: v.ReadOnly, Bind: &types.ServiceVolumeBind{CreateHostPath: false}}
	}
	svc.Volumes = vols
	return svc, copyUp, nil
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

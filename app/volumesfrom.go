package app

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/gocompose/gocompose/model"
	"github.com/gocompose/gocompose/runtime"
)

// mountLister lists a container's bind mounts; the runtime implements it.
type mountLister interface {
	Mounts(ctx context.Context, id, stateDir string) ([]runtime.Mount, error)
}

// parseVolumesFrom splits a volumes_from entry: "service[:ro|:rw]" or
// "container:name[:ro|:rw]".
func parseVolumesFrom(entry string) (container bool, name, mode string, err error) {
	rest, container := strings.CutPrefix(entry, types.ContainerPrefix)
	name, mode, _ = strings.Cut(rest, ":")
	if name == "" || (mode != "" && mode != "ro" && mode != "rw") {
		return false, "", "", fmt.Errorf("volumes_from %q: want SERVICE[:ro|rw] or container:NAME[:ro|rw]", entry)
	}
	return container, name, mode, nil
}

// volumesFrom adds the mounts of the services and containers volumes_from
// names, as mounts of svc: a service's binds and volumes (named and anonymous, those
// of its first container) come from the project; a container's from its
// spec. ":ro" makes them read-only, ":rw" writable, nothing keeps their
// mode. The service's own mounts win over inherited ones at the same
// target. It returns the volume directories inherited too.
func (a *App) volumesFrom(ctx context.Context, p *types.Project, svc types.ServiceConfig) ([]model.Mount, []string, error) {
	if len(svc.VolumesFrom) == 0 {
		return nil, nil, nil
	}
	have := map[string]bool{}
	for _, v := range svc.Volumes {
		have[v.Target] = true
	}
	var dirs []string
	var out []model.Mount
	for _, entry := range svc.VolumesFrom {
		isContainer, name, mode, err := parseVolumesFrom(entry)
		if err != nil {
			return nil, nil, fmt.Errorf("service %s: %w", svc.Name, err)
		}
		var mounts []runtime.Mount
		if isContainer {
			ml, ok := a.Engine.(mountLister)
			if !ok {
				return nil, nil, errors.New("volumes_from a container is not available with this engine")
			}
			if mounts, err = ml.Mounts(ctx, name, a.StateDir); err != nil {
				return nil, nil, fmt.Errorf("service %s: volumes_from: %w", svc.Name, err)
			}
		} else {
			src, ok := p.Services[name]
			if !ok {
				return nil, nil, fmt.Errorf("service %s: volumes_from: no such service: %s", svc.Name, name)
			}
			srcID, err := a.serviceContainer(ctx, p.Name, name)
			if err != nil {
				srcID = containerID(p.Name, src, 1) // not made yet: its first replica's paths
			}
			bound, _, _, err := a.volumeMounts(p, src, srcID)
			if err != nil {
				return nil, nil, err
			}
			for _, m := range bound {
				if m.Type == model.Bind {
					mounts = append(mounts, runtime.Mount{Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly})
				}
			}
		}
		for _, m := range mounts {
			if have[m.Target] {
				continue
			}
			have[m.Target] = true
			ro := m.ReadOnly
			switch mode {
			case "ro":
				ro = true
			case "rw":
				ro = false
			}
			out = append(out, model.Mount{Type: model.Bind, Source: m.Source, Target: m.Target, ReadOnly: ro})
			if strings.HasPrefix(m.Source, filepath.Join(a.RootDir, "volumes")+"/") {
				dirs = append(dirs, m.Source)
			}
		}
	}
	return out, dirs, nil
}

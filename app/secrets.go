package app

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/gocompose/gocompose/model"
	"github.com/gocompose/gocompose/secret"
)

// Secrets and configs are copied to the project's tmpfs (package secret)
// and bind-mounted read-only into the container: secrets at
// /run/secrets/<name>, configs at /<name>, or at target.

// secretFS is the projects' secrets tmpfs, under StateDir.
func (a *App) secretFS() *secret.FS {
	a.secretOnce.Do(func() { a.secrets = &secret.FS{Dir: filepath.Join(a.StateDir, "secrets"), DryRun: a.dry} })
	return a.secrets
}

// fileObject is one secret or config a container mounts.
type fileObject struct {
	kind   string // "secrets" or "configs"
	ref    types.FileReferenceConfig
	obj    types.FileObjectConfig
	target string
}

func serviceFileObjects(p *types.Project, svc types.ServiceConfig) []fileObject {
	var out []fileObject
	for _, s := range svc.Secrets {
		target := s.Target
		if target == "" {
			target = s.Source
		}
		if !path.IsAbs(target) {
			target = path.Join("/run/secrets", target)
		}
		out = append(out, fileObject{"secrets", types.FileReferenceConfig(s), types.FileObjectConfig(p.Secrets[s.Source]), target})
	}
	for _, c := range svc.Configs {
		target := c.Target
		if target == "" {
			target = c.Source
		}
		if !path.IsAbs(target) {
			target = "/" + target
		}
		out = append(out, fileObject{"configs", types.FileReferenceConfig(c), types.FileObjectConfig(p.Configs[c.Source]), target})
	}
	return out
}

// fileContent is a secret or config with its value read.
type fileContent struct {
	fileObject
	data []byte
}

// readFiles reads the values of the service's secrets and configs.
func readFiles(p *types.Project, svc types.ServiceConfig) ([]fileContent, error) {
	var out []fileContent
	for _, o := range serviceFileObjects(p, svc) {
		data, err := o.content(p)
		if err != nil {
			return nil, fmt.Errorf("service %s: %s %s: %w", svc.Name, o.kind[:len(o.kind)-1], o.ref.Source, err)
		}
		out = append(out, fileContent{o, data})
	}
	return out, nil
}

// secretMounts writes a service's secrets and configs (read once, by
// resolve) to the project's tmpfs and returns read-only binds of them.
func (a *App) secretMounts(project, service string, files []fileContent) ([]model.Mount, error) {
	var list []secret.File
	for i, f := range files {
		var mode *uint32
		if f.ref.Mode != nil {
			m := uint32(*f.ref.Mode)
			mode = &m
		}
		list = append(list, secret.File{Service: service, Kind: f.kind, Index: i, Source: f.ref.Source,
			Data: f.data, UID: f.ref.UID, GID: f.ref.GID, Mode: mode})
	}
	paths, err := a.secretFS().Write(project, list)
	if err != nil {
		return nil, err
	}
	var out []model.Mount
	for i, path := range paths {
		out = append(out, model.Mount{Type: model.Bind, Source: path, Target: files[i].target, ReadOnly: true})
	}
	return out, nil
}

// content reads the object's value from its file, environment variable or
// inline content.
func (o fileObject) content(p *types.Project) ([]byte, error) {
	switch {
	case o.obj.Content != "":
		return []byte(o.obj.Content), nil
	case o.obj.Environment != "":
		v, ok := p.Environment[o.obj.Environment]
		if !ok {
			return nil, fmt.Errorf("environment variable %s is not set", o.obj.Environment)
		}
		return []byte(v), nil
	case o.obj.File != "":
		st, err := os.Stat(o.obj.File)
		if err != nil {
			return nil, err
		}
		if !st.Mode().IsRegular() {
			return nil, fmt.Errorf("file %s is not a regular file", o.obj.File)
		}
		return os.ReadFile(o.obj.File)
	}
	return nil, errors.New("no file, environment or content")
}

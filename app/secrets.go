package app

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/gocompose/gocompose/internal/mounts"
	"github.com/gocompose/gocompose/model"
	"golang.org/x/sys/unix"
)

// Secrets and configs are copied to a tmpfs of the project's own under the
// state directory (/run/gocompose/secrets/<project>, 0700, never on disk),
// each file with its uid, gid and mode, and bind-mounted read-only into
// the container: secrets at /run/secrets/<name>, configs at /<name>, or
// at target.

// defaultFileMode is Docker Compose's mode for secrets and configs.
const defaultFileMode = 0o444

func (a *App) secretsDir(project string) string {
	return filepath.Join(a.StateDir, "secrets", project)
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
	if len(files) == 0 {
		return nil, nil
	}
	a.mountMu.Lock()
	defer a.mountMu.Unlock()
	root, err := a.mountSecretsFS(project)
	if err != nil {
		return nil, err
	}
	var out []model.Mount
	for i, f := range files {
		dir := filepath.Join(root, service, f.kind)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("service %s: %w", service, err)
		}
		file := filepath.Join(dir, strconv.Itoa(i)+"-"+f.ref.Source)
		if err := writeOwned(file, f.data, f.ref); err != nil {
			return nil, fmt.Errorf("service %s: %s %s: %w", service, f.kind[:len(f.kind)-1], f.ref.Source, err)
		}
		out = append(out, model.Mount{Type: model.Bind, Source: file, Target: f.target, ReadOnly: true})
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

// writeOwned writes data to file through a temporary name, with the
// reference's uid, gid and mode (Docker Compose's defaults: root, 0444).
func writeOwned(file string, data []byte, ref types.FileReferenceConfig) error {
	mode := os.FileMode(defaultFileMode)
	if ref.Mode != nil {
		mode = os.FileMode(*ref.Mode) & os.ModePerm
	}
	uid, gid := 0, 0
	if ref.UID != "" {
		uid, _ = strconv.Atoi(ref.UID)
	}
	if ref.GID != "" {
		gid, _ = strconv.Atoi(ref.GID)
	}
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	if err := os.Chown(tmp, uid, gid); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Chmod(tmp, mode); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, file)
}

// mountSecretsFS makes the project's secrets directory a tmpfs (0700) if it
// is not one yet, so secret values never reach a disk.
func (a *App) mountSecretsFS(project string) (string, error) {
	dir := a.secretsDir(project)
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return "", fmt.Errorf("secrets: %w", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("secrets: %w", err)
	}
	mounted, err := mounts.IsMountpoint(dir)
	if err != nil {
		return "", fmt.Errorf("secrets: %w", err)
	}
	if !mounted {
		if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0700,size=64m"); err != nil {
			return "", fmt.Errorf("secrets: mount tmpfs on %s: %w", dir, err)
		}
	}
	return dir, nil
}

// removeSecrets unmounts and removes the project's secrets tmpfs.
func (a *App) removeSecrets(project string) error {
	dir := a.secretsDir(project)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := mounts.UnmountAll(dir); err != nil {
		return fmt.Errorf("secrets: %w", err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("secrets: %w", err)
	}
	return nil
}

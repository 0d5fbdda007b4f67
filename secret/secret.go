// Package secret keeps a project's secrets and configs on a tmpfs of the
// project's own (STATE/secrets/<project>, 0700, never on disk), each file
// with its uid, gid and mode, for read-only binds into its containers.
package secret

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/gocompose/gocompose/internal/mounts"
	"golang.org/x/sys/unix"
)

// DefaultMode is Docker Compose's mode for secrets and configs.
const DefaultMode = 0o444

// File is one secret or config value to write.
type File struct {
	Service string // the service mounting it
	Kind    string // "secrets" or "configs"
	Index   int    // its position among the service's files, for a unique name
	Source  string // its name in the compose file
	Data    []byte
	UID     string // "" for root
	GID     string
	Mode    *uint32 // nil for DefaultMode
}

// FS is the secrets tmpfs of every project under Dir (STATE/secrets).
type FS struct {
	Dir string
	// DryRun writes nothing (gocompose --dry-run): Write returns the paths
	// the files would have, Remove does nothing.
	DryRun bool
	mu     sync.Mutex // serialises the tmpfs mounts and writes
}

// ProjectDir is a project's secrets directory.
func (f *FS) ProjectDir(project string) string { return filepath.Join(f.Dir, project) }

// Mounted says whether the project's tmpfs is there (a reboot takes it).
func (f *FS) Mounted(project string) bool {
	ok, err := mounts.IsMountpoint(f.ProjectDir(project))
	return err == nil && ok
}

// Write puts the files on the project's tmpfs, mounting it first if need
// be, and returns their host paths in order.
func (f *FS) Write(project string, files []File) ([]string, error) {
	if len(files) == 0 {
		return nil, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	root := f.ProjectDir(project)
	if !f.DryRun {
		var err error
		if root, err = f.mount(project); err != nil {
			return nil, err
		}
	}
	var out []string
	for _, x := range files {
		dir := filepath.Join(root, x.Service, x.Kind)
		file := filepath.Join(dir, strconv.Itoa(x.Index)+"-"+x.Source)
		if f.DryRun {
			out = append(out, file)
			continue
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("service %s: %w", x.Service, err)
		}
		if err := writeOwned(file, x); err != nil {
			return nil, fmt.Errorf("service %s: %s %s: %w", x.Service, x.Kind[:len(x.Kind)-1], x.Source, err)
		}
		out = append(out, file)
	}
	return out, nil
}

// mount makes the project's directory a tmpfs (0700) if it is not one yet.
func (f *FS) mount(project string) (string, error) {
	dir := f.ProjectDir(project)
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

// writeOwned writes the file through a temporary name with its uid, gid
// and mode (Docker Compose's defaults: root, 0444). A uid or gid that is
// not a number is an error, not root.
func writeOwned(file string, x File) error {
	mode := os.FileMode(DefaultMode)
	if x.Mode != nil {
		mode = os.FileMode(*x.Mode) & os.ModePerm
	}
	uid, gid := 0, 0
	var err error
	if x.UID != "" {
		if uid, err = strconv.Atoi(x.UID); err != nil {
			return fmt.Errorf("uid %q is not a number", x.UID)
		}
	}
	if x.GID != "" {
		if gid, err = strconv.Atoi(x.GID); err != nil {
			return fmt.Errorf("gid %q is not a number", x.GID)
		}
	}
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, x.Data, 0o600); err != nil {
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

// Remove unmounts and removes the project's secrets tmpfs.
func (f *FS) Remove(project string) error {
	if f.DryRun {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	dir := f.ProjectDir(project)
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

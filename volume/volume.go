// Package volume is the store of named volumes on the host, as Docker's
// local driver keeps them: one directory per volume with its data in _data
// and its record in meta.json; driver_opts volumes (a bind of a host
// directory, or a tmpfs) mounted on _data; anonymous volumes named by
// container and target, and detached under a fresh name when their
// container goes.
package volume

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/gocompose/gocompose/internal/mounts"
)

// ErrNotFound is returned for a volume that does not exist.
var ErrNotFound = errors.New("no such volume")

// Meta is what meta.json beside a volume's _data records.
type Meta struct {
	Name       string            `json:"name"`
	Project    string            `json:"project,omitempty"`
	Volume     string            `json:"volume,omitempty"` // the key in the compose file
	Labels     map[string]string `json:"labels,omitempty"`
	DriverOpts map[string]string `json:"driver_opts,omitempty"`
	Anonymous  bool              `json:"anonymous,omitempty"`
}

// Store keeps the volumes under Dir (ROOT/volumes).
type Store struct {
	Dir string
	// DryRun reads the volumes but changes none (gocompose --dry-run):
	// Ensure says what it would create, the rest do nothing.
	DryRun bool
	mu     sync.Mutex // serialises creates and driver_opts mounts
}

// DataDir is where a volume's data lives, like Docker's local driver.
func (s *Store) DataDir(name string) string { return filepath.Join(s.Dir, name, "_data") }

// Get reads a volume's record; a missing volume is ErrNotFound.
func (s *Store) Get(name string) (Meta, error) {
	var m Meta
	b, err := os.ReadFile(filepath.Join(s.Dir, name, "meta.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return m, fmt.Errorf("volume %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return m, fmt.Errorf("volume %s: %w", name, err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("volume %s: meta.json: %w", name, err)
	}
	return m, nil
}

// Ensure makes the volume unless it exists, and says whether it made it.
func (s *Store) Ensure(m Meta) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.Get(m.Name); err == nil {
		return false, nil
	} else if !errors.Is(err, ErrNotFound) {
		return false, err
	}
	if s.DryRun {
		return true, nil
	}
	return true, s.create(m)
}

// create makes the volume's directory and meta.json; the meta file is
// written last, through a temporary name, so a volume either is listed
// whole or not at all.
func (s *Store) create(m Meta) error {
	dir := s.DataDir(m.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("volume %s: %w", m.Name, err)
	}
	return s.writeMeta(m)
}

func (s *Store) writeMeta(m Meta) error {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("volume %s: %w", m.Name, err)
	}
	dir := filepath.Join(s.Dir, m.Name)
	tmp, err := os.CreateTemp(dir, ".meta-*")
	if err != nil {
		return fmt.Errorf("volume %s: %w", m.Name, err)
	}
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, "meta.json"))
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("volume %s: %w", m.Name, err)
	}
	return nil
}

// Mount mounts what the volume's driver_opts ask for on its _data (nothing
// for a plain volume, or when it is mounted already).
func (s *Store) Mount(m Meta) error {
	if len(m.DriverOpts) == 0 || s.DryRun {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := mountDriverOpts(s.DataDir(m.Name), m.DriverOpts); err != nil {
		return fmt.Errorf("volume %s: %w", m.Name, err)
	}
	return nil
}

// Unmount detaches what is mounted on the volume's _data.
func (s *Store) Unmount(name string) error {
	if s.DryRun {
		return nil
	}
	return mounts.UnmountAll(s.DataDir(name))
}

// Delete unmounts what driver_opts mounted on the volume, then removes its
// directory. It refuses while anything is still mounted there: removing
// through a bind mount would delete the host directory's files.
func (s *Store) Delete(name string) error {
	if s.DryRun {
		return nil
	}
	dir := s.DataDir(name)
	if err := mounts.UnmountAll(dir); err != nil {
		return fmt.Errorf("remove volume %s: %w", name, err)
	}
	if m, err := s.Get(name); err == nil && len(m.DriverOpts) > 0 {
		// The data lived on the mount (a host directory or a tmpfs);
		// what is left must be the empty mount point, so nothing is
		// removed recursively.
		if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove volume %s: %w", name, err)
		}
	}
	if err := os.RemoveAll(filepath.Dir(dir)); err != nil {
		return fmt.Errorf("remove volume %s: %w", name, err)
	}
	return nil
}

// List returns every volume's record, by name; a record that does not
// read is an error naming it.
func (s *Store) List() ([]Meta, error) {
	files, err := filepath.Glob(filepath.Join(s.Dir, "*", "meta.json"))
	if err != nil {
		return nil, err
	}
	var out []Meta
	var errs []error
	for _, f := range files {
		m, err := s.Get(filepath.Base(filepath.Dir(f)))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(x, y Meta) int { return strings.Compare(x.Name, y.Name) })
	return out, errors.Join(errs...)
}

// NameOf is the volume a _data directory belongs to ("" for another path).
func (s *Store) NameOf(dataDir string) string {
	if filepath.Base(dataDir) != "_data" || filepath.Dir(filepath.Dir(dataDir)) != filepath.Clean(s.Dir) {
		return ""
	}
	return filepath.Base(filepath.Dir(dataDir))
}

// AnonymousName names the anonymous volume a container mounts at target.
// The name is fixed by container and target, so a recreated container
// gets its predecessor's data back, as Docker Compose carries anonymous
// volumes over (up -V renews them).
func AnonymousName(containerID, target string) string {
	sum := sha256.Sum256([]byte("anonymous\x00" + containerID + "\x00" + target))
	return hex.EncodeToString(sum[:])
}

// Detach keeps an anonymous volume's data under a new random name, so that,
// as with Docker, the next container of that name starts with a fresh one
// while the old data waits for `volume prune`. It returns the new name.
func (s *Store) Detach(m Meta) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("volume %s: %w", m.Name, err)
	}
	old := m.Name
	m.Name = hex.EncodeToString(b)
	if s.DryRun {
		return m.Name, nil
	}
	if err := os.Rename(filepath.Join(s.Dir, old), filepath.Join(s.Dir, m.Name)); err != nil {
		return "", fmt.Errorf("volume %s: %w", old, err)
	}
	return m.Name, s.writeMeta(m)
}

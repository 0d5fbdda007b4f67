// Package cp copies files between a container's root filesystem and the
// host with docker cp's rules, through tar streams made and read by
// moby/go-archive (the code docker cp uses): hard links, device nodes,
// fifos, setuid and setgid bits and the security.capability xattr survive.
// Paths inside the container are resolved with filepath-securejoin, and a
// copy into a container is extracted chrooted to its root, so a symlink in
// the container never leads a copy out of it.
package cp

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/go-archive"
	"github.com/moby/go-archive/chrootarchive"
)

// ErrNotDir is returned when a directory is to be copied onto a file, or
// into a directory that does not exist.
var ErrNotDir = errors.New("not a directory")

// Side is one end of a copy: a root ("/" for the host) and a path in it.
type Side struct {
	Root string
	Path string
}

func (s Side) onHost() bool { return s.Root == "" || s.Root == "/" }

// clean is the path made absolute and cleaned, keeping a trailing "/" or
// "/." (they say "a directory" and "its contents").
func (s Side) clean() (string, error) {
	p := s.Path
	if s.onHost() {
		abs, err := filepath.Abs(p)
		if err != nil {
			return "", err
		}
		return archive.PreserveTrailingDotOrSeparator(abs, p), nil
	}
	return archive.PreserveTrailingDotOrSeparator(filepath.Clean("/"+p), p), nil
}

// resolve joins a path of the container inside its root, every symlink
// resolved there.
func (s Side) resolve(p string) (string, error) {
	r, err := securejoin.SecureJoin(s.Root, p)
	if err != nil {
		return "", err
	}
	return archive.PreserveTrailingDotOrSeparator(r, p), nil
}

// source describes the copy's source on the host: the symlinks before its
// last element resolved (all of them with followLink), and the name the
// copy takes.
func (s Side) source(followLink bool) (archive.CopyInfo, error) {
	p, err := s.clean()
	if err != nil {
		return archive.CopyInfo{}, err
	}
	var info archive.CopyInfo
	if s.onHost() {
		info, err = archive.CopyInfoSourcePath(p, followLink)
	} else {
		info, err = s.containerSource(p, followLink)
	}
	if err != nil {
		return archive.CopyInfo{}, fmt.Errorf("copy from %s: %w", s.Path, err)
	}
	return info, nil
}

func (s Side) containerSource(p string, followLink bool) (archive.CopyInfo, error) {
	var resolved, rebase string
	if followLink {
		r, err := s.resolve(p)
		if err != nil {
			return archive.CopyInfo{}, err
		}
		resolved, rebase = archive.GetRebaseName(p, r)
	} else {
		dir, base := filepath.Split(p)
		r, err := securejoin.SecureJoin(s.Root, dir)
		if err != nil {
			return archive.CopyInfo{}, err
		}
		resolved = r + string(filepath.Separator) + base
		if base == "" { // p ended in "/": the directory itself
			resolved = r + string(filepath.Separator)
		}
	}
	st, err := os.Lstat(resolved)
	if err != nil {
		return archive.CopyInfo{}, err
	}
	return archive.CopyInfo{Path: resolved, Exists: true, IsDir: st.IsDir(), RebaseName: rebase}, nil
}

// destination describes where the copy goes, a symlink as its last element
// followed (inside the root for a container).
func (s Side) destination() (archive.CopyInfo, error) {
	p, err := s.clean()
	if err != nil {
		return archive.CopyInfo{}, err
	}
	if !s.onHost() {
		if p, err = s.resolve(p); err != nil {
			return archive.CopyInfo{}, fmt.Errorf("copy to %s: %w", s.Path, err)
		}
	}
	info, err := archive.CopyInfoDestinationPath(p)
	if err != nil {
		return archive.CopyInfo{}, fmt.Errorf("copy to %s: %w", s.Path, copyErr(err))
	}
	return info, nil
}

// Options of a copy.
type Options struct {
	// Archive keeps the source's uid and gid; otherwise the copies
	// belong to Owner.
	Archive    bool
	OwnerUID   int
	OwnerGID   int
	FollowLink bool // copy what a symlink source points to
}

func (o Options) untar() *archive.TarOptions {
	t := &archive.TarOptions{NoOverwriteDirNonDir: true}
	if !o.Archive {
		t.ChownOpts = &archive.ChownOpts{UID: o.OwnerUID, GID: o.OwnerGID}
	}
	return t
}

// Copy copies src to dst as docker cp does: a file onto a file, or into a
// directory under its name; a directory into an existing directory under
// its name (its contents only when the source ends in "/."), or as a new
// directory when dst does not exist.
func Copy(src, dst Side, o Options) error {
	from, err := src.source(o.FollowLink)
	if err != nil {
		return err
	}
	to, err := dst.destination()
	if err != nil {
		return err
	}
	// The copy is checked against the destination before the source is
	// read: a refused copy starts no tar writer to abandon.
	pr, pw := io.Pipe()
	dir, prepared, err := archive.PrepareArchiveCopy(pr, from, to)
	if err != nil {
		pr.Close()
		return fmt.Errorf("copy to %s: %w", dst.Path, copyErr(err))
	}
	defer prepared.Close()
	go func() {
		content, err := archive.TarResource(from)
		if err == nil {
			_, err = io.Copy(pw, content)
			content.Close()
		}
		pw.CloseWithError(err)
	}()
	if dst.onHost() {
		err = archive.Untar(prepared, dir, o.untar())
	} else {
		err = chrootarchive.UntarWithRoot(prepared, dir, o.untar(), dst.Root)
	}
	if err != nil {
		_, _ = io.Copy(io.Discard, prepared) // let the writer finish
		return fmt.Errorf("copy to %s: %w", dst.Path, err)
	}
	return nil
}

// copyErr adds ErrNotDir to go-archive's errors that mean it.
func copyErr(err error) error {
	switch {
	case errors.Is(err, archive.ErrCannotCopyDir):
		return fmt.Errorf("cannot copy a directory to a file: %w", ErrNotDir)
	case errors.Is(err, archive.ErrDirNotExists):
		return fmt.Errorf("destination directory does not exist: %w", ErrNotDir)
	case errors.Is(err, archive.ErrNotDirectory):
		return fmt.Errorf("the destination's parent is not a directory: %w", ErrNotDir)
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: %w", err, ErrNotDir)
	}
	return err
}

// WriteTar writes src as a tar stream (docker cp SERVICE:SRC -), named by
// its base name (or the link's name with followLink).
func WriteTar(src Side, w io.Writer, followLink bool) error {
	from, err := src.source(followLink)
	if err != nil {
		return err
	}
	content, err := archive.TarResource(from)
	if err != nil {
		return fmt.Errorf("copy from %s: %w", src.Path, err)
	}
	defer content.Close()
	_, err = io.Copy(w, content)
	return err
}

// WriteTarContents writes what the directory dir holds as a tar stream with
// names relative to it (an exported root filesystem).
func WriteTarContents(dir string, w io.Writer) error {
	content, err := archive.TarWithOptions(dir, &archive.TarOptions{})
	if err != nil {
		return err
	}
	defer content.Close()
	_, err = io.Copy(w, content)
	return err
}

// ReadTar extracts a tar stream into the directory dst (docker cp -
// SERVICE:DEST), chrooted to dst's root.
func ReadTar(r io.Reader, dst Side, o Options) error {
	to, err := dst.destination()
	if err != nil {
		return err
	}
	if !to.Exists || !to.IsDir {
		return fmt.Errorf("copy to %s: destination must be an existing directory: %w", dst.Path, ErrNotDir)
	}
	if dst.onHost() {
		err = archive.Untar(r, to.Path, o.untar())
	} else {
		err = chrootarchive.UntarWithRoot(r, to.Path, o.untar(), dst.Root)
	}
	if err != nil {
		return fmt.Errorf("copy to %s: %w", dst.Path, err)
	}
	return nil
}

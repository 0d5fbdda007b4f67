// Package cp copies files between a container's root filesystem and the
// host with docker cp's rules. Paths inside the container are resolved with
// filepath-securejoin, so a symlink in the container never leads a copy out
// of its root.
package cp

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
)

// ErrNotDir is returned when a directory is to be copied onto a file, or
// into a directory that does not exist.
var ErrNotDir = errors.New("not a directory")

// Side is one end of a copy: a root ("/" for the host) and a path in it.
type Side struct {
	Root string
	Path string
}

// resolve finds the path on the host, symlinks resolved inside the root.
func (s Side) resolve() (string, error) {
	if s.Root == "" || s.Root == "/" {
		return filepath.Abs(s.Path)
	}
	return securejoin.SecureJoin(s.Root, s.Path)
}

// resolveSource is resolve except that a symlink as the last component is
// kept (copied as a link) unless followLink.
func (s Side) resolveSource(followLink bool) (string, error) {
	base := filepath.Base(s.Path)
	if followLink || base == "." || base == "/" || s.Root == "" || s.Root == "/" {
		return s.resolve()
	}
	dir, err := Side{Root: s.Root, Path: filepath.Dir(s.Path)}.resolve()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, base), nil
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

// Copy copies src to dst as docker cp does: a file onto a file, or into a
// directory under its name; a directory into an existing directory under
// its name (its contents only when the source ends in "/."), or as a new
// directory when dst does not exist.
func Copy(src, dst Side, o Options) error {
	from, err := src.resolveSource(o.FollowLink)
	if err != nil {
		return err
	}
	st, err := stat(from, o.FollowLink)
	if err != nil {
		return fmt.Errorf("copy from %s: %w", src.Path, err)
	}
	to, err := dst.resolve()
	if err != nil {
		return err
	}
	dstSt, dstErr := os.Stat(to)
	switch {
	case !st.IsDir():
		if dstErr == nil && dstSt.IsDir() {
			to = filepath.Join(to, filepath.Base(from))
		} else if dstErr != nil && strings.HasSuffix(dst.Path, "/") {
			return fmt.Errorf("copy to %s: destination directory does not exist: %w", dst.Path, ErrNotDir)
		}
	case dstErr == nil && !dstSt.IsDir():
		return fmt.Errorf("copy to %s: cannot copy a directory to a file: %w", dst.Path, ErrNotDir)
	case dstErr == nil && !contentsOnly(src.Path):
		to = filepath.Join(to, filepath.Base(from))
	}
	if dstErr != nil && !errors.Is(dstErr, fs.ErrNotExist) {
		return fmt.Errorf("copy to %s: %w", dst.Path, dstErr)
	}
	if _, err := os.Stat(filepath.Dir(to)); err != nil {
		return fmt.Errorf("copy to %s: %w", dst.Path, err)
	}
	if dst.Root != "" && dst.Root != "/" {
		// Re-resolve the final name in the destination root: it may be
		// an existing symlink.
		rel, err := filepath.Rel(dst.Root, to)
		if err != nil {
			return err
		}
		if to, err = securejoin.SecureJoin(dst.Root, rel); err != nil {
			return err
		}
	}
	return copyTree(from, to, st, o)
}

func contentsOnly(p string) bool {
	return strings.HasSuffix(p, "/.") || p == "."
}

func stat(p string, follow bool) (fs.FileInfo, error) {
	if follow {
		return os.Stat(p)
	}
	return os.Lstat(p)
}

// copyTree copies from (a file, symlink or directory) to to.
func copyTree(from, to string, top fs.FileInfo, o Options) error {
	return walkTree(from, top, func(p, rel string, info fs.FileInfo) error {
		return copyEntry(p, filepath.Join(to, rel), info, o)
	})
}

// walkTree calls fn for from and, when it is a directory, everything below
// it, with the path relative to from; symlinks below the top are not
// followed.
func walkTree(from string, top fs.FileInfo, fn func(p, rel string, info fs.FileInfo) error) error {
	if !top.IsDir() {
		return fn(from, ".", top)
	}
	return filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if p == from {
			info = top
		} else if err != nil {
			return err
		}
		return fn(p, rel, info)
	})
}

func copyEntry(from, to string, info fs.FileInfo, o Options) error {
	mode := info.Mode()
	switch {
	case mode.IsDir():
		if err := os.Mkdir(to, mode.Perm()); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	case mode&fs.ModeSymlink != 0:
		target, err := os.Readlink(from)
		if err != nil {
			return err
		}
		_ = os.Remove(to)
		if err := os.Symlink(target, to); err != nil {
			return err
		}
		uid, gid := owner(info, o)
		return os.Lchown(to, uid, gid)
	case mode.IsRegular():
		if err := copyFile(from, to, mode.Perm()); err != nil {
			return err
		}
	default:
		return nil // devices, fifos and sockets are not copied
	}
	uid, gid := owner(info, o)
	if err := os.Lchown(to, uid, gid); err != nil {
		return err
	}
	if err := os.Chmod(to, mode.Perm()|mode&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
		return err
	}
	return os.Chtimes(to, time.Now(), info.ModTime())
}

func owner(info fs.FileInfo, o Options) (int, int) {
	if o.Archive {
		if st, ok := sysStat(info); ok {
			return int(st.Uid), int(st.Gid)
		}
	}
	return o.OwnerUID, o.OwnerGID
}

func copyFile(from, to string, perm fs.FileMode) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// WriteTar writes src as a tar stream (docker cp SERVICE:SRC -), named by
// its base name.
func WriteTar(src Side, w io.Writer, followLink bool) error {
	from, err := src.resolveSource(followLink)
	if err != nil {
		return err
	}
	top, err := stat(from, followLink)
	if err != nil {
		return fmt.Errorf("copy from %s: %w", src.Path, err)
	}
	return writeTar(w, from, top, filepath.Base(from))
}

// WriteTarContents writes what the directory dir holds as a tar stream with
// names relative to it (an exported root filesystem).
func WriteTarContents(dir string, w io.Writer) error {
	top, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	return writeTar(w, dir, top, "")
}

// writeTar writes the tree at from, each entry named prefix/relative path
// (the top itself is left out when prefix is empty).
func writeTar(w io.Writer, from string, top fs.FileInfo, prefix string) error {
	tw := tar.NewWriter(w)
	err := walkTree(from, top, func(p, rel string, info fs.FileInfo) error {
		name := filepath.Join(prefix, rel)
		if name == "." {
			return nil
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			link = target
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(name)
		if info.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			f.Close()
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// ReadTar extracts a tar stream into the directory dst (docker cp -
// SERVICE:DEST), every name resolved inside dst's root.
func ReadTar(r io.Reader, dst Side, o Options) error {
	dir, err := dst.resolve()
	if err != nil {
		return err
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("copy to %s: destination must be an existing directory: %w", dst.Path, ErrNotDir)
	}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		to, err := securejoin.SecureJoin(dir, hdr.Name)
		if err != nil {
			return err
		}
		info := hdr.FileInfo()
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(to, info.Mode().Perm()); err != nil {
				return err
			}
		case tar.TypeSymlink:
			_ = os.Remove(to)
			if err := os.Symlink(hdr.Linkname, to); err != nil {
				return err
			}
		case tar.TypeReg:
			out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, info.Mode().Perm())
			if err != nil {
				return err
			}
			if _, err := io.Copy(out, tr); err != nil {
				out.Close()
				return err
			}
			if err := out.Close(); err != nil {
				return err
			}
		default:
			continue
		}
		uid, gid := o.OwnerUID, o.OwnerGID
		if o.Archive {
			uid, gid = hdr.Uid, hdr.Gid
		}
		if err := os.Lchown(to, uid, gid); err != nil {
			return err
		}
		if hdr.Typeflag != tar.TypeSymlink {
			if err := os.Chmod(to, info.Mode().Perm()); err != nil {
				return err
			}
		}
	}
}

// Package mounts answers whether something is mounted on a directory and
// unmounts all of it, by the kernel's mount table.
package mounts

import (
	"errors"
	"fmt"
	"os"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// IsMountpoint says whether something is mounted on dir, by the kernel's
// mount table: a bind of a directory on the same filesystem keeps its
// device number, so comparing st_dev with the parent is not enough.
func IsMountpoint(dir string) (bool, error) {
	if _, err := os.Stat(dir); err != nil {
		return false, err
	}
	return mountinfo.Mounted(dir)
}

// UnmountAll detaches every mount stacked on dir; a missing dir is fine.
// It fails rather than return while something is still mounted there.
func UnmountAll(dir string) error {
	for range 16 {
		mounted, err := IsMountpoint(dir)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if !mounted {
			return nil
		}
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("unmount %s: %w", dir, err)
		}
	}
	return fmt.Errorf("unmount %s: still mounted", dir)
}

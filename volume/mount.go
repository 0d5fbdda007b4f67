package volume

import (
	"fmt"
	"os"
	"strings"

	"github.com/gocompose/gocompose/internal/mounts"
	"golang.org/x/sys/unix"
)

// mountFlags are the options of mount(8) that are flags, not data.
var mountFlags = map[string]uintptr{
	"ro": unix.MS_RDONLY, "rw": 0, "bind": unix.MS_BIND, "rbind": unix.MS_BIND | unix.MS_REC,
	"nosuid": unix.MS_NOSUID, "nodev": unix.MS_NODEV, "noexec": unix.MS_NOEXEC,
	"sync": unix.MS_SYNCHRONOUS, "noatime": unix.MS_NOATIME, "nodiratime": unix.MS_NODIRATIME,
	"relatime": unix.MS_RELATIME, "strictatime": unix.MS_STRICTATIME,
	"suid": 0, "dev": 0, "exec": 0, "async": 0, "atime": 0, "defaults": 0,
}

// parseMountOptions splits an "o" driver option into flags and the data
// string the filesystem reads (size=, mode=, uid= ...).
func parseMountOptions(o string) (uintptr, string) {
	var flags uintptr
	var data []string
	for _, opt := range strings.Split(o, ",") {
		if opt == "" {
			continue
		}
		if f, ok := mountFlags[opt]; ok {
			flags |= f
			continue
		}
		data = append(data, opt)
	}
	return flags, strings.Join(data, ",")
}

// mountDriverOpts mounts a local-driver volume with driver_opts on its _data
// directory, as Docker's local driver runs mount -t TYPE -o O DEVICE: a
// bind of a host directory (type none, o bind) or a tmpfs. Nothing is
// done when something is mounted there already.
func mountDriverOpts(dir string, opts map[string]string) error {
	mounted, err := mounts.IsMountpoint(dir)
	if err != nil {
		return err
	}
	if mounted {
		return nil
	}
	typ, device := opts["type"], opts["device"]
	flags, data := parseMountOptions(opts["o"])
	switch {
	case typ == "tmpfs":
		if device == "" {
			device = "tmpfs"
		}
		if err := unix.Mount(device, dir, "tmpfs", flags, data); err != nil {
			return fmt.Errorf("mount tmpfs (o=%s): %w", opts["o"], err)
		}
	case flags&unix.MS_BIND != 0:
		st, err := os.Stat(device)
		if err != nil {
			return fmt.Errorf("driver_opts device: %w", err)
		}
		if !st.IsDir() {
			return fmt.Errorf("driver_opts device %s is not a directory", device)
		}
		if err := unix.Mount(device, dir, "", flags&(unix.MS_BIND|unix.MS_REC), ""); err != nil {
			return fmt.Errorf("bind %s: %w", device, err)
		}
		if rest := flags &^ (unix.MS_BIND | unix.MS_REC); rest != 0 {
			if err := unix.Mount("", dir, "", unix.MS_REMOUNT|unix.MS_BIND|rest, ""); err != nil {
				_ = unix.Unmount(dir, unix.MNT_DETACH)
				return fmt.Errorf("remount %s (o=%s): %w", device, opts["o"], err)
			}
		}
	default:
		return fmt.Errorf("driver_opts type %q with o %q: only bind (type none, o bind) and tmpfs volumes are supported", typ, opts["o"])
	}
	return nil
}

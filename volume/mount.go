package volume

import (
	"errors"
	"fmt"
	"net"
	"net/url"
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
// bind of a host directory (type none, o bind), a tmpfs, or any filesystem
// the kernel mounts (nfs, cifs, ext4 on a device, overlay…). Nothing is
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
		// Any other filesystem, as Docker's local driver mounts it:
		// mount(DEVICE, _data, TYPE, O), an nfs server's name in addr=
		// or a cifs server's in the device resolved first.
		if device == "" {
			return errors.New("missing device in volume options")
		}
		device, data, err := resolveMountAddress(typ, device, data)
		if err != nil {
			return err
		}
		if err := unix.Mount(device, dir, typ, flags, data); err != nil {
			return fmt.Errorf("failed to mount local volume: mount %s on %s (type %s, o=%s): %w", device, dir, typ, maskPassword(opts["o"]), err)
		}
	}
	return nil
}

// resolveMountAddress resolves the server's name as Docker's local driver
// does: nfs's addr= option, a cifs device's host (//server/share).
func resolveMountAddress(typ, device, data string) (string, string, error) {
	switch typ {
	case "nfs", "nfs4":
		for _, opt := range strings.Split(data, ",") {
			addr, ok := strings.CutPrefix(opt, "addr=")
			if !ok || net.ParseIP(addr) != nil {
				continue
			}
			ip, err := net.ResolveIPAddr("ip", addr)
			if err != nil {
				return "", "", fmt.Errorf("error resolving passed in network volume address: %w", err)
			}
			data = strings.Replace(data, opt, "addr="+ip.String(), 1)
		}
	case "cifs":
		u, err := url.Parse(device)
		if err != nil {
			return "", "", fmt.Errorf("error parsing mount device url: %w", err)
		}
		if u.Host != "" && net.ParseIP(u.Hostname()) == nil {
			ip, err := net.ResolveIPAddr("ip", u.Hostname())
			if err != nil {
				return "", "", fmt.Errorf("error resolving passed in network volume address: %w", err)
			}
			u.Host = ip.String()
			if device, err = url.QueryUnescape(u.String()); err != nil {
				return "", "", fmt.Errorf("error resolving passed in network volume address: %w", err)
			}
		}
	}
	return device, data, nil
}

// maskPassword hides a password= option in what an error shows.
func maskPassword(o string) string {
	opts := strings.Split(o, ",")
	for i, opt := range opts {
		if strings.HasPrefix(opt, "password=") {
			opts[i] = "password=********"
		}
	}
	return strings.Join(opts, ",")
}

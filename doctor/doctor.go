// Package doctor checks, before anything is run, that a host has what
// gocompose needs: kernel features, cgroup controllers, netfilter, CNI
// plugins, containerd, runc, buildkitd, disk and the DNS port. Each check
// reads the host through Host, so tests can make any of them fail.
package doctor

import (
	"bufio"
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Status of one check.
type Status string

// The statuses, worst last.
const (
	Pass Status = "pass"
	Warn Status = "warn"
	Fail Status = "fail"
)

// Result is one check's outcome; Fix says what to do when it is not a pass.
type Result struct {
	Check  string `json:"check"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// Host is what the checks read.
type Host struct {
	Proc, Sys string // where procfs and sysfs are mounted
	Euid      int
	LookPath  func(file string) (string, error)
	CNIPaths  []string
	// BesidePaths are looked in, before PATH, for buildkitd and gocompose's
	// helper executables (the gocompose binary's directory).
	BesidePaths []string
	// LoggerPaths are looked in for gocompose-logger (beside the gocompose
	// binary, where gocompose looks for it).
	LoggerPaths []string
	DataRoot    string
	// FreeBytes is the space left for unprivileged use under a path.
	FreeBytes func(path string) (uint64, error)
	// Netfilter lists a table of the host's iptables (or says why not).
	Netfilter func() error
	// Containerd answers the version of the containerd at the address
	// gocompose would use (address says which).
	Containerd func(ctx context.Context) (version, address string, err error)
}

// Required disk: below the first a check fails, below the second it warns.
const (
	diskFail = 1 << 30
	diskWarn = 5 << 30
)

// Run runs every check, in a fixed order.
func Run(ctx context.Context, h Host) []Result {
	return []Result{
		h.root(), h.kernel(), h.cgroups(), h.overlay(), h.netfilter(), h.forwarding(),
		h.cni(), h.containerd(ctx), h.runc(), h.buildkitd(), h.helper("build-helper", "gocompose-build", "services with build: cannot be built"),
		h.helper("bridge-helper", "gocompose-bridge", "bridge convert cannot convert"), h.logDriver(), h.disk(), h.dnsPort(), h.userns(),
	}
}

// Failed says whether a required check failed.
func Failed(rs []Result) bool {
	return slices.ContainsFunc(rs, func(r Result) bool { return r.Status == Fail })
}

func (h Host) read(parts ...string) (string, error) {
	b, err := os.ReadFile(filepath.Join(parts...))
	return strings.TrimSpace(string(b)), err
}

func (h Host) root() Result {
	if h.Euid != 0 {
		return Result{"root", Fail, fmt.Sprintf("running as uid %d", h.Euid), "run gocompose as root (it makes network namespaces, bridges and mounts)"}
	}
	return Result{"root", Pass, "running as root", ""}
}

func (h Host) kernel() Result {
	rel, err := h.read(h.Proc, "sys/kernel/osrelease")
	if err != nil {
		return Result{"kernel", Fail, "cannot read the kernel release: " + err.Error(), "mount procfs at /proc"}
	}
	major, minor := 0, 0
	fmt.Sscanf(rel, "%d.%d", &major, &minor)
	if major < 4 || major == 4 && minor < 18 {
		return Result{"kernel", Fail, "Linux " + rel, "use Linux 4.18 or later (overlayfs, cgroup and netfilter features containerd needs)"}
	}
	return Result{"kernel", Pass, "Linux " + rel, ""}
}

// cgroups: v2 lists its controllers in cgroup.controllers; v1 mounts one
// hierarchy per controller (hybrid hosts have both: v1 is what runs).
func (h Host) cgroups() Result {
	if ctrls, err := h.read(h.Sys, "fs/cgroup/cgroup.controllers"); err == nil {
		have := strings.Fields(ctrls)
		var missing []string
		for _, c := range []string{"cpu", "memory", "pids"} {
			if !slices.Contains(have, c) {
				missing = append(missing, c)
			}
		}
		if len(missing) > 0 {
			return Result{"cgroups", Fail, "cgroup v2 without " + strings.Join(missing, ", "), "enable the controllers (kernel command line, or cgroup.subtree_control of the root)"}
		}
		return Result{"cgroups", Pass, "cgroup v2: " + ctrls, ""}
	}
	mounts, err := h.read(h.Proc, "self/mounts")
	if err != nil {
		return Result{"cgroups", Fail, "cannot read mounts: " + err.Error(), "mount procfs at /proc"}
	}
	have := map[string]bool{}
	for _, l := range strings.Split(mounts, "\n") {
		f := strings.Fields(l)
		if len(f) >= 4 && f[2] == "cgroup" {
			for _, o := range strings.Split(f[3], ",") {
				have[o] = true
			}
		}
	}
	var missing []string
	for _, c := range []string{"cpu", "cpuacct", "memory", "devices", "freezer", "pids"} {
		if !have[c] {
			missing = append(missing, c)
		}
	}
	if len(missing) == 6 {
		return Result{"cgroups", Fail, "no cgroup hierarchy is mounted", "mount cgroup2 at /sys/fs/cgroup (or the v1 hierarchies)"}
	}
	if len(missing) > 0 {
		return Result{"cgroups", Fail, "cgroup v1 without " + strings.Join(missing, ", "), "mount the missing v1 hierarchies under /sys/fs/cgroup"}
	}
	return Result{"cgroups", Pass, "cgroup v1: cpu, cpuacct, memory, devices, freezer, pids", ""}
}

func (h Host) overlay() Result {
	fs, err := h.read(h.Proc, "filesystems")
	if err == nil {
		for _, l := range strings.Split(fs, "\n") {
			if f := strings.Fields(l); len(f) > 0 && f[len(f)-1] == "overlay" {
				return Result{"overlayfs", Pass, "overlay filesystem available", ""}
			}
		}
	}
	return Result{"overlayfs", Fail, "the kernel offers no overlay filesystem", "modprobe overlay (containerd's snapshotter needs it)"}
}

func (h Host) netfilter() Result {
	if err := h.Netfilter(); err != nil {
		return Result{"netfilter", Fail, "iptables: " + err.Error(), "install iptables (Debian: apt-get install iptables)"}
	}
	return Result{"netfilter", Pass, "iptables answers (nat table)", ""}
}

func (h Host) forwarding() Result {
	v, err := h.read(h.Proc, "sys/net/ipv4/ip_forward")
	if err != nil || v != "1" {
		return Result{"ip_forward", Warn, "net.ipv4.ip_forward is " + cmp.Or(v, "unreadable"), "the bridge plugin turns it on with the first network; to keep it: sysctl -w net.ipv4.ip_forward=1 (and in /etc/sysctl.d)"}
	}
	return Result{"ip_forward", Pass, "net.ipv4.ip_forward = 1", ""}
}

func (h Host) cni() Result {
	var missing []string
	// The firewall plugin is only run for networks recorded by older
	// builds; isolation is per-network rules now.
	for _, p := range []string{"bridge", "host-local", "portmap"} {
		found := false
		for _, dir := range h.CNIPaths {
			if fi, err := os.Stat(filepath.Join(dir, p)); err == nil && fi.Mode()&0o111 != 0 {
				found = true
			}
		}
		if !found {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return Result{"cni-plugins", Fail, "missing in " + strings.Join(h.CNIPaths, ":") + ": " + strings.Join(missing, ", "), "install the CNI plugins (Debian: apt-get install containernetworking-plugins) or pass --cni-path"}
	}
	return Result{"cni-plugins", Pass, "bridge, host-local, portmap in " + strings.Join(h.CNIPaths, ":"), ""}
}

func (h Host) containerd(ctx context.Context) Result {
	v, addr, err := h.Containerd(ctx)
	if err != nil {
		if _, lerr := h.LookPath("containerd"); lerr == nil {
			return Result{"containerd", Warn, "none answers at " + addr + " (" + err.Error() + ")",
				"gocompose starts its own private containerd when the system one does not answer (a host whose projects are on the system one needs it started: systemctl start containerd)"}
		}
		return Result{"containerd", Fail, "none answers at " + addr + " and no containerd binary is installed", "install containerd 1.6 or later (Debian: apt-get install containerd)"}
	}
	major, minor := 0, 0
	fmt.Sscanf(strings.TrimPrefix(v, "v"), "%d.%d", &major, &minor)
	if major < 1 || major == 1 && minor < 6 {
		return Result{"containerd", Fail, "containerd " + v + " at " + addr, "upgrade containerd to 1.6 or later"}
	}
	return Result{"containerd", Pass, "containerd " + v + " at " + addr, ""}
}

func (h Host) runc() Result {
	p, err := h.LookPath("runc")
	if err != nil {
		return Result{"runc", Fail, "runc is not on PATH", "install runc (Debian: apt-get install runc)"}
	}
	return Result{"runc", Pass, p, ""}
}

func (h Host) buildkitd() Result {
	if p, ok := h.find("buildkitd"); ok {
		return Result{"buildkitd", Pass, p, ""}
	}
	return Result{"buildkitd", Warn, "no buildkitd beside gocompose or on PATH: services with build: cannot be built", "make buildkitd (it is built from go.mod's pinned version) and put it beside gocompose"}
}

// helper says whether one of gocompose's helper executables (what builds
// or bridge convert run in) is beside gocompose or on PATH.
func (h Host) helper(check, name, needed string) Result {
	if p, ok := h.find(name); ok {
		return Result{check, Pass, p, ""}
	}
	return Result{check, Warn, "no " + name + " beside gocompose or on PATH: " + needed,
		"install " + name + " (make build puts it in bin/) in the same directory as gocompose"}
}

// find looks for an executable file name in BesidePaths, then on PATH.
func (h Host) find(name string) (string, bool) {
	for _, dir := range h.BesidePaths {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, true
		}
	}
	p, err := h.LookPath(name)
	return p, err == nil
}

// logDriver says whether the small per-container log driver is installed
// where gocompose looks for it; without it gocompose runs itself as the
// driver, which works but costs each container about ten times the memory.
func (h Host) logDriver() Result {
	for _, dir := range h.LoggerPaths {
		p := filepath.Join(dir, "gocompose-logger")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return Result{"log-driver", Pass, p, ""}
		}
	}
	return Result{"log-driver", Warn, "no gocompose-logger beside gocompose: each container's log driver is gocompose itself (about 30 MiB of memory each instead of 3)",
		"install gocompose-logger (make build puts it in bin/) in the same directory as gocompose"}
}

func (h Host) disk() Result {
	dir := h.DataRoot
	for {
		if _, err := os.Stat(dir); err == nil || dir == "/" || dir == "." {
			break
		}
		dir = filepath.Dir(dir) // the root is made on first use
	}
	free, err := h.FreeBytes(dir)
	if err != nil {
		return Result{"disk", Fail, "cannot read free space under " + dir + ": " + err.Error(), ""}
	}
	detail := fmt.Sprintf("%.1f GiB free under %s", float64(free)/(1<<30), dir)
	switch {
	case free < diskFail:
		return Result{"disk", Fail, detail, "free space under the data root (images, volumes, logs), or set GOCOMPOSE_ROOT"}
	case free < diskWarn:
		return Result{"disk", Warn, detail, "images and volumes may not fit: free space under the data root"}
	}
	return Result{"disk", Pass, detail, ""}
}

// dnsPort: the embedded DNS listens on port 53 of each bridge gateway; a
// process holding port 53 on every address (0.0.0.0) takes it.
func (h Host) dnsPort() Result {
	for _, proto := range []string{"udp", "tcp"} {
		f, err := os.Open(filepath.Join(h.Proc, "net", proto))
		if err != nil {
			return Result{"dns-port", Warn, "cannot read " + proto + " sockets: " + err.Error(), ""}
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 4 || fields[1] == "local_address" {
				continue
			}
			addr, port, ok := strings.Cut(fields[1], ":")
			if n, err := strconv.ParseUint(port, 16, 16); !ok || err != nil || n != 53 {
				continue
			}
			if b, err := hex.DecodeString(addr); err == nil && len(b) == 4 && b[0]|b[1]|b[2]|b[3] == 0 && (proto == "udp" || fields[3] == "0A") {
				f.Close()
				return Result{"dns-port", Fail, "a process listens on 0.0.0.0:53/" + proto, "stop it or bind it to one address (dnsmasq: bind-interfaces): the embedded DNS needs port 53 on the bridge gateways"}
			}
		}
		f.Close()
	}
	return Result{"dns-port", Pass, "nothing holds port 53 on every address", ""}
}

func (h Host) userns() Result {
	v, err := h.read(h.Proc, "sys/user/max_user_namespaces")
	if err != nil {
		return Result{"user-namespaces", Warn, "unknown: " + err.Error(), ""}
	}
	if n, _ := strconv.Atoi(v); n == 0 {
		return Result{"user-namespaces", Warn, "disabled (user.max_user_namespaces = 0)", "not needed by gocompose (userns_mode is refused); rootless tools need them"}
	}
	return Result{"user-namespaces", Pass, "user.max_user_namespaces = " + v, ""}
}

// ErrFailed is returned when a required check failed.
var ErrFailed = errors.New("doctor: a required check failed")

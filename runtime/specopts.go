package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"tags.cncf.io/container-device-interface/pkg/parser"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/gocompose/gocompose/model"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Each function here maps one compose field onto the OCI spec. They are small
// so that each can be tested on an empty spec and so that a field is easy to
// find from its compose name.

// InitPath is where the init binary is mounted, as Docker does.
const InitPath = "/sbin/docker-init"

// dockerDefaultCaps is Docker's default capability set.
var dockerDefaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

func ensureProcess(s *oci.Spec) {
	if s.Process == nil {
		s.Process = &specs.Process{}
	}
}

func ensureResources(s *oci.Spec) *specs.LinuxResources {
	if s.Linux == nil {
		s.Linux = &specs.Linux{}
	}
	if s.Linux.Resources == nil {
		s.Linux.Resources = &specs.LinuxResources{}
	}
	return s.Linux.Resources
}

func ensureMemory(s *oci.Spec) *specs.LinuxMemory {
	r := ensureResources(s)
	if r.Memory == nil {
		r.Memory = &specs.LinuxMemory{}
	}
	return r.Memory
}

func ensureCPU(s *oci.Spec) *specs.LinuxCPU {
	r := ensureResources(s)
	if r.CPU == nil {
		r.CPU = &specs.LinuxCPU{}
	}
	return r.CPU
}

func none(context.Context, oci.Client, *containers.Container, *oci.Spec) error { return nil }

// withArgs sets the process arguments by Docker's rules: a service entrypoint
// replaces the image's and drops the image's CMD; a service command replaces
// the image's CMD; init puts docker-init in front.
func withArgs(svc types.ServiceConfig, img ocispec.ImageConfig) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		entrypoint, cmd := img.Entrypoint, img.Cmd
		if svc.Entrypoint != nil {
			entrypoint = svc.Entrypoint
			cmd = nil
		}
		if svc.Command != nil {
			cmd = svc.Command
		}
		args := append(slices.Clone([]string(entrypoint)), cmd...)
		if len(args) == 0 {
			return fmt.Errorf("no command specified: the image has no CMD or ENTRYPOINT and the service sets neither")
		}
		if svc.Init != nil && *svc.Init {
			args = append([]string{InitPath, "--"}, args...)
		}
		ensureProcess(s)
		s.Process.Args = args
		return nil
	}
}

// withEnvironment sets the image's environment then the service's (env_file
// entries are already merged into Environment by compose-go); a service
// variable replaces the image's in place. A variable without a value is
// dropped, as Docker does.
func withEnvironment(svc types.ServiceConfig, img ocispec.ImageConfig) oci.SpecOpts {
	var env []string
	index := map[string]int{}
	set := func(kv string) {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := index[k]; ok {
			env[i] = kv
			return
		}
		index[k] = len(env)
		env = append(env, kv)
	}
	for _, kv := range img.Env {
		set(kv)
	}
	keys := make([]string, 0, len(svc.Environment))
	for k := range svc.Environment {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if v := svc.Environment[k]; v != nil {
			set(k + "=" + *v)
		}
	}
	if _, ok := index["PATH"]; !ok {
		env = append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, env...)
	}
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		ensureProcess(s)
		s.Process.Env = env
		return nil
	}
}

// withWorkingDir uses working_dir, else the image's WorkingDir, else "/".
func withWorkingDir(svc types.ServiceConfig, img ocispec.ImageConfig) oci.SpecOpts {
	dir := svc.WorkingDir
	if dir == "" {
		dir = img.WorkingDir
	}
	if dir == "" {
		dir = "/"
	}
	return oci.WithProcessCwd(dir)
}

// withUser resolves user (or the image's USER) against the rootfs and adds
// group_add groups.
func withUser(svc types.ServiceConfig, img ocispec.ImageConfig) oci.SpecOpts {
	user := svc.User
	if user == "" {
		user = img.User
	}
	var opts []oci.SpecOpts
	if user != "" {
		opts = append(opts, oci.WithUser(user))
	} else {
		opts = append(opts, oci.WithUIDGID(0, 0))
	}
	if len(svc.GroupAdd) > 0 {
		opts = append(opts, oci.WithAppendAdditionalGroups(svc.GroupAdd...))
	}
	return oci.Compose(opts...)
}

func withHostname(svc types.ServiceConfig, fallback string) oci.SpecOpts {
	h := svc.Hostname
	if h == "" {
		h = fallback
	}
	return oci.Compose(oci.WithHostname(h), withDomainname(svc))
}

func withDomainname(svc types.ServiceConfig) oci.SpecOpts {
	if svc.DomainName == "" {
		return none
	}
	return oci.WithDomainname(svc.DomainName)
}

func withTTY(svc types.ServiceConfig) oci.SpecOpts {
	if !svc.Tty {
		return none
	}
	return oci.WithTTY
}

// withLogDriver marks the spec of a container whose log driver is not the
// json-file log alone: none (its tasks get heldIO's driver, which keeps no
// log) or one with a target checked before each task starts.
func withLogDriver(svc types.ServiceConfig) oci.SpecOpts {
	if svc.Logging == nil || svc.Logging.Driver == "" || svc.Logging.Driver == "json-file" || svc.Logging.Driver == "local" {
		return none
	}
	return oci.WithAnnotations(map[string]string{LogDriverAnnotation: svc.Logging.Driver})
}

// withStdinOpen marks the spec so that the container's tasks get a stdin
// (see heldIO).
func withStdinOpen(svc types.ServiceConfig) oci.SpecOpts {
	if !svc.StdinOpen {
		return none
	}
	return oci.WithAnnotations(map[string]string{StdinOpenAnnotation: "true"})
}

// withInit bind-mounts the host's static tini as docker-init; withArgs puts it
// in front of the command.
func withInit(svc types.ServiceConfig, tini string) oci.SpecOpts {
	if svc.Init == nil || !*svc.Init {
		return none
	}
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if tini == "" {
			return fmt.Errorf("init: tini-static not found (install Debian's tini package)")
		}
		s.Mounts = append(s.Mounts, specs.Mount{Destination: InitPath, Type: "bind", Source: tini, Options: []string{"rbind", "ro"}})
		return nil
	}
}

// FindTini returns the static tini binary on this host, or "".
func FindTini() string {
	for _, p := range []string{"/usr/bin/tini-static", "/usr/local/bin/tini-static", "/usr/bin/docker-init"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

func normCap(c string) string {
	c = strings.ToUpper(c)
	if c != "ALL" && !strings.HasPrefix(c, "CAP_") {
		c = "CAP_" + c
	}
	return c
}

// withCapabilities starts from Docker's default set, then applies cap_add and
// cap_drop ("ALL" allowed on either side); privileged gets every capability.
func withCapabilities(svc types.ServiceConfig) oci.SpecOpts {
	return func(ctx context.Context, c oci.Client, ctr *containers.Container, s *oci.Spec) error {
		if svc.Privileged {
			return oci.WithAllCurrentCapabilities(ctx, c, ctr, s)
		}
		caps := slices.Clone(dockerDefaultCaps)
		for _, d := range svc.CapDrop {
			d = normCap(d)
			if d == "ALL" {
				caps = nil
				continue
			}
			caps = slices.DeleteFunc(caps, func(x string) bool { return x == d })
		}
		for _, a := range svc.CapAdd {
			a = normCap(a)
			if a == "ALL" {
				return oci.WithAllCurrentCapabilities(ctx, c, ctr, s)
			}
			if !slices.Contains(caps, a) {
				caps = append(caps, a)
			}
		}
		return oci.WithCapabilities(caps)(ctx, c, ctr, s)
	}
}

// withPrivileged gives all capabilities and host devices, and unmasks paths.
func withPrivileged(svc types.ServiceConfig) oci.SpecOpts {
	if !svc.Privileged {
		return none
	}
	return oci.Compose(oci.WithPrivileged, oci.WithHostDevices, oci.WithAllDevicesAllowed)
}

func withReadOnly(svc types.ServiceConfig) oci.SpecOpts {
	if !svc.ReadOnly {
		return none
	}
	return oci.WithRootFSReadonly()
}

// withTmpfs mounts each tmpfs entry ("/path[:options]") with Docker's defaults.
func withTmpfs(svc types.ServiceConfig) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		for _, t := range svc.Tmpfs {
			dst, opts, _ := strings.Cut(t, ":")
			options := []string{"nosuid", "nodev", "noexec"}
			if opts != "" {
				options = append(options, strings.Split(opts, ",")...)
			}
			s.Mounts = append(s.Mounts, specs.Mount{Destination: dst, Type: "tmpfs", Source: "tmpfs", Options: options})
		}
		return nil
	}
}

// withShmSize sets the size of /dev/shm (Docker's default is 64 MiB).
func withShmSize(svc types.ServiceConfig) oci.SpecOpts {
	if svc.ShmSize == 0 {
		return none
	}
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		size := fmt.Sprintf("size=%dk", int64(svc.ShmSize)/1024)
		for i, m := range s.Mounts {
			if filepath.Clean(m.Destination) == "/dev/shm" {
				opts := slices.DeleteFunc(slices.Clone(m.Options), func(o string) bool { return strings.HasPrefix(o, "size=") })
				s.Mounts[i].Options = append(opts, size)
				return nil
			}
		}
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/dev/shm", Type: "tmpfs", Source: "shm",
			Options: []string{"nosuid", "noexec", "nodev", "mode=1777", size}})
		return nil
	}
}

var rlimitNames = map[string]string{
	"core": "RLIMIT_CORE", "cpu": "RLIMIT_CPU", "data": "RLIMIT_DATA", "fsize": "RLIMIT_FSIZE",
	"locks": "RLIMIT_LOCKS", "memlock": "RLIMIT_MEMLOCK", "msgqueue": "RLIMIT_MSGQUEUE",
	"nice": "RLIMIT_NICE", "nofile": "RLIMIT_NOFILE", "nproc": "RLIMIT_NPROC", "rss": "RLIMIT_RSS",
	"rtprio": "RLIMIT_RTPRIO", "rttime": "RLIMIT_RTTIME", "sigpending": "RLIMIT_SIGPENDING",
	"stack": "RLIMIT_STACK", "as": "RLIMIT_AS",
}

func withUlimits(svc types.ServiceConfig) oci.SpecOpts {
	return func(ctx context.Context, c oci.Client, ctr *containers.Container, s *oci.Spec) error {
		names := make([]string, 0, len(svc.Ulimits))
		for n := range svc.Ulimits {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			u := svc.Ulimits[n]
			typ, ok := rlimitNames[n]
			if !ok {
				return fmt.Errorf("ulimits: unknown limit %q", n)
			}
			soft, hard := u.Soft, u.Hard
			if u.Single != 0 {
				soft, hard = u.Single, u.Single
			}
			if err := oci.WithRlimit(&specs.POSIXRlimit{Type: typ, Soft: uint64(soft), Hard: uint64(hard)})(ctx, c, ctr, s); err != nil {
				return err
			}
		}
		return nil
	}
}

func withSysctls(svc types.ServiceConfig) oci.SpecOpts {
	if len(svc.Sysctls) == 0 {
		return none
	}
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		ensureResources(s)
		if s.Linux.Sysctl == nil {
			s.Linux.Sysctl = map[string]string{}
		}
		for k, v := range svc.Sysctls {
			s.Linux.Sysctl[k] = v
		}
		return nil
	}
}

// withMemory applies mem_limit/mem_reservation, falling back to
// deploy.resources like Docker Compose does.
func withMemory(svc types.ServiceConfig) oci.SpecOpts {
	limit, reservation := int64(svc.MemLimit), int64(svc.MemReservation)
	if d := svc.Deploy; d != nil {
		if l := d.Resources.Limits; l != nil && limit == 0 {
			limit = int64(l.MemoryBytes)
		}
		if r := d.Resources.Reservations; r != nil && reservation == 0 {
			reservation = int64(r.MemoryBytes)
		}
	}
	if limit == 0 && reservation == 0 {
		return none
	}
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		m := ensureMemory(s)
		if limit > 0 {
			m.Limit = &limit
		}
		if reservation > 0 {
			m.Reservation = &reservation
		}
		return nil
	}
}

// withCPU applies cpus (as a CFS quota over a 100ms period), cpu_shares and
// cpuset.
func withCPU(svc types.ServiceConfig) oci.SpecOpts {
	cpus := float64(svc.CPUS)
	if d := svc.Deploy; d != nil && cpus == 0 && d.Resources.Limits != nil {
		cpus = float64(d.Resources.Limits.NanoCPUs)
	}
	if cpus == 0 && svc.CPUShares == 0 && svc.CPUSet == "" {
		return none
	}
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		c := ensureCPU(s)
		if cpus > 0 {
			period := uint64(100000)
			quota := int64(cpus * float64(period))
			c.Period, c.Quota = &period, &quota
		}
		if svc.CPUShares > 0 {
			shares := uint64(svc.CPUShares)
			c.Shares = &shares
		}
		if svc.CPUSet != "" {
			c.Cpus = svc.CPUSet
		}
		return nil
	}
}

func withPidsLimit(svc types.ServiceConfig) oci.SpecOpts {
	limit := svc.PidsLimit
	if d := svc.Deploy; d != nil && limit == 0 && d.Resources.Limits != nil {
		limit = d.Resources.Limits.Pids
	}
	if limit == 0 {
		return none
	}
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		r := ensureResources(s)
		r.Pids = &specs.LinuxPids{Limit: &limit}
		return nil
	}
}

// withDevices adds each host device at its target path with its permissions.
func withDevices(svc types.ServiceConfig) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		for _, d := range svc.Devices {
			if parser.IsQualifiedName(d.Source) {
				continue // a CDI device: withCDIDevices
			}
			dev, err := oci.DeviceFromPath(d.Source)
			if err != nil {
				return fmt.Errorf("devices: %s: %w", d.Source, err)
			}
			if d.Target != "" {
				dev.Path = d.Target
			}
			perms := d.Permissions
			if perms == "" {
				perms = "rwm"
			}
			r := ensureResources(s)
			s.Linux.Devices = append(s.Linux.Devices, *dev)
			major, minor := dev.Major, dev.Minor
			r.Devices = append(r.Devices, specs.LinuxDeviceCgroup{Allow: true, Type: dev.Type, Major: &major, Minor: &minor, Access: perms})
		}
		return nil
	}
}

// withDeviceCgroupRules adds device_cgroup_rules ("c 1:3 mr", "a *:* rwm")
// to the device cgroup, as Docker does.
func withDeviceCgroupRules(svc types.ServiceConfig) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		for _, rule := range svc.DeviceCgroupRules {
			d, err := deviceCgroupRule(rule)
			if err != nil {
				return err
			}
			r := ensureResources(s)
			r.Devices = append(r.Devices, d)
		}
		return nil
	}
}

// deviceCgroupRule parses "TYPE MAJOR:MINOR ACCESS" (a, b or c; a number
// or * for major and minor; r, w and m).
func deviceCgroupRule(rule string) (specs.LinuxDeviceCgroup, error) {
	f := strings.Fields(rule)
	bad := fmt.Errorf("device_cgroup_rules: %q: want TYPE MAJOR:MINOR ACCESS, e.g. \"c 1:3 mr\"", rule)
	if len(f) != 3 || (f[0] != "a" && f[0] != "b" && f[0] != "c") || strings.Trim(f[2], "rwm") != "" || f[2] == "" {
		return specs.LinuxDeviceCgroup{}, bad
	}
	maj, min, ok := strings.Cut(f[1], ":")
	if !ok {
		return specs.LinuxDeviceCgroup{}, bad
	}
	num := func(v string) (*int64, error) {
		if v == "*" {
			return nil, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return nil, bad
		}
		return &n, nil
	}
	major, err := num(maj)
	if err != nil {
		return specs.LinuxDeviceCgroup{}, err
	}
	minor, err := num(min)
	if err != nil {
		return specs.LinuxDeviceCgroup{}, err
	}
	return specs.LinuxDeviceCgroup{Allow: true, Type: f[0], Major: major, Minor: minor, Access: f[2]}, nil
}

// withSecurityOpts applies security_opt and, unless it or privileged says
// otherwise, containerd's default seccomp profile (Docker's profile).
func withSecurityOpts(svc types.ServiceConfig) oci.SpecOpts {
	return func(ctx context.Context, c oci.Client, ctr *containers.Container, s *oci.Spec) error {
		seccompSet := svc.Privileged
		for _, o := range svc.SecurityOpt {
			key, val, _ := strings.Cut(o, "=")
			if !strings.Contains(o, "=") {
				key, val, _ = strings.Cut(o, ":")
			}
			switch {
			case key == "no-new-privileges" && (val == "" || val == "true"):
				if err := oci.WithNoNewPrivileges(ctx, c, ctr, s); err != nil {
					return err
				}
			case key == "no-new-privileges" && val == "false":
			case key == "seccomp" && val == "unconfined":
				seccompSet = true
				if err := oci.WithSeccompUnconfined(ctx, c, ctr, s); err != nil {
					return err
				}
			case key == "seccomp":
				b, err := os.ReadFile(val)
				if err != nil {
					return fmt.Errorf("security_opt seccomp: %w", err)
				}
				var prof specs.LinuxSeccomp
				if err := json.Unmarshal(b, &prof); err != nil {
					return fmt.Errorf("security_opt seccomp %s: %w", val, err)
				}
				ensureResources(s)
				s.Linux.Seccomp = &prof
				seccompSet = true
			case key == "apparmor" && val == "unconfined":
			default:
				return fmt.Errorf("security_opt %q is not supported by gocompose", o)
			}
		}
		if seccompSet {
			return nil
		}
		// The profile allows syscalls by capability, so it reads them.
		ensureProcess(s)
		if s.Linux == nil {
			s.Linux = &specs.Linux{}
		}
		if s.Process.Capabilities == nil {
			s.Process.Capabilities = &specs.LinuxCapabilities{}
		}
		return seccomp.WithDefaultProfile()(ctx, c, ctr, s)
	}
}

func withOomScoreAdj(svc types.ServiceConfig) oci.SpecOpts {
	if svc.OomScoreAdj == 0 {
		return none
	}
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		ensureProcess(s)
		adj := int(svc.OomScoreAdj)
		s.Process.OOMScoreAdj = &adj
		return nil
	}
}

// withNetworkMode keeps the host's network namespace for "host", joins the
// namespace the caller attached to its networks when there is one, and gives
// a fresh namespace with only loopback otherwise (runc brings lo up).
func withNetworkMode(svc types.ServiceConfig, netns string) oci.SpecOpts {
	switch {
	case svc.NetworkMode == "host":
		return oci.WithHostNamespace(specs.NetworkNamespace)
	case netns != "":
		return oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: netns})
	}
	return oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace})
}

// withEtcFiles bind-mounts the per-container hosts, hostname and resolv.conf.
func withEtcFiles(dir string) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		for _, f := range []string{"hosts", "hostname", "resolv.conf"} {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/etc/" + f, Type: "bind",
				Source: filepath.Join(dir, f), Options: []string{"rbind", "rprivate", "rw"}})
		}
		return nil
	}
}

// withMounts mounts the container's resolved mounts: binds of host paths
// (a missing source made when the mount says so) and tmpfs.
func withMounts(ms []model.Mount) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		for _, m := range ms {
			switch m.Type {
			case model.Bind:
				if _, err := os.Stat(m.Source); err != nil {
					if !os.IsNotExist(err) || !m.CreateHostPath {
						return fmt.Errorf("volumes: bind source %s: %w", m.Source, err)
					}
					if err := os.MkdirAll(m.Source, 0o755); err != nil {
						return fmt.Errorf("volumes: create bind source %s: %w", m.Source, err)
					}
				}
				opts, err := bindOptions(m)
				if err != nil {
					return err
				}
				prop := "rprivate"
				if m.Propagation != "" {
					prop = m.Propagation
				}
				opts = append(opts, prop)
				s.Mounts = append(s.Mounts, specs.Mount{Destination: m.Target, Type: "bind", Source: m.Source, Options: opts})
			case model.ImageMount:
				// Its host directory, mounted before each task starts.
				s.Mounts = append(s.Mounts, specs.Mount{Destination: m.Target, Type: "bind", Source: m.Source,
					Options: []string{"rbind", "ro", "rprivate"}})
			case model.Tmpfs:
				opts := []string{"nosuid", "nodev", "noexec"}
				if m.Size > 0 {
					opts = append(opts, fmt.Sprintf("size=%d", m.Size))
				}
				if m.Mode != 0 {
					opts = append(opts, fmt.Sprintf("mode=%o", m.Mode))
				}
				s.Mounts = append(s.Mounts, specs.Mount{Destination: m.Target, Type: "tmpfs", Source: "tmpfs", Options: opts})
			default:
				return fmt.Errorf("volumes: mount type %q is not supported", m.Type)
			}
		}
		return nil
	}
}

// StopSignal returns the signal from stop_signal (default SIGTERM).
func StopSignal(name string) (syscall.Signal, error) {
	if name == "" {
		return syscall.SIGTERM, nil
	}
	return ParseSignal(name)
}

// bindOptions are a bind's mount options as Docker's daemon makes them:
// rbind (bind when bind.recursive is disabled), rw or ro, and for a
// read-only bind rro (submounts read-only too) where the kernel and runc
// can, unless bind.recursive is writable; readonly demands rro.
func bindOptions(m model.Mount) ([]string, error) {
	mode := "rbind"
	if m.Recursive == "disabled" {
		mode = "bind"
	}
	if !m.ReadOnly {
		return []string{mode, "rw"}, nil
	}
	if m.Recursive == "writable" || m.Recursive == "disabled" {
		return []string{mode, "ro"}, nil
	}
	if err := recursivelyReadOnly(); err != nil {
		if m.Recursive == "readonly" {
			return nil, fmt.Errorf("volumes: %s: bind.recursive readonly: %w", m.Target, err)
		}
		return []string{mode, "ro"}, nil
	}
	return []string{mode, "ro", "rro"}, nil
}

// recursivelyReadOnly says whether read-only mounts can be made read-only
// recursively here, as Docker's daemon checks it: a kernel with
// mount_setattr (5.12) and a runc whose `runc features` lists rro.
var recursivelyReadOnly = sync.OnceValue(func() error { // a var: tests replace it
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return err
	}
	var major, minor int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &major, &minor); err != nil || major < 5 || major == 5 && minor < 12 {
		return fmt.Errorf("rro is not supported: kernel %s is older than 5.12", unix.ByteSliceToString(u.Release[:]))
	}
	out, err := exec.Command("runc", "features").Output()
	if err != nil {
		return fmt.Errorf("rro is not supported: runc features: %w", err)
	}
	var f struct {
		MountOptions []string `json:"mountOptions"`
	}
	if err := json.Unmarshal(out, &f); err != nil || !slices.Contains(f.MountOptions, "rro") {
		return errors.New("rro is not supported by runc")
	}
	return nil
})

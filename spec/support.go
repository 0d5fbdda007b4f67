package spec

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// supported lists the top-level service fields gocompose implements. Anything
// else that a file sets is an error naming the service and the field, never a
// silent no-op.
var supported = map[string]bool{
	"cap_add": true, "cap_drop": true, "command": true, "container_name": true,
	"cpu_shares": true, "cpus": true, "cpuset": true, "depends_on": true,
	"deploy": true, "devices": true, "domainname": true, "entrypoint": true,
	"environment": true, "env_file": true, "extra_hosts": true, "group_add": true,
	"hostname": true, "image": true, "init": true, "labels": true,
	"logging": true, "mem_limit": true, "mem_reservation": true,
	"network_mode": true, "networks": true, "oom_score_adj": true,
	"pids_limit": true, "privileged": true, "profiles": true,
	"pull_policy": true, "read_only": true, "restart": true, "scale": true,
	"security_opt": true, "shm_size": true, "stdin_open": true,
	"stop_grace_period": true, "stop_signal": true, "sysctls": true,
	"tmpfs": true, "tty": true, "ulimits": true, "user": true,
	"volumes": true, "working_dir": true, "attach": true,
	"ports": true, "dns": true, "dns_search": true, "dns_opt": true,
	"mac_address": true, "expose": true, "links": true, "build": true,
	"healthcheck": true, "platform": true, "secrets": true, "configs": true,
	"volumes_from": true, "pid": true, "ipc": true, "uts": true, "cgroup_parent": true,
	"memswap_limit": true, "mem_swappiness": true, "oom_kill_disable": true,
	"cpu_period": true, "cpu_quota": true, "cpu_rt_period": true, "cpu_rt_runtime": true,
	"annotations": true, "blkio_config": true, "post_start": true, "pre_stop": true, "develop": true, "gpus": true, "device_cgroup_rules": true, "runtime": true, "pre_start": true, "external_links": true,
	"label_file": true, "cgroup": true, "userns_mode": true, "isolation": true,
}

// refused says why a service field gocompose does not implement is refused.
var refused = map[string]string{
	"use_api_socket":  "it mounts the Docker Engine API socket into the container, and gocompose runs without a Docker daemon",
	"storage_opt":     "containerd's overlayfs snapshotter has no per-container size quota (Docker's overlay2 needs xfs with pquota for it)",
	"models":          "models are served by Docker Model Runner, which a host without Docker does not have",
	"cpu_count":       "a Windows container option; Docker's daemon on Linux discards it",
	"cpu_percent":     "a Windows container option; Docker's daemon on Linux discards it",
	"credential_spec": "a Windows container option (gMSA credentials)",
	"umask":           "not part of Docker Compose's file format; set the umask in the command",
}

// CheckSupported returns an error naming the first service field (in sorted
// order) that gocompose does not implement yet.
func CheckSupported(p *types.Project) error {
	if err := checkNetworks(p); err != nil {
		return err
	}
	for _, name := range sortedServiceNames(p) {
		svc := p.Services[name]
		if err := checkService(p, svc); err != nil {
			field := ""
			var ue *unsupportedError
			var ie *invalidError
			if errors.As(err, &ue) {
				field = ue.field
			} else if errors.As(err, &ie) {
				field = ie.field
			}
			return locate(&FieldError{Service: name, Field: field, Err: err}, p.ComposeFiles)
		}
	}
	return nil
}

// networkDriverOpts are the bridge driver options gocompose applies.
var networkDriverOpts = map[string]bool{
	"com.docker.network.bridge.name": true,
	"com.docker.network.driver.mtu":  true,
}

// checkNetworks refuses the top-level network options gocompose would
// otherwise leave unapplied: IPv6, IPAM drivers and options, and bridge
// driver options other than the name and MTU.
func checkNetworks(p *types.Project) error {
	for _, key := range slices.Sorted(maps.Keys(p.Networks)) {
		n := p.Networks[key]
		if bool(n.External) {
			continue
		}
		at := func(err error, path ...string) error {
			return At(p, err, append([]string{"networks", key}, path...)...)
		}
		if d := n.Driver; d != "" && d != "bridge" {
			return at(unsupported("driver", strconv.Quote(d)+": gocompose's networks are bridges on one host (CNI bridge); overlay, macvlan, ipvlan and plugins are not implemented"), "driver")
		}
		if n.EnableIPv4 != nil && !*n.EnableIPv4 {
			return at(unsupported("enable_ipv4", "IPv6-only networks are not implemented (enable_ipv6 makes a dual-stack network)"), "enable_ipv4")
		}
		ipv6 := n.EnableIPv6 != nil && *n.EnableIPv6
		families := map[bool]int{}
		for i, c := range n.Ipam.Config {
			v6 := IsIPv6Subnet(c.Subnet)
			if families[v6]++; families[v6] > 1 {
				return at(unsupported("ipam.config", "several subnets of one address family on a network"), "ipam", "config", strconv.Itoa(i))
			}
			switch {
			case v6 && !ipv6:
				return at(invalid("ipam.config.subnet", c.Subnet+" is an IPv6 subnet: the network needs enable_ipv6: true"), "ipam", "config", strconv.Itoa(i), "subnet")
			case v6 && c.IPRange != "":
				return at(unsupported("ipam.config.ip_range", "an ip_range in an IPv6 subnet"), "ipam", "config", strconv.Itoa(i), "ip_range")
			}
		}
		if d := n.Ipam.Driver; d != "" && d != "default" {
			return at(unsupported("ipam.driver", d+" (gocompose allocates addresses itself: the default driver only)"), "ipam", "driver")
		}
		if len(n.Ipam.Options) > 0 {
			return at(unsupported("ipam.options", ""), "ipam", "options")
		}
		for i, c := range n.Ipam.Config {
			if len(c.AuxiliaryAddresses) > 0 {
				return at(unsupported("ipam.config.aux_addresses", ""), "ipam", "config", strconv.Itoa(i), "aux_addresses")
			}
		}
		for _, k := range slices.Sorted(maps.Keys(n.DriverOpts)) {
			if !networkDriverOpts[k] {
				return at(unsupported("driver_opts."+k, "only com.docker.network.bridge.name and com.docker.network.driver.mtu are applied"), "driver_opts", k)
			}
		}
	}
	return nil
}

// IsIPv6Subnet says whether an ipam subnet is an IPv6 one.
func IsIPv6Subnet(subnet string) bool {
	p, err := netip.ParsePrefix(subnet)
	return err == nil && p.Addr().Is6() && !p.Addr().Is4In6()
}

func sortedServiceNames(p *types.Project) []string {
	names := make([]string, 0, len(p.Services))
	for n := range p.Services {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

type unsupportedError struct{ field, why string }

func (e *unsupportedError) Error() string {
	if e.why != "" {
		return fmt.Sprintf("field %q is %v yet (%s)", e.field, ErrUnsupported, e.why)
	}
	return fmt.Sprintf("field %q is %v yet", e.field, ErrUnsupported)
}

func (e *unsupportedError) Unwrap() error { return ErrUnsupported }

func unsupported(field, why string) error { return &unsupportedError{field: field, why: why} }

// invalidError is a value no Compose implementation accepts.
type invalidError struct{ field, why string }

func (e *invalidError) Error() string { return fmt.Sprintf("field %q: %s", e.field, e.why) }

func invalid(field, why string) error { return &invalidError{field: field, why: why} }

// logOptions are the options of each log driver gocompose implements.
var logOptions = map[string]map[string]bool{
	"json-file": {"max-size": true, "max-file": true},
	"local":     {"max-size": true, "max-file": true},
	"syslog":    {"syslog-address": true, "syslog-facility": true, "tag": true},
	"journald":  {"tag": true},
	"none":      {},
	"fluentd":   {"fluentd-address": true, "tag": true, "fluentd-async": true, "fluentd-async-connect": true},
}

func checkLogging(l *types.LoggingConfig) error {
	if l == nil {
		return nil
	}
	driver := l.Driver
	if driver == "" {
		driver = "json-file"
	}
	opts, ok := logOptions[driver]
	if !ok {
		return unsupported("logging.driver", driver)
	}
	for _, k := range slices.Sorted(maps.Keys(l.Options)) {
		if !opts[k] {
			return unsupported("logging.options."+k, "not an option gocompose's "+driver+" driver implements")
		}
	}
	return nil
}

// SharesNamespace reports a namespace mode (ipc, pid) naming another
// service or container.
func SharesNamespace(mode string) bool {
	name, ok := strings.CutPrefix(mode, types.ServicePrefix)
	if !ok {
		name, ok = strings.CutPrefix(mode, types.ContainerPrefix)
	}
	return ok && name != ""
}

func checkService(p *types.Project, svc types.ServiceConfig) error {
	keys, err := SetFields(sshFree(svc))
	if err != nil {
		return err
	}
	if svc.Provider != nil {
		return checkProvider(p, svc, keys)
	}
	for _, k := range keys {
		if !supported[k] {
			return unsupported(k, refused[k])
		}
	}
	if b := svc.Build; b != nil {
		if err := checkBuild(b); err != nil {
			return err
		}
	} else if svc.Image == "" {
		return unsupported("image", "a service needs image or build")
	}
	switch mode := svc.NetworkMode; {
	case mode == "" || mode == "bridge" || mode == "host" || mode == "none":
	case strings.HasPrefix(mode, "service:"), strings.HasPrefix(mode, "container:"):
	default:
		return unsupported("network_mode", mode)
	}
	if len(svc.Ports) > 0 && (svc.NetworkMode == "" || svc.NetworkMode == "bridge") && len(svc.Networks) > 0 {
		internal := true
		for name := range svc.Networks {
			if cfg, ok := p.Networks[name]; !ok || bool(cfg.External) || !cfg.Internal {
				internal = false
			}
		}
		if internal {
			return invalid("ports", "ports cannot be published from internal networks only: the service needs a network that is not internal")
		}
	}
	ifnames := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(svc.Networks)) {
		n := svc.Networks[name]
		if n == nil {
			continue
		}
		if n.Ipv6Address != "" {
			if cfg, ok := p.Networks[name]; ok && !bool(cfg.External) && (cfg.EnableIPv6 == nil || !*cfg.EnableIPv6) {
				return invalid("networks."+name+".ipv6_address", "network "+name+" has no IPv6 (enable_ipv6: true)")
			}
			if a, err := netip.ParseAddr(n.Ipv6Address); err != nil || !a.Is6() || a.Is4In6() {
				return invalid("networks."+name+".ipv6_address", strconv.Quote(n.Ipv6Address)+" is not an IPv6 address")
			}
		}
		if len(n.LinkLocalIPs) > 0 {
			return unsupported("networks."+name+".link_local_ips", "")
		}
		if len(n.DriverOpts) > 0 {
			return unsupported("networks."+name+".driver_opts", "endpoint driver options of Docker's network drivers have no equivalent on a CNI bridge")
		}
		if ifn := n.InterfaceName; ifn != "" {
			if len(ifn) > 15 || strings.ContainsAny(ifn, "/: \t") || ifn == "." || ifn == ".." || ifn == "lo" {
				return invalid("networks."+name+".interface_name", strconv.Quote(ifn)+" is not a valid interface name (at most 15 characters, no '/', ':' or spaces, not lo)")
			}
			if other, dup := ifnames[ifn]; dup {
				return invalid("networks."+name+".interface_name", strconv.Quote(ifn)+" is also the interface on network "+other)
			}
			ifnames[ifn] = name
		}
	}
	if r := svc.Restart; r != "" && r != types.RestartPolicyNo && r != "always" && r != "unless-stopped" &&
		r != "on-failure" && !strings.HasPrefix(r, "on-failure:") {
		return unsupported("restart", r)
	}
	if err := checkLogging(svc.Logging); err != nil {
		return err
	}
	for _, v := range svc.Volumes {
		if v.Volume != nil && v.Volume.Subpath != "" {
			switch {
			case v.Type != types.VolumeTypeVolume:
			case v.Source == "":
				return invalid("volumes", "must not set subpath when using anonymous volumes (as Docker's daemon refuses it)")
			case !filepath.IsLocal(v.Volume.Subpath):
				return invalid("volumes", strconv.Quote(v.Volume.Subpath)+": subpath must be a relative path within the volume")
			}
		}
		if b := v.Bind; b != nil && (b.Recursive == "readonly" || b.Recursive == "writable") && !v.ReadOnly {
			return invalid("volumes", "bind.recursive "+b.Recursive+" applies to read-only binds: set read_only: true (as Docker's daemon requires)")
		}
		switch {
		case v.Type == types.VolumeTypeBind || v.Type == types.VolumeTypeTmpfs:
		case v.Type == types.VolumeTypeImage:
			if v.Source == "" {
				return invalid("volumes", "a volume of type image needs the image (source)")
			}
		case v.Type == types.VolumeTypeVolume && v.Source == "":
		case v.Type == types.VolumeTypeVolume:
			cfg, ok := p.Volumes[v.Source]
			if !ok {
				return unsupported("volumes", "undefined volume "+v.Source)
			}
			if cfg.Driver != "" && cfg.Driver != "local" {
				return unsupported("volumes", "driver "+cfg.Driver+" of "+v.Source)
			}
			if err := checkDriverOpts(cfg.DriverOpts); err != nil {
				if ie := (*invalidError)(nil); errors.As(err, &ie) {
					return invalid("volumes", v.Source+": "+ie.why)
				}
				return unsupported("volumes", v.Source+": "+err.Error())
			}
		default:
			return unsupported("volumes", string(v.Type)+" "+v.Source)
		}
	}
	if v := svc.Uts; v != "" && v != "host" {
		return unsupported("uts", v+" (only host)")
	}
	// Docker's daemon accepts only host, which leaves a container in the
	// host's user namespace when the daemon remaps users; gocompose never
	// remaps, so host is what every container gets.
	if v := svc.UserNSMode; v != "" && v != "host" {
		return invalid("userns_mode", strconv.Quote(v)+": only host (as Docker's daemon, which refuses other modes)")
	}
	// As Docker's daemon on Linux: only the default isolation technology.
	if v := svc.Isolation; v != "" && v != "default" {
		return invalid("isolation", strconv.Quote(v)+": Linux supports only 'default' (hyperv and process are Windows isolation)")
	}
	if v := svc.Pid; v != "" && v != "host" && !SharesNamespace(v) {
		return unsupported("pid", v+" (host, service:NAME or container:NAME)")
	}
	if v := svc.Ipc; v != "" && v != "host" && v != "private" && v != "shareable" && !SharesNamespace(v) {
		return unsupported("ipc", v+" (host, private, shareable, service:NAME or container:NAME)")
	}
	if donor, ok := strings.CutPrefix(svc.Ipc, types.ServicePrefix); ok {
		// Docker's daemon makes IPC namespaces private by default and
		// refuses to share them ("non-shareable IPC").
		if d, found := p.Services[donor]; !found {
			return invalid("ipc", "service "+donor+" is not defined")
		} else if d.Ipc != "shareable" {
			return invalid("ipc", "service "+donor+" must have ipc: shareable to share its IPC namespace (non-shareable IPC, as Docker refuses it)")
		}
	}
	if donor, ok := strings.CutPrefix(svc.Pid, types.ServicePrefix); ok {
		if _, found := p.Services[donor]; !found {
			return invalid("pid", "service "+donor+" is not defined")
		}
	}
	for _, vf := range svc.VolumesFrom {
		rest, isContainer := strings.CutPrefix(vf, types.ContainerPrefix)
		name, mode, _ := strings.Cut(rest, ":")
		if name == "" || (mode != "" && mode != "ro" && mode != "rw") {
			return invalid("volumes_from", strconv.Quote(vf)+": want SERVICE[:ro|rw] or container:NAME[:ro|rw]")
		}
		if _, ok := p.Services[name]; !isContainer && !ok {
			return invalid("volumes_from", "no such service: "+name)
		}
	}
	for _, ref := range svc.Secrets {
		if err := checkFileObject("secrets", types.FileReferenceConfig(ref), types.FileObjectConfig(p.Secrets[ref.Source])); err != nil {
			return err
		}
	}
	for _, ref := range svc.Configs {
		if err := checkFileObject("configs", types.FileReferenceConfig(ref), types.FileObjectConfig(p.Configs[ref.Source])); err != nil {
			return err
		}
	}
	if r := svc.Runtime; r != "" && r != "runc" && !strings.HasPrefix(r, "io.containerd.") {
		return unsupported("runtime", strconv.Quote(r)+": name runc or a containerd runtime (io.containerd.runsc.v1, io.containerd.kata.v2); Docker's daemon.json runtime names mean nothing to containerd")
	}
	for i, g := range svc.Gpus {
		if len(g.Options) > 0 {
			return unsupported(fmt.Sprintf("gpus.%d.options", i), "CDI devices take no driver options")
		}
	}
	for i, hook := range svc.PreStart {
		if err := checkPreStart(svc, hook); err != nil {
			return unsupported(fmt.Sprintf("pre_start.%d", i), err.Error())
		}
	}
	for _, rule := range svc.DeviceCgroupRules {
		if !deviceRule.MatchString(rule) {
			return invalid("device_cgroup_rules", strconv.Quote(rule)+": want TYPE MAJOR:MINOR ACCESS, e.g. \"c 1:3 mr\"")
		}
	}
	if d := svc.Deploy; d != nil {
		// Like Docker Compose outside swarm, placement has no meaning on
		// one host and is ignored. update_config and rollback_config drive
		// up's rolling updates (which Docker Compose ignores).
		if err := checkUpdate("deploy.update_config", d.UpdateConfig, true); err != nil {
			return err
		}
		if err := checkUpdate("deploy.rollback_config", d.RollbackConfig, false); err != nil {
			return err
		}
		if rp := d.RestartPolicy; rp != nil && rp.Window != nil {
			return unsupported("deploy.restart_policy.window", "")
		}
		if r := d.Resources.Reservations; r != nil {
			for i, dr := range r.Devices {
				if len(dr.Options) > 0 {
					return unsupported(fmt.Sprintf("deploy.resources.reservations.devices.%d.options", i), "CDI devices take no driver options")
				}
			}
		}
		if r := d.Resources.Reservations; r != nil && len(r.GenericResources) > 0 {
			return unsupported("deploy.resources.reservations.generic_resources", "")
		}
	}
	return nil
}

// providerFields are what a provider service may set: the rest would
// configure a container it does not have.
var providerFields = map[string]bool{"provider": true, "depends_on": true, "profiles": true, "networks": true}

// checkProvider checks a provider service: its fields, and that it depends
// only on other providers (all run before any container is made).
func checkProvider(p *types.Project, svc types.ServiceConfig, keys []string) error {
	if svc.Provider.Type == "" {
		return invalid("provider.type", "a provider needs its type (the executable that makes the service)")
	}
	for _, k := range keys {
		if !providerFields[k] {
			return unsupported(k, "a provider service has no container for it to configure")
		}
	}
	for _, d := range slices.Sorted(maps.Keys(svc.DependsOn)) {
		if dep, ok := p.Services[d]; ok && dep.Provider == nil {
			return unsupported("depends_on", "provider service depending on container service "+d+": providers run before any container is made")
		}
	}
	return nil
}

// preStartFields are the pre_start fields applied, those Docker Compose
// v5.5 applies: image, command, user, working_dir, environment (on top of
// the service's) and privileged.
var preStartFields = map[string]bool{"image": true, "command": true, "user": true, "working_dir": true, "environment": true, "privileged": true}

func checkPreStart(svc types.ServiceConfig, h types.PreStartHook) error {
	if h.PerReplica {
		return errors.New("per_replica is not supported (nor by Docker Compose v5.5): remove it or set it to false")
	}
	fields, err := SetFields(h.ContainerSpec)
	if err != nil {
		return err
	}
	// Normalization gives a step the service's networks; it runs on them.
	if len(h.Networks) > 0 && !slices.Equal(slices.Sorted(maps.Keys(h.Networks)), slices.Sorted(maps.Keys(svc.Networks))) {
		return errors.New("networks other than the service's are not applied to a pre_start step")
	}
	for _, k := range fields {
		if k != "networks" && !preStartFields[k] {
			return fmt.Errorf("%s is not applied to a pre_start step (image, command, user, working_dir, environment and privileged are)", k)
		}
	}
	return nil
}

var deviceRule = regexp.MustCompile(`^[abc] (\d+|\*):(\d+|\*) [rwm]{1,3}$`)

// checkUpdate refuses update and rollback settings up cannot follow.
func checkUpdate(field string, c *types.UpdateConfig, update bool) error {
	if c == nil {
		return nil
	}
	switch c.Order {
	case "", "start-first", "stop-first":
	default:
		return invalid(field+".order", strconv.Quote(c.Order)+": want start-first or stop-first")
	}
	actions := "pause, continue or rollback"
	if !update {
		actions = "pause or continue"
	}
	switch c.FailureAction {
	case "", "pause", "continue":
	case "rollback":
		if !update {
			return invalid(field+".failure_action", `"rollback": a rollback cannot roll back; want `+actions)
		}
	default:
		return invalid(field+".failure_action", strconv.Quote(c.FailureAction)+": want "+actions)
	}
	if c.MaxFailureRatio < 0 || c.MaxFailureRatio > 1 {
		return invalid(field+".max_failure_ratio", "want a fraction between 0 and 1")
	}
	if !update && c.Monitor != 0 {
		return unsupported(field+".monitor", "a rollback is not monitored")
	}
	if !update && c.MaxFailureRatio != 0 {
		return unsupported(field+".max_failure_ratio", "a rollback's failures are handled by its failure_action")
	}
	return nil
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case bool:
		return !x
	case string:
		return x == ""
	case float64:
		return x == 0
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

func checkBuild(b *types.BuildConfig) error {
	// As Docker's builder on Linux: only the default isolation.
	if b.Isolation != "" && b.Isolation != "default" {
		return invalid("build.isolation", strconv.Quote(b.Isolation)+": Linux builds support only 'default' (hyperv and process are Windows isolation)")
	}
	for i, e := range b.Entitlements {
		if e != "security.insecure" && e != "network.host" {
			return unsupported(fmt.Sprintf("build.entitlements.%d", i), strconv.Quote(e)+": security.insecure and network.host can be granted")
		}
	}
	switch {
	case b.SBOM != "" && b.SBOM != "false":
		return unsupported("build.sbom", "BuildKit's SBOM scanner image would have to be pulled from a registry")
	case b.Network != "" && b.Network != "host" && b.Network != "none" && b.Network != "default":
		return unsupported("build.network", b.Network)
	}
	return nil
}

// checkFileObject checks a service's use of a secret or config: a file,
// environment or content source (there is no secret store to hold external
// ones) and numeric uid/gid.
func checkFileObject(kind string, ref types.FileReferenceConfig, obj types.FileObjectConfig) error {
	field := kind + "." + ref.Source
	switch {
	case bool(obj.External):
		return unsupported(field, "external "+kind+" live in a swarm secret store, which a host without Docker does not have; use file, environment or content")
	case obj.Driver != "":
		return unsupported(field, "driver "+obj.Driver)
	case obj.TemplateDriver != "":
		return unsupported(field, "template_driver "+obj.TemplateDriver)
	case obj.File == "" && obj.Environment == "" && obj.Content == "":
		return unsupported(field, "it needs file, environment or content")
	}
	for name, v := range map[string]string{"uid": ref.UID, "gid": ref.GID} {
		if v == "" {
			continue
		}
		if _, err := strconv.ParseUint(v, 10, 32); err != nil {
			return invalid(field, name+" must be a number, not "+strconv.Quote(v))
		}
	}
	return nil
}

// checkDriverOpts accepts the local driver's options as Docker's local
// driver takes them: a bind of a host directory (type none, o bind, device
// /abs/dir), a tmpfs, or a filesystem type with its device (nfs, cifs,
// ext4 on a block device, overlay…).
func checkDriverOpts(opts map[string]string) error {
	if len(opts) == 0 {
		return nil
	}
	for k := range opts {
		if k != "type" && k != "o" && k != "device" {
			return fmt.Errorf("driver_opts %s (only type, o and device)", k)
		}
	}
	typ, o, device := opts["type"], opts["o"], opts["device"]
	bind := slices.ContainsFunc(strings.Split(o, ","), func(s string) bool { return s == "bind" || s == "rbind" })
	switch {
	case typ == "tmpfs":
	case (typ == "none" || typ == "bind" || typ == "") && bind:
		if !strings.HasPrefix(device, "/") {
			return invalid("volumes", fmt.Sprintf("driver_opts device %q must be an absolute path for a bind", device))
		}
	case typ == "" || typ == "none":
		return invalid("volumes", fmt.Sprintf("driver_opts type %q with o %q mounts nothing: give a filesystem type, or o: bind for a host directory", typ, o))
	case device == "":
		// As Docker's local driver refuses it when the volume is used.
		return invalid("volumes", fmt.Sprintf("driver_opts type %q: missing device in volume options", typ))
	}
	return nil
}

// SetFields are the top-level fields of v (a service, or a container spec)
// the file sets, by their compose names, sorted; build.ssh is left out of
// a service's marshalling (see sshFree).
func SetFields(v any) ([]string, error) {
	if svc, ok := v.(types.ServiceConfig); ok {
		v = sshFree(svc)
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, err
	}
	var keys []string
	for k, f := range fields {
		if !isEmpty(f) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys, nil
}

// sshFree is the service without build.ssh, for finding which fields are
// set: compose-go's SSHKey.MarshalJSON writes invalid JSON for ID=PATH.
func sshFree(svc types.ServiceConfig) types.ServiceConfig {
	if svc.Build != nil && len(svc.Build.SSH) > 0 {
		b := *svc.Build
		b.SSH = nil
		svc.Build = &b
	}
	return svc
}

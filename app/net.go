package app

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/containerd/errdefs"
	"github.com/gocompose/gocompose/internal/health"
	"github.com/gocompose/gocompose/internal/labels"
	"github.com/gocompose/gocompose/internal/lock"
	"github.com/gocompose/gocompose/internal/mounts"
	"github.com/gocompose/gocompose/model"
	"github.com/gocompose/gocompose/network"
	"github.com/gocompose/gocompose/runtime"
	specpkg "github.com/gocompose/gocompose/spec"
)

// Networker is what app needs from the network package.
type Networker interface {
	CheckPlugins() error
	Ensure(ctx context.Context, s network.Spec) (*network.Network, bool, error)
	Get(namespace, name string) (*network.Network, error)
	List() ([]network.Network, error)
	Remove(ctx context.Context, namespace, name string) error
	Attach(ctx context.Context, containerID, netns string, as []network.Attachment) ([]network.Result, error)
	Detach(ctx context.Context, containerID, netns string, as []network.Attachment) error
	// Release is Detach for a namespace deleted right after.
	Release(ctx context.Context, containerID, netns string, as []network.Attachment) error
	DetachCached(ctx context.Context, containerID, netns string) error
	ReleaseStale(ctx context.Context, containerID, netns string, as []network.Attachment) error
	Restore(n *network.Network) error
	// ServePorts makes a container's published ports take new connections
	// from any other container mapping the same host ports.
	ServePorts(container string) error
	// NewNetNS makes a pinned network namespace at path; DeleteNetNS
	// removes it (a missing one is not an error).
	NewNetNS(path string) error
	DeleteNetNS(path string) error
}

// DNSControl starts the supervisor on demand and makes it reload records.
type DNSControl interface {
	Ensure(ctx context.Context) error
	Reload(ctx context.Context) error
}

// bridged reports whether a service gets its own namespace on CNI networks.
func bridged(svc types.ServiceConfig) bool {
	return svc.NetworkMode == "" || svc.NetworkMode == "bridge"
}

// ensureNetworks creates the networks the selected services use (external
// ones must exist) and returns them by compose key.
// With all (--all-resources) every network the file declares is made, used
// or not.
func (a *App) ensureNetworks(ctx context.Context, p *types.Project, sel *types.Project, all bool) (map[string]*network.Network, error) {
	used := map[string]bool{}
	if all {
		for k := range p.Networks {
			used[k] = true
		}
	}
	for _, svc := range sel.Services {
		if bridged(svc) {
			for k := range svc.Networks {
				used[k] = true
			}
		}
	}
	nets := map[string]*network.Network{}
	if len(used) == 0 {
		return nets, nil
	}
	if a.Net == nil {
		return nil, errors.New("bridge networking is not available")
	}
	if err := a.Net.CheckPlugins(); err != nil {
		return nil, err
	}
	ns := a.Engine.Namespace()
	for _, key := range slices.Sorted(maps.Keys(used)) {
		cfg, ok := p.Networks[key]
		if !ok {
			return nil, fmt.Errorf("service uses undefined network %q", key)
		}
		if bool(cfg.External) {
			n, err := a.Net.Get(ns, cfg.Name)
			if err != nil {
				return nil, fmt.Errorf("network %s declared as external, but could not be found", cfg.Name)
			}
			nets[key] = n
			continue
		}
		spec := network.Spec{Name: cfg.Name, Namespace: ns, Project: p.Name, Internal: cfg.Internal,
			Labels: cfg.Labels, Attachable: cfg.Attachable, BridgeName: cfg.DriverOpts["com.docker.network.bridge.name"]}
		if v := cfg.DriverOpts["com.docker.network.driver.mtu"]; v != "" {
			mtu, err := strconv.Atoi(v)
			if err != nil {
				return nil, fmt.Errorf("network %s: mtu %q is not a number", key, v)
			}
			spec.MTU = mtu
		}
		spec.IPv6 = cfg.EnableIPv6 != nil && *cfg.EnableIPv6
		// One ipam entry per family (the support check refuses more).
		subnetAt := "0"
		for i, c := range cfg.Ipam.Config {
			if specpkg.IsIPv6Subnet(c.Subnet) {
				spec.Subnet6, spec.Gateway6 = c.Subnet, c.Gateway
				continue
			}
			spec.Subnet, spec.Gateway, spec.IPRange = c.Subnet, c.Gateway, c.IPRange
			subnetAt = strconv.Itoa(i)
		}
		n, created, err := a.Net.Ensure(ctx, spec)
		if errors.Is(err, network.ErrSubnetInUse) {
			return nil, specpkg.At(p, err, "networks", key, "ipam", "config", subnetAt, "subnet")
		}
		if err != nil {
			return nil, err
		}
		if created {
			a.progress("Network", cfg.Name, "Created")
		}
		nets[key] = n
	}
	if a.DNS != nil {
		if err := a.DNS.Ensure(ctx); err != nil {
			return nil, fmt.Errorf("start the DNS supervisor: %w", err)
		}
	}
	return nets, nil
}

// netSetup is what create needs to put a container on its networks.
type netSetup struct {
	netns   string
	etc     model.Etc
	labels  map[string]string
	cleanup func()
}

// setupNetwork makes the container's namespace and attaches it to the
// service's networks (or finds the namespace it shares).
func (a *App) setupNetwork(ctx context.Context, p *types.Project, svc types.ServiceConfig, id string, nets map[string]*network.Network, co createOpts) (*netSetup, error) {
	aliases := co.aliases
	mode := svc.NetworkMode
	if target, ok := strings.CutPrefix(mode, "service:"); ok {
		c, err := a.serviceContainer(ctx, p.Name, target)
		if err != nil {
			return nil, fmt.Errorf("network_mode %s: %w", mode, err)
		}
		return a.sharedNetNS(ctx, c, mode)
	}
	if target, ok := strings.CutPrefix(mode, "container:"); ok {
		return a.sharedNetNS(ctx, target, mode)
	}
	if !bridged(svc) {
		return &netSetup{labels: map[string]string{}, cleanup: func() {}}, nil
	}
	keys := slices.Collect(maps.Keys(svc.Networks))
	slices.SortFunc(keys, func(x, y string) int {
		px, py := 0, 0
		if c := svc.Networks[x]; c != nil {
			px = c.Priority
		}
		if c := svc.Networks[y]; c != nil {
			py = c.Priority
		}
		return cmp.Or(cmp.Compare(py, px), strings.Compare(x, y))
	})
	if len(svc.Ports) > 0 {
		// Checking that a host port is free and publishing it (portmap's
		// DNAT rule, made by Attach) happen under one host-wide lock, so
		// two commands racing for a port cannot both take it.
		l, err := lock.Project(ctx, portLockDir, "ports")
		if err != nil {
			return nil, fmt.Errorf("service %s: %w", svc.Name, err)
		}
		defer l.Unlock()
	}
	var except []string
	if co.replaces != "" {
		except = []string{co.replaces} // its ports pass to this container
	}
	ports, err := publishedPorts(svc, except...)
	if err != nil {
		return nil, err
	}
	// The default route (and the published ports) go through the
	// non-internal network of the highest gw_priority, the first in
	// connection order among equals, as Docker picks the gateway.
	gateway := -1
	for i, k := range keys {
		if n := nets[k]; n != nil && !n.Internal && (gateway < 0 || gwPriority(svc, k) > gwPriority(svc, keys[gateway])) {
			gateway = i
		}
	}
	ifnames := interfaceNames(svc, keys)
	var as []network.Attachment
	routed := false
	for i, k := range keys {
		n := nets[k]
		if n == nil {
			return nil, fmt.Errorf("service %s: network %s was not set up", svc.Name, k)
		}
		att := network.Attachment{Network: n, IfName: ifnames[i], MAC: svc.MacAddress}
		if c := svc.Networks[k]; c != nil {
			att.IP, att.IP6 = c.Ipv4Address, c.Ipv6Address
			if c.MacAddress != "" {
				att.MAC = c.MacAddress
			}
		}
		if i == gateway {
			att.DefaultRoute, routed = true, true
			att.Ports = ports
		}
		as = append(as, att)
	}
	if len(ports) > 0 && !routed {
		return nil, fmt.Errorf("service %s: ports cannot be published from internal networks only", svc.Name)
	}
	netns := filepath.Join(a.StateDir, "netns", a.Engine.Namespace(), id)
	if err := a.clearLeftovers(ctx, id, netns, as); err != nil {
		return nil, err
	}
	if err := a.Net.NewNetNS(netns); err != nil {
		return nil, err
	}
	results, err := a.Net.Attach(ctx, id, netns, as)
	if err != nil {
		_ = a.Net.DeleteNetNS(netns)
		return nil, fmt.Errorf("container %s: %w", id, err)
	}
	cleanup := func() {
		_ = a.Net.Detach(context.WithoutCancel(ctx), id, netns, as)
		_ = a.Net.DeleteNetNS(netns)
	}
	if co.replaces != "" && len(ports) > 0 {
		// A successor on standby leaves new connections to the container
		// it replaces (portmap may have put its rules first); one that
		// replaces a stopped container takes them now.
		serve := id
		if co.standby {
			serve = co.replaces
		}
		if err := a.Net.ServePorts(serve); err != nil {
			cleanup()
			return nil, err
		}
	}
	names := []string{id}
	if aliases {
		names = append(names, svc.Name)
		if svc.Hostname != "" {
			names = append(names, svc.Hostname)
		}
		for _, l := range svc.Links {
			if _, alias, ok := strings.Cut(l, ":"); ok {
				names = append(names, alias)
			}
		}
	}
	var eps []labels.Endpoint
	etc := model.Etc{Options: append([]string{"ndots:0"}, svc.DNSOpts...), Search: svc.DNSSearch}
	for i, r := range results {
		epNames := slices.Clone(names)
		if c := svc.Networks[keys[i]]; c != nil && aliases {
			epNames = append(epNames, c.Aliases...)
		}
		ep := labels.Endpoint{Network: r.Network, IfName: r.IfName, IP: r.IP.String(), MAC: as[i].MAC, Names: epNames}
		etc.Addresses = append(etc.Addresses, r.IP.String())
		if r.IP6.IsValid() {
			ep.IP6 = r.IP6.String()
			etc.Addresses = append(etc.Addresses, ep.IP6)
		}
		eps = append(eps, ep)
	}
	etc.Nameservers = []string{results[0].Gateway.String()}
	epJSON, _ := json.Marshal(eps)
	lbls := map[string]string{labels.NetNS: netns, labels.Networks: string(epJSON)}
	if co.standby {
		lbls[labels.DNSWithheld] = withheldNames(eps, id)
	}
	if len(ports) > 0 {
		var ps []labels.Port
		for _, pm := range ports {
			ps = append(ps, labels.Port{HostIP: pm.HostIP, HostPort: pm.HostPort, ContainerPort: pm.ContainerPort, Protocol: pm.Protocol})
		}
		b, _ := json.Marshal(ps)
		lbls[labels.Ports] = string(b)
	}
	if len(svc.DNS) > 0 {
		lbls[labels.DNS] = strings.Join(svc.DNS, ",")
	}
	return &netSetup{netns: netns, etc: etc, labels: lbls, cleanup: cleanup}, nil
}

// withheldNames are the names of a container's endpoints other than its
// own name, comma-separated: what DNS stops answering for it while another
// container takes its place.
func withheldNames(eps []labels.Endpoint, id string) string {
	var names []string
	for _, e := range eps {
		for _, n := range e.Names {
			if n != id && !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	return strings.Join(names, ",")
}

// serviceContainer is the container of a service that network_mode
// service: and volumes_from share: its lowest-numbered running one, else
// its lowest-numbered one (replicas are numbered as Docker Compose numbers
// them, so the first need not be 1).
func (a *App) serviceContainer(ctx context.Context, project, service string) (string, error) {
	cs, err := a.Engine.List(ctx, map[string]string{labels.Project: project, labels.Service: service, labels.OneOff: boolLabel(false)})
	if err != nil {
		return "", err
	}
	if len(cs) == 0 {
		return "", fmt.Errorf("service %s has no container: %w", service, errdefs.ErrNotFound)
	}
	slices.SortFunc(cs, func(x, y runtime.Container) int {
		rx, ry := x.State == runtime.StateRunning, y.State == runtime.StateRunning
		if rx != ry {
			if rx {
				return -1
			}
			return 1
		}
		return containerNumber(x) - containerNumber(y)
	})
	return cs[0].ID, nil
}

func (a *App) sharedNetNS(ctx context.Context, target, mode string) (*netSetup, error) {
	c, err := a.Engine.Inspect(ctx, target)
	if err != nil {
		return nil, fmt.Errorf("network_mode %s: container %s: %w", mode, target, err)
	}
	ns := c.Labels[labels.NetNS]
	if ns == "" {
		return nil, fmt.Errorf("network_mode %s: container %s has no network namespace of its own", mode, target)
	}
	return &netSetup{netns: ns, labels: map[string]string{labels.NetNS: ns, labels.NetNSShared: "True"}, cleanup: func() {}}, nil
}

// clearLeftovers undoes what a command killed while creating container id
// left behind (its namespace, veths, addresses and port rules, from CNI's
// cache): the container itself does not exist, so they are nobody's.
// With as (the attachments about to be made), a DEL runs for each of them
// too: a command killed before CNI cached its result still holds an address
// lease, which host-local releases by container ID.
func (a *App) clearLeftovers(ctx context.Context, id, netns string, as []network.Attachment) error {
	if _, err := os.Lstat(netns); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := a.Net.DetachCached(ctx, id, netns); err != nil {
		return fmt.Errorf("container %s: clear what an interrupted command left: %w", id, err)
	}
	if err := a.Net.ReleaseStale(ctx, id, netns, as); err != nil {
		return fmt.Errorf("container %s: clear what an interrupted command left: %w", id, err)
	}
	return a.Net.DeleteNetNS(netns)
}

// sweepLeftovers clears, for `down`, the network namespaces named after the
// project's containers that no container owns any more: what commands
// killed half-way through a create left, or containers removed behind
// gocompose's back.
func (a *App) sweepLeftovers(ctx context.Context, project string) error {
	if a.Net == nil {
		return nil
	}
	paths, err := filepath.Glob(filepath.Join(a.StateDir, "netns", a.Engine.Namespace(), project+"-*"))
	if err != nil {
		return err
	}
	var errs []error
	for _, netns := range paths {
		id := filepath.Base(netns)
		if _, err := a.Engine.Inspect(ctx, id); err == nil || !runtime.IsNotFound(err) {
			continue // a container has it (or we cannot tell): not a leftover
		}
		errs = append(errs, a.clearLeftovers(ctx, id, netns, nil))
	}
	return errors.Join(errs...)
}

// portLockDir holds the host-wide port lock: outside any state directory,
// since every gocompose installation on the host shares the port space.
const portLockDir = "/run/lock/gocompose"

// publishedPorts turns ports: into port mappings, checking that each host
// port is free and choosing one where the file leaves it open.
func publishedPorts(svc types.ServiceConfig, except ...string) ([]network.PortMapping, error) {
	var out []network.PortMapping
	for _, p := range svc.Ports {
		proto := p.Protocol
		if proto == "" {
			proto = "tcp"
		}
		if proto != "tcp" && proto != "udp" {
			return nil, fmt.Errorf("service %s: port protocol %q is not supported", svc.Name, proto)
		}
		hostIP := p.HostIP
		if hostIP == "" {
			hostIP = "0.0.0.0"
		}
		pub := 0
		if p.Published != "" {
			n, err := strconv.Atoi(p.Published)
			if err != nil {
				return nil, fmt.Errorf("service %s: published port %q: want a number", svc.Name, p.Published)
			}
			pub = n
		}
		port, err := claimPort(hostIP, pub, proto, except...)
		if err != nil {
			return nil, fmt.Errorf("service %s: %w", svc.Name, err)
		}
		out = append(out, network.PortMapping{HostPort: port, ContainerPort: int(p.Target), Protocol: proto, HostIP: hostIP})
	}
	return out, nil
}

// claimPort checks that a host port is free (or picks a free one for 0):
// no socket bound and no port mapping of a container other than those in
// except.
func claimPort(hostIP string, port int, proto string, except ...string) (int, error) {
	if port != 0 {
		taken, err := network.HostPortTaken(port, proto, except...)
		if err != nil {
			return 0, err
		}
		if taken {
			return 0, fmt.Errorf("port %d/%s is already in use: another container publishes it", port, proto)
		}
	}
	addr := net.JoinHostPort(hostIP, strconv.Itoa(port))
	if proto == "udp" {
		c, err := net.ListenPacket("udp4", addr)
		if err != nil {
			return 0, fmt.Errorf("port %s/udp is already in use: %w", addr, err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port, nil
	}
	l, err := net.Listen("tcp4", addr)
	if err != nil {
		return 0, fmt.Errorf("port %s/tcp is already in use: %w", addr, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// teardownNetwork detaches a removed container from its networks and
// deletes its namespace, from what its labels say.
// attachmentsOf rebuilds a container's network attachments from its labels,
// each with the address and MAC it was given; networks that are gone are
// left out.
func (a *App) attachmentsOf(lbls map[string]string) ([]network.Attachment, error) {
	eps, err := labels.EndpointsOf(lbls)
	if err != nil {
		return nil, err
	}
	ps, err := labels.PortsOf(lbls)
	if err != nil {
		return nil, err
	}
	var ports []network.PortMapping
	for _, p := range ps {
		ports = append(ports, network.PortMapping{HostIP: p.HostIP, HostPort: p.HostPort, ContainerPort: p.ContainerPort, Protocol: p.Protocol})
	}
	var as []network.Attachment
	routed := false
	for _, e := range eps {
		n, err := a.Net.Get(a.Engine.Namespace(), e.Network)
		if err != nil {
			continue // network already gone: its leases went with it
		}
		att := network.Attachment{Network: n, IfName: e.IfName, IP: e.IP, MAC: e.MAC}
		if !routed && !n.Internal {
			att.DefaultRoute, routed = true, true
			att.Ports = ports
		}
		as = append(as, att)
	}
	return as, nil
}

// restoreNetwork brings back the network namespace of a container that is
// about to start when a reboot (or a cleared state directory) took it: the
// old attachments are released, a namespace is made at the same path and
// attached again with the same addresses, so names, records and /etc files
// stay right.
func (a *App) restoreNetwork(ctx context.Context, c runtime.Container) error {
	netns := c.Labels[labels.NetNS]
	if netns == "" || c.Labels[labels.NetNSShared] == "True" || a.Net == nil {
		return nil
	}
	if mounted, err := mounts.IsMountpoint(netns); err == nil && mounted {
		return nil
	}
	as, err := a.attachmentsOf(c.Labels)
	if err != nil {
		return fmt.Errorf("container %s: %w", c.ID, err)
	}
	for _, att := range as {
		if err := a.Net.Restore(att.Network); err != nil {
			return err
		}
	}
	if err := a.Net.Detach(ctx, c.ID, netns, as); err != nil {
		return fmt.Errorf("container %s: release its old network attachments: %w", c.ID, err)
	}
	_ = a.Net.DeleteNetNS(netns)
	if err := a.Net.NewNetNS(netns); err != nil {
		return fmt.Errorf("container %s: %w", c.ID, err)
	}
	if _, err := a.Net.Attach(ctx, c.ID, netns, as); err != nil {
		_ = a.Net.DeleteNetNS(netns)
		return fmt.Errorf("container %s: %w", c.ID, err)
	}
	a.progress("Container", c.ID, "Network restored")
	if a.DNS != nil {
		if err := a.DNS.Ensure(ctx); err != nil {
			return err
		}
		return a.DNS.Reload(ctx)
	}
	return nil
}

func (a *App) teardownNetwork(ctx context.Context, id string, lbls map[string]string) error {
	netns := lbls[labels.NetNS]
	if netns == "" || lbls[labels.NetNSShared] == "True" || a.Net == nil {
		return nil
	}
	as, err := a.attachmentsOf(lbls)
	if err != nil {
		return fmt.Errorf("container %s: %w", id, err)
	}
	err = a.Net.Release(ctx, id, netns, as)
	if derr := a.Net.DeleteNetNS(netns); derr != nil {
		err = errors.Join(err, derr)
	}
	return err
}

// removeContainer removes a container and what it held on the host.
func (a *App) removeContainer(ctx context.Context, id string, force bool) error {
	c, err := a.Engine.Inspect(ctx, id)
	if err != nil {
		if runtime.IsNotFound(err) {
			return nil
		}
		return err
	}
	if err := a.Engine.Remove(ctx, id, force); err != nil {
		return err
	}
	if !a.dry {
		health.Remove(a.StateDir, a.Engine.Namespace(), id)
	}
	if err := a.teardownNetwork(ctx, id, c.Labels); err != nil {
		return fmt.Errorf("remove %s: %w", id, err)
	}
	if c.Labels[labels.Networks] != "" {
		if err := a.reloadDNS(ctx); err != nil {
			a.warn("container %s removed, but its names may still resolve: %v", id, err)
		}
	}
	return nil
}

// removeWithVolumes removes a container and the anonymous volumes it
// mounted (rm -v, run --rm, up -V).
func (a *App) removeWithVolumes(ctx context.Context, id string, force bool) error {
	c, err := a.Engine.Inspect(ctx, id)
	if err != nil {
		if runtime.IsNotFound(err) {
			return nil
		}
		return err
	}
	if err := a.removeContainer(ctx, id, force); err != nil {
		return err
	}
	return a.removeAnonymousVolumes(c)
}

// removeNetworks removes the project's networks, external ones excepted.
// A network that one of kept (the project's containers `down SERVICE...`
// leaves) is attached to stays, with Docker Compose's "still in use" line.
func (a *App) removeNetworks(ctx context.Context, p *types.Project, kept []runtime.Container) error {
	ns := a.Engine.Namespace()
	inUse := map[string]bool{}
	for _, c := range kept {
		var eps []labels.Endpoint
		if err := json.Unmarshal([]byte(c.Labels[labels.Networks]), &eps); err != nil && c.Labels[labels.Networks] != "" {
			return fmt.Errorf("container %s: label %s: %w", c.ID, labels.Networks, err)
		}
		for _, ep := range eps {
			inUse[ep.Network] = true
		}
	}
	var names []string
	if len(p.Networks) > 0 {
		for _, k := range slices.Sorted(maps.Keys(p.Networks)) {
			if cfg := p.Networks[k]; !bool(cfg.External) {
				names = append(names, cfg.Name)
			}
		}
	} else if a.Net != nil {
		all, err := a.Net.List()
		if err != nil {
			return err
		}
		for _, n := range all {
			if n.Namespace == ns && n.Project == p.Name {
				names = append(names, n.Name)
			}
		}
	}
	if a.Net == nil {
		return nil
	}
	for _, name := range names {
		if _, err := a.Net.Get(ns, name); err != nil {
			continue
		}
		if inUse[name] {
			a.progress("Network", name, "Resource is still in use")
			continue
		}
		a.progress("Network", name, "Removing")
		if err := a.Net.Remove(ctx, ns, name); err != nil {
			return err
		}
		a.progress("Network", name, "Removed")
	}
	if err := a.reloadDNS(ctx); err != nil {
		a.warn("networks removed, but the DNS server still serves them: %v", err)
	}
	return nil
}

// EnsureDNS starts the supervisor when this namespace has networks and it is
// not running (it died, or the host rebooted), so any command brings name
// resolution back; records are rebuilt from labels.
func (a *App) EnsureDNS(ctx context.Context) error {
	if a.Net == nil || a.DNS == nil {
		return nil
	}
	nets, err := a.Net.List()
	if err != nil {
		return err
	}
	for _, n := range nets {
		if n.Namespace == a.Engine.Namespace() {
			return a.DNS.Ensure(ctx)
		}
	}
	return nil
}

// gwPriority is the service's gw_priority on network key.
func gwPriority(svc types.ServiceConfig, key string) int {
	if c := svc.Networks[key]; c != nil {
		return c.GatewayPriority
	}
	return 0
}

// interfaceNames names the container's interface on each network, in
// connection order: interface_name where the file gives one, else eth0,
// eth1… in that order, skipping the names given.
func interfaceNames(svc types.ServiceConfig, keys []string) []string {
	taken := map[string]bool{}
	for _, k := range keys {
		if c := svc.Networks[k]; c != nil && c.InterfaceName != "" {
			taken[c.InterfaceName] = true
		}
	}
	names := make([]string, len(keys))
	next := 0
	for i, k := range keys {
		if c := svc.Networks[k]; c != nil && c.InterfaceName != "" {
			names[i] = c.InterfaceName
			continue
		}
		for taken[fmt.Sprintf("eth%d", next)] {
			next++
		}
		names[i] = fmt.Sprintf("eth%d", next)
		next++
	}
	return names
}

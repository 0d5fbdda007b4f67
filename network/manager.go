package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/containernetworking/cni/libcni"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/gocompose/gocompose/internal/lock"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// DefaultCNIPaths are searched for plugin binaries.
var DefaultCNIPaths = []string{"/usr/lib/cni", "/opt/cni/bin"}

// Manager creates networks and attaches network namespaces to them.
type Manager struct {
	Store    Store
	Root     string // ipam leases and CNI cache live below
	CNIPaths []string
	// Rules writes the networks' packet filter rules; nil is the host's
	// iptables (HostRules).
	Rules Rules
}

// NewManager uses root (e.g. /var/lib/gocompose) for its files.
func NewManager(root string, cniPaths []string) *Manager {
	if len(cniPaths) == 0 {
		cniPaths = DefaultCNIPaths
	}
	return &Manager{Store: Store{Dir: filepath.Join(root, "networks")}, Root: root, CNIPaths: cniPaths}
}

func (m *Manager) ipamDir() string  { return filepath.Join(m.Root, "cni", "ipam") }
func (m *Manager) cacheDir() string { return filepath.Join(m.Root, "cni", "cache") }

func (m *Manager) cni() *libcni.CNIConfig {
	return libcni.NewCNIConfigWithCacheDir(m.CNIPaths, m.cacheDir(), nil)
}

// CheckPlugins reports a missing CNI plugin binary by name.
func (m *Manager) CheckPlugins() error {
	for _, p := range []string{"bridge", "host-local", "portmap"} {
		found := false
		for _, dir := range m.CNIPaths {
			if _, err := os.Stat(filepath.Join(dir, p)); err == nil {
				found = true
				break
			}
		}
		if !found {
			return fmt.Errorf("CNI plugin %q not found in %s (install Debian's containernetworking-plugins)", p, strings.Join(m.CNIPaths, ":"))
		}
	}
	return nil
}

// Ensure returns the network's record, creating it (with a subnet from the
// spec or the default pool) when it does not exist yet. Creation happens
// under a host-wide lock so two projects never get the same subnet.
func (m *Manager) Ensure(ctx context.Context, s Spec) (*Network, bool, error) {
	if n, err := m.Store.Get(s.Namespace, s.Name); err == nil {
		return n, false, m.Restore(n)
	} else if !errors.Is(err, ErrNotFound) {
		return nil, false, err
	}
	l, err := lock.Project(ctx, filepath.Join(m.Root, "cni"), "allocate")
	if err != nil {
		return nil, false, err
	}
	defer l.Unlock()
	if n, err := m.Store.Get(s.Namespace, s.Name); err == nil {
		return n, false, nil
	}
	n := &Network{Name: s.Name, Namespace: s.Namespace, Project: s.Project, Internal: s.Internal,
		MTU: s.MTU, Labels: s.Labels, Attachable: s.Attachable, IPRange: s.IPRange, SubnetMasq: !s.Internal, NetworkFirewall: true, InProcessAttach: true}
	n.Bridge = s.BridgeName
	if n.Bridge == "" {
		n.Bridge = BridgeName(s.Namespace, s.Name)
	}
	if len(n.Bridge) > 15 {
		return nil, false, fmt.Errorf("network %s: bridge name %q is longer than 15 characters", s.Name, n.Bridge)
	}
	if s.Subnet != "" {
		p, err := netip.ParsePrefix(s.Subnet)
		if err != nil || !p.Addr().Is4() {
			return nil, false, fmt.Errorf("network %s: ipam subnet %q: want an IPv4 CIDR", s.Name, s.Subnet)
		}
		n.Subnet = p.Masked()
		used, err := m.usedSubnets(false)
		if err != nil {
			return nil, false, err
		}
		for _, u := range used {
			if u.Overlaps(n.Subnet) {
				return nil, false, fmt.Errorf("network %s: ipam subnet %s overlaps %s, which another network or a route on this host uses: %w",
					s.Name, n.Subnet, u, ErrSubnetInUse)
			}
		}
	} else {
		used, err := m.usedSubnets(false)
		if err != nil {
			return nil, false, err
		}
		if n.Subnet, err = Allocate(DefaultPool, used); err != nil {
			return nil, false, err
		}
	}
	n.Gateway = firstHost(n.Subnet)
	if s.Gateway != "" {
		g, err := netip.ParseAddr(s.Gateway)
		if err != nil || !n.Subnet.Contains(g) {
			return nil, false, fmt.Errorf("network %s: gateway %q is not in subnet %s", s.Name, s.Gateway, n.Subnet)
		}
		n.Gateway = g
	}
	if s.IPRange != "" {
		r, err := netip.ParsePrefix(s.IPRange)
		if err != nil || !n.Subnet.Contains(r.Addr()) {
			return nil, false, fmt.Errorf("network %s: ip_range %q is not inside subnet %s", s.Name, s.IPRange, n.Subnet)
		}
	}
	if s.IPv6 {
		if err := m.allocate6(n, s); err != nil {
			return nil, false, err
		}
	}
	if err := m.rules().Ensure(ctx, n); err != nil {
		_ = m.rules().Remove(context.WithoutCancel(ctx), n)
		return nil, false, fmt.Errorf("network %s: %w", n.Name, err)
	}
	if err := m.writeConflist(n); err != nil {
		_ = m.rules().Remove(context.WithoutCancel(ctx), n)
		return nil, false, err
	}
	if err := m.Store.put(n); err != nil {
		_ = m.rules().Remove(context.WithoutCancel(ctx), n)
		_ = os.Remove(m.conflistPath(n.Name))
		return nil, false, err
	}
	return n, true, nil
}

// allocate6 gives an IPv6 network its subnet (the spec's, else a /64 of
// DefaultPool6) and gateway (the spec's, else the subnet's first host).
func (m *Manager) allocate6(n *Network, s Spec) error {
	used, err := m.usedSubnets(true)
	if err != nil {
		return err
	}
	if s.Subnet6 != "" {
		p, err := netip.ParsePrefix(s.Subnet6)
		if err != nil || !p.Addr().Is6() || p.Addr().Is4In6() {
			return fmt.Errorf("network %s: ipam subnet %q: want an IPv6 CIDR", s.Name, s.Subnet6)
		}
		if p.Bits() > 120 {
			return fmt.Errorf("network %s: ipam subnet %s is too small", s.Name, p)
		}
		n.Subnet6 = p.Masked()
		for _, u := range used {
			if u.Overlaps(n.Subnet6) {
				return fmt.Errorf("network %s: ipam subnet %s overlaps %s, which another network or a route on this host uses: %w",
					s.Name, n.Subnet6, u, ErrSubnetInUse)
			}
		}
	} else if n.Subnet6, err = Allocate6(DefaultPool6, used); err != nil {
		return err
	}
	n.Gateway6 = firstHost(n.Subnet6)
	if s.Gateway6 != "" {
		g, err := netip.ParseAddr(s.Gateway6)
		if err != nil || !n.Subnet6.Contains(g) {
			return fmt.Errorf("network %s: gateway %q is not in subnet %s", s.Name, s.Gateway6, n.Subnet6)
		}
		n.Gateway6 = g
	}
	return nil
}

// ConflistDir holds each network's conflist (as a container that
// publishes ports and takes its default route there gets it), for
// CNI-aware tools: `cnitool` or another runtime can attach to a gocompose
// network from it.
func (m *Manager) ConflistDir() string { return filepath.Join(m.Root, "cni", "net.d") }

func (m *Manager) conflistPath(name string) string {
	return filepath.Join(m.ConflistDir(), name+".conflist")
}

func (m *Manager) writeConflist(n *Network) error {
	b, err := Conflist(n, m.ipamDir(), true, true)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(m.ConflistDir(), 0o755); err != nil {
		return err
	}
	tmp := m.conflistPath(n.Name) + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, m.conflistPath(n.Name))
}

// Restore re-makes the network-wide host state a reboot loses (the
// masquerade rule and the network's filter rules); the bridge itself comes
// back with the first attach. Rules in place cost a check or two.
func (m *Manager) Restore(n *Network) error {
	ok, err := m.rules().Has(n)
	if err != nil {
		return fmt.Errorf("network %s: %w", n.Name, err)
	}
	if ok {
		return nil
	}
	if err := m.rules().Ensure(context.Background(), n); err != nil {
		return fmt.Errorf("network %s: %w", n.Name, err)
	}
	return nil
}

func (m *Manager) rules() Rules {
	if m.Rules == nil {
		return HostRules{LockDir: filepath.Join(m.Root, "cni")}
	}
	return m.Rules
}

// masqueradeRule is the one nat rule that lets a network's containers
// reach beyond the host, as Docker makes per bridge: traffic from the
// subnet leaving by another interface, multicast excepted.
func masqueradeRule(n *Network) []string {
	multicast := "224.0.0.0/4"
	if n.Subnet.Addr().Is6() {
		multicast = "ff00::/8"
	}
	return []string{"-s", n.Subnet.String(), "!", "-d", multicast, "!", "-o", n.Bridge,
		"-m", "comment", "--comment", "gocompose " + n.Bridge, "-j", "MASQUERADE"}
}

// usedSubnets are the IPv4 (or, with six, IPv6) subnets of our networks
// plus the host's routes of that family (but the default route and, for
// IPv6, the link-local, multicast and loopback ones).
func (m *Manager) usedSubnets(six bool) ([]netip.Prefix, error) {
	var used []netip.Prefix
	nets, err := m.Store.List()
	if err != nil {
		return nil, err
	}
	for _, n := range nets {
		if sub := map[bool]netip.Prefix{false: n.Subnet, true: n.Subnet6}[six]; sub.IsValid() {
			used = append(used, sub)
		}
	}
	family := netlink.FAMILY_V4
	if six {
		family = netlink.FAMILY_V6
	}
	routes, err := netlink.RouteList(nil, family)
	if err != nil {
		return nil, fmt.Errorf("list host routes: %w", err)
	}
	for _, r := range routes {
		if r.Dst == nil {
			continue
		}
		p, ok := prefixOf(r.Dst)
		if six && (p.Addr().IsLinkLocalUnicast() || p.Addr().IsMulticast() || p.Addr().IsLoopback()) {
			continue
		}
		if ok && p.Bits() > 0 {
			used = append(used, p)
		}
	}
	return used, nil
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	ip := n.IP
	if ip4 := ip.To4(); ip4 != nil {
		ip = ip4
	}
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a, ones).Masked(), true
}

// Remove deletes the bridge, its filter rules (or the isolation rules the
// firewall plugin left for it), its IPAM leases and its record. Running it twice is harmless.
func (m *Manager) Remove(ctx context.Context, namespace, name string) error {
	n, err := m.Store.Get(namespace, name)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if link, err := netlink.LinkByName(n.Bridge); err == nil {
		if err := netlink.LinkDel(link); err != nil {
			return fmt.Errorf("remove bridge %s: %w", n.Bridge, err)
		}
	}
	if err := m.rules().Remove(ctx, n); err != nil {
		return fmt.Errorf("network %s: %w", name, err)
	}
	if err := os.RemoveAll(filepath.Join(m.ipamDir(), n.Name)); err != nil {
		return err
	}
	if err := os.Remove(m.conflistPath(n.Name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return m.Store.remove(namespace, name)
}

// ServePorts makes the container's published ports win over other
// containers' mappings of the same ports (see the package function).
func (m *Manager) ServePorts(container string) error { return ServePorts(container) }

// argAfter is the argument that follows flag in a rule ("" if none).
func argAfter(args []string, flag string) string {
	if i := slices.Index(args, flag); i >= 0 && i+1 < len(args) {
		return args[i+1]
	}
	return ""
}

// PortMapping is one published port, as portmap takes it.
type PortMapping struct {
	HostPort      int    `json:"hostPort"`
	ContainerPort int    `json:"containerPort"`
	Protocol      string `json:"protocol"`
	HostIP        string `json:"hostIP,omitempty"`
}

// Attachment is one container interface on one network.
type Attachment struct {
	Network      *Network
	IfName       string
	IP           string // requested ipv4_address, optional
	IP6          string // requested ipv6_address, optional
	MAC          string
	DefaultRoute bool
	Ports        []PortMapping
}

// Result is what an attachment got.
type Result struct {
	Network string
	IfName  string
	IP      netip.Addr
	IP6     netip.Addr // on an IPv6 network
	Gateway netip.Addr
}

func (m *Manager) runtimeConf(containerID, netns string, a Attachment) *libcni.RuntimeConf {
	rt := &libcni.RuntimeConf{ContainerID: containerID, NetNS: netns, IfName: a.IfName,
		Args: [][2]string{{"IgnoreUnknown", "1"}}, CapabilityArgs: map[string]any{}}
	if ips := strings.Trim(a.IP+","+a.IP6, ","); ips != "" {
		rt.Args = append(rt.Args, [2]string{"IP", ips}) // host-local takes a list
	}
	if a.MAC != "" {
		rt.CapabilityArgs["mac"] = a.MAC
	}
	if len(a.Ports) > 0 {
		rt.CapabilityArgs["portMappings"] = a.Ports
	}
	return rt
}

func (m *Manager) list(a Attachment) (*libcni.NetworkConfigList, error) {
	b, err := Conflist(a.Network, m.ipamDir(), a.DefaultRoute, len(a.Ports) > 0)
	if err != nil {
		return nil, err
	}
	return libcni.ConfListFromBytes(b)
}

// Attach brings lo up and adds the namespace to each network in order. On
// error, what was attached is detached again.
func (m *Manager) Attach(ctx context.Context, containerID, netns string, as []Attachment) (results []Result, retErr error) {
	cni := m.cni()
	if err := loopbackUp(netns); err != nil {
		return nil, err
	}
	var done []Attachment
	defer func() {
		if retErr != nil {
			_ = m.Detach(context.WithoutCancel(ctx), containerID, netns, done)
		}
	}()
	for _, a := range as {
		list, err := m.list(a)
		if err != nil {
			return nil, err
		}
		r, err := m.add(ctx, cni, containerID, netns, a, list)
		if err != nil {
			return nil, fmt.Errorf("attach to network %s: %w", a.Network.Name, err)
		}
		done = append(done, a)
		out := Result{Network: a.Network.Name, IfName: a.IfName, Gateway: a.Network.Gateway}
		for _, ip := range r.IPs {
			if addr, ok := netip.AddrFromSlice(ip.Address.IP.To4()); ok {
				if !out.IP.IsValid() {
					out.IP = addr
				}
			} else if addr, ok := netip.AddrFromSlice(ip.Address.IP); ok && !out.IP6.IsValid() {
				out.IP6 = addr
			}
		}
		results = append(results, out)
	}
	return results, nil
}

// add runs one attachment: in-process for networks recorded so (with
// portmap as a plugin after it when ports are published), else the whole
// conflist through libcni.
func (m *Manager) add(ctx context.Context, cni *libcni.CNIConfig, containerID, netns string, a Attachment, list *libcni.NetworkConfigList) (*types100.Result, error) {
	rt := m.runtimeConf(containerID, netns, a)
	if !a.Network.InProcessAttach {
		res, err := cni.AddNetworkList(ctx, list, rt)
		if err != nil {
			return nil, err
		}
		return types100.NewResultFromResult(res)
	}
	res, err := addInProcess(containerID, netns, a, list)
	if err != nil {
		return nil, err
	}
	pm, err := portmapConf(list, res)
	if err != nil || pm == nil {
		return res, err
	}
	if _, err := cni.AddNetwork(ctx, pm, rt); err != nil {
		_ = delInProcess(containerID, netns, a, list, false)
		return nil, fmt.Errorf("portmap: %w", err)
	}
	return res, nil
}

// del undoes add; linksGo says the namespace is deleted next, which takes
// the interfaces with it.
func (m *Manager) del(ctx context.Context, cni *libcni.CNIConfig, containerID, netns string, a Attachment, list *libcni.NetworkConfigList, linksGo bool) error {
	rt := m.runtimeConf(containerID, netns, a)
	if !a.Network.InProcessAttach {
		return cni.DelNetworkList(ctx, list, rt)
	}
	var errs []error
	if pm, err := portmapConf(list, nil); err != nil {
		errs = append(errs, err)
	} else if pm != nil {
		if err := cni.DelNetwork(ctx, pm, rt); err != nil {
			errs = append(errs, fmt.Errorf("portmap: %w", err))
		}
	}
	if err := delInProcess(containerID, netns, a, list, linksGo); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// loopbackUp brings lo up in the namespace in-process (netlink), as the CNI
// loopback plugin would, without its exec and cache file.
func loopbackUp(path string) error {
	h, err := netns.GetFromPath(path)
	if err != nil {
		return fmt.Errorf("loopback: open %s: %w", path, err)
	}
	defer h.Close()
	nl, err := netlink.NewHandleAt(h)
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	defer nl.Close()
	lo, err := nl.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	if err := nl.LinkSetUp(lo); err != nil {
		return fmt.Errorf("loopback: set lo up: %w", err)
	}
	return nil
}

// Detach removes the namespace from the networks, last first, and frees
// the addresses and port mappings. Missing pieces are not errors, so it can
// finish a teardown that was interrupted.
func (m *Manager) Detach(ctx context.Context, containerID, netns string, as []Attachment) error {
	return m.detach(ctx, containerID, netns, as, false)
}

// Release is Detach for a namespace that is deleted next: interfaces made
// in-process are left to go with it (deleting a veth costs the kernel
// tens of milliseconds; a namespace's end takes all of them at once).
func (m *Manager) Release(ctx context.Context, containerID, netns string, as []Attachment) error {
	return m.detach(ctx, containerID, netns, as, true)
}

func (m *Manager) detach(ctx context.Context, containerID, netns string, as []Attachment, linksGo bool) error {
	cni := m.cni()
	var errs []error
	// Attach ran the loopback plugin before lo was brought up in-process;
	// its cached result is all that is left of it.
	if err := os.Remove(filepath.Join(m.cacheDir(), "results", "gocompose-lo-"+containerID+"-lo")); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	for i := len(as) - 1; i >= 0; i-- {
		a := as[i]
		list, err := m.list(a)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := m.del(ctx, cni, containerID, netns, a, list, linksGo); err != nil {
			errs = append(errs, fmt.Errorf("detach from network %s: %w", a.Network.Name, err))
		}
	}
	return errors.Join(errs...)
}

// DetachCached removes a container from every network CNI's cache says it
// was attached to, from the cached configuration: it finishes a teardown
// (or undoes an attach) whose container record is gone, so it needs no
// labels. Nothing cached is nothing to do.
func (m *Manager) DetachCached(ctx context.Context, containerID, netns string) error {
	cni := m.cni()
	atts, err := cni.GetCachedAttachments(containerID)
	if err != nil {
		return fmt.Errorf("container %s: read CNI cache: %w", containerID, err)
	}
	var errs []error
	for _, a := range atts {
		rt := &libcni.RuntimeConf{ContainerID: containerID, NetNS: netns, IfName: a.IfName, Args: a.CniArgs, CapabilityArgs: a.CapabilityArgs}
		// A whole conflist (plugins run), or the portmap entry alone (run
		// after an in-process attach).
		// (A plugin's config parses as a list with no plugins.)
		if list, err := libcni.ConfListFromBytes(a.Config); err == nil && len(list.Plugins) > 0 {
			err = cni.DelNetworkList(ctx, list, rt)
			if err != nil {
				errs = append(errs, fmt.Errorf("container %s: detach from network %s: %w", containerID, a.Network, err))
			}
			continue
		}
		conf, err := libcni.NetworkPluginConfFromBytes(a.Config)
		if err != nil {
			errs = append(errs, fmt.Errorf("container %s: cached network %s: %w", containerID, a.Network, err))
			continue
		}
		if err := cni.DelNetwork(ctx, conf, rt); err != nil {
			errs = append(errs, fmt.Errorf("container %s: detach from network %s: %w", containerID, a.Network, err))
		}
	}
	// In-process attachments leave no cache: their leases say whose they are.
	if err := m.releaseLeasesOf(containerID); err != nil {
		errs = append(errs, err)
	}
	if err := os.Remove(filepath.Join(m.cacheDir(), "results", "gocompose-lo-"+containerID+"-lo")); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// lease is one address host-local's store holds for a container.
type lease struct {
	ip     netip.Addr
	ifName string
}

// leasesOf reads the leases a network's store holds for the container
// (each file is named by its address and says container and interface);
// a network with no store has none.
func (m *Manager) leasesOf(network, containerID string) []lease {
	dir := filepath.Join(m.ipamDir(), network)
	files, _ := os.ReadDir(dir)
	var out []lease
	for _, f := range files {
		ip, err := netip.ParseAddr(f.Name())
		if err != nil {
			continue // last_reserved_ip and lock files
		}
		b, err := os.ReadFile(filepath.Join(dir, f.Name()))
		if err != nil {
			continue
		}
		id, ifName, _ := strings.Cut(string(b), "\n")
		if strings.TrimSpace(id) == containerID {
			out = append(out, lease{ip, strings.TrimSpace(ifName)})
		}
	}
	return out
}

// releaseLeasesOf releases every address host-local's store holds for the
// container, on any network.
func (m *Manager) releaseLeasesOf(containerID string) error {
	nets, err := os.ReadDir(m.ipamDir())
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	var errs []error
	for _, n := range nets {
		if !n.IsDir() {
			continue
		}
		for _, l := range m.leasesOf(n.Name(), containerID) {
			if err := releaseLease(m.ipamDir(), n.Name(), containerID, l.ifName); err != nil {
				errs = append(errs, fmt.Errorf("container %s: network %s: %w", containerID, n.Name(), err))
			}
		}
	}
	return errors.Join(errs...)
}

// ReleaseStale undoes an attach that was killed before CNI cached its
// result, so DEL has no previous result to work from: for each address
// host-local leased to the container on networks that still run the
// firewall plugin, it deletes the plugin's two per-address rules (which its DEL cannot find
// without that result), then runs DEL, which releases the leases by
// container ID.
func (m *Manager) ReleaseStale(ctx context.Context, containerID, netns string, as []Attachment) error {
	var errs []error
	for _, a := range as {
		if a.Network.NetworkFirewall {
			continue // no per-address rules
		}
		for _, l := range m.leasesOf(a.Network.Name, containerID) {
			ip := l.ip
			for _, rule := range [][]string{
				{"CNI-FORWARD", "-d", ip.String() + "/32", "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"},
				{"CNI-FORWARD", "-s", ip.String() + "/32", "-j", "ACCEPT"},
			} {
				if err := deleteRule("filter", rule[0], rule[1:]...); err != nil {
					errs = append(errs, fmt.Errorf("container %s: %w", containerID, err))
				}
			}
		}
	}
	// DEL of what was never fully added may complain about missing
	// pieces; what matters is that host-local releases the leases.
	_ = m.Detach(ctx, containerID, netns, as)
	return errors.Join(errs...)
}

// Get returns the record of a network.
func (m *Manager) Get(namespace, name string) (*Network, error) { return m.Store.Get(namespace, name) }

// List returns every network record.
func (m *Manager) List() ([]Network, error) { return m.Store.List() }

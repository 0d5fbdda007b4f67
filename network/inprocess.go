package network

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"

	"github.com/containernetworking/cni/libcni"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/ip"
	"github.com/containernetworking/plugins/pkg/ipam"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/containernetworking/plugins/pkg/utils/sysctl"
	"github.com/containernetworking/plugins/plugins/ipam/host-local/backend/allocator"
	"github.com/containernetworking/plugins/plugins/ipam/host-local/backend/disk"
	"github.com/vishvananda/netlink"
)

// In-process attach: for networks recorded with InProcessAttach, what the
// bridge and host-local plugins do for an ADD or DEL of the network's
// conflist is done here, with the plugins' own Go packages (host-local's
// allocator and on-disk lease store, the veth and address helpers) and
// netlink, instead of two plugin executions per container. The conflist is
// the same one the plugins would get, and leases are the same files in the
// same directory, so either path can release what the other made. Portmap
// still runs as a plugin, for containers that publish ports.

// bridgeConf is what in-process attach reads of the bridge plugin's entry.
type bridgeConf struct {
	Bridge      string `json:"bridge"`
	IsGateway   bool   `json:"isGateway"`
	IPMasq      bool   `json:"ipMasq"`
	MTU         int    `json:"mtu"`
	HairpinMode bool   `json:"hairpinMode"`
}

// inProcessConfs reads the bridge entry and its IPAM from the conflist.
func inProcessConfs(list *libcni.NetworkConfigList) (bridgeConf, *allocator.IPAMConfig, error) {
	var bc bridgeConf
	if len(list.Plugins) == 0 || list.Plugins[0].Network.Type != "bridge" {
		return bc, nil, fmt.Errorf("network %s: in-process attach needs the bridge plugin first", list.Name)
	}
	b := list.Plugins[0].Bytes
	if err := json.Unmarshal(b, &bc); err != nil {
		return bc, nil, fmt.Errorf("network %s: bridge config: %w", list.Name, err)
	}
	if bc.IPMasq {
		return bc, nil, fmt.Errorf("network %s: in-process attach does not masquerade per container", list.Name)
	}
	conf, _, err := allocator.LoadIPAMConfig(b, "")
	if err != nil {
		return bc, nil, fmt.Errorf("network %s: ipam config: %w", list.Name, err)
	}
	// The plugins get the list's name injected at execution; host-local
	// keeps its leases under it.
	conf.Name = list.Name
	if n := len(conf.Ranges); n != 1 && n != 2 {
		return bc, nil, fmt.Errorf("network %s: in-process attach takes one range set per address family, got %d", list.Name, n)
	}
	return bc, conf, nil
}

// addInProcess attaches the namespace as the bridge plugin with host-local
// would: a lease, a veth pair on the bridge (made if missing, with the
// gateway address), the address and routes inside. On error nothing of it
// is left.
func addInProcess(containerID, netnsPath string, a Attachment, list *libcni.NetworkConfigList) (res *current.Result, retErr error) {
	bc, conf, err := inProcessConfs(list)
	if err != nil {
		return nil, err
	}
	store, err := disk.New(conf.Name, conf.DataDir)
	if err != nil {
		return nil, fmt.Errorf("ipam %s: %w", conf.Name, err)
	}
	defer store.Close()
	// An address from each range set (IPv4, and IPv6 on an IPv6 network),
	// the requested one where it falls in the range, as host-local does.
	defer func() {
		if retErr != nil && store.Lock() == nil {
			_ = store.ReleaseByID(containerID, a.IfName) // every family's lease
			_ = store.Unlock()
		}
	}()
	wanted := map[string]net.IP{}
	for field, want := range map[string]string{"ipv4_address": a.IP, "ipv6_address": a.IP6} {
		if want == "" {
			continue
		}
		if wanted[field] = net.ParseIP(want); wanted[field] == nil {
			return nil, fmt.Errorf("%s %q is not an address", field, want)
		}
	}
	var ipcs []*current.IPConfig
	for idx := range conf.Ranges {
		rs := &conf.Ranges[idx]
		var requested net.IP
		for field, ip := range wanted {
			if rs.Contains(ip) {
				requested = ip
				delete(wanted, field)
			}
		}
		alloc := allocator.NewIPAllocator(rs, store, idx)
		ipc, err := alloc.Get(containerID, a.IfName, requested)
		if err != nil {
			return nil, fmt.Errorf("ipam %s: %w", conf.Name, err)
		}
		ipcs = append(ipcs, ipc)
	}
	for field, ip := range wanted {
		return nil, fmt.Errorf("ipam %s: %s %s is not in the network's subnets", conf.Name, field, ip)
	}
	var br netlink.Link
	for _, ipc := range ipcs {
		if br, err = ensureBridge(bc, ipc); err != nil {
			return nil, err
		}
	}
	target, err := ns.GetNS(netnsPath)
	if err != nil {
		return nil, fmt.Errorf("netns %s: %w", netnsPath, err)
	}
	defer target.Close()
	var hostIf net.Interface
	var result *current.Result
	err = target.Do(func(hostNS ns.NetNS) error {
		h, c, err := ip.SetupVeth(a.IfName, bc.MTU, a.MAC, hostNS)
		if err != nil {
			return err
		}
		hostIf = h
		// As the bridge plugin: announce the address when it comes up
		// (peers holding an ARP entry for it from an earlier container
		// learn the new MAC), and no IPv6 duplicate detection.
		_, _ = sysctl.Sysctl(fmt.Sprintf("net/ipv4/conf/%s/arp_notify", a.IfName), "1")
		_, _ = sysctl.Sysctl(fmt.Sprintf("net/ipv6/conf/%s/accept_dad", a.IfName), "0")
		for _, ipc := range ipcs {
			ipc.Interface = current.Int(1)
		}
		result = &current.Result{
			CNIVersion: list.CNIVersion,
			Interfaces: []*current.Interface{{Name: h.Name, Mac: h.HardwareAddr.String()}, {Name: c.Name, Mac: c.HardwareAddr.String(), Sandbox: netnsPath}},
			IPs:        ipcs,
			Routes:     conf.Routes,
		}
		if err := ipam.ConfigureIface(a.IfName, result); err != nil {
			_ = ip.DelLinkByName(a.IfName)
			return err
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("veth in %s: %w", netnsPath, err)
	}
	undoVeth := func() {
		_ = target.Do(func(ns.NetNS) error { return ip.DelLinkByName(a.IfName) })
	}
	host, err := netlink.LinkByName(hostIf.Name)
	if err == nil {
		err = netlink.LinkSetMaster(host, br)
	}
	if err == nil && bc.HairpinMode {
		err = netlink.LinkSetHairpin(host, true)
	}
	if err != nil {
		undoVeth()
		return nil, fmt.Errorf("veth %s on bridge %s: %w", hostIf.Name, bc.Bridge, err)
	}
	return result, nil
}

// ensureBridge finds or makes the bridge, up, with the gateway's address
// when the network is the gateway, and forwarding on, as the bridge plugin
// does on every ADD.
func ensureBridge(bc bridgeConf, ipc *current.IPConfig) (netlink.Link, error) {
	br, err := netlink.LinkByName(bc.Bridge)
	if err != nil {
		if !errors.As(err, new(netlink.LinkNotFoundError)) {
			return nil, fmt.Errorf("bridge %s: %w", bc.Bridge, err)
		}
		attrs := netlink.NewLinkAttrs()
		attrs.Name, attrs.MTU, attrs.TxQLen = bc.Bridge, bc.MTU, -1
		if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: attrs}); err != nil && !errors.Is(err, syscall.EEXIST) {
			return nil, fmt.Errorf("make bridge %s: %w", bc.Bridge, err)
		}
		if br, err = netlink.LinkByName(bc.Bridge); err != nil {
			return nil, fmt.Errorf("bridge %s: %w", bc.Bridge, err)
		}
		// Its routes are ours, as the bridge plugin has it.
		_, _ = sysctl.Sysctl(fmt.Sprintf("net/ipv6/conf/%s/accept_ra", bc.Bridge), "0")
	}
	if _, ok := br.(*netlink.Bridge); !ok {
		return nil, fmt.Errorf("%s is a %s, not a bridge", bc.Bridge, br.Type())
	}
	if br.Attrs().Flags&net.FlagUp == 0 {
		if err := netlink.LinkSetUp(br); err != nil {
			return nil, fmt.Errorf("set bridge %s up: %w", bc.Bridge, err)
		}
	}
	if !bc.IsGateway || ipc.Gateway == nil {
		return br, nil
	}
	gw := &net.IPNet{IP: ipc.Gateway, Mask: ipc.Address.Mask}
	family := netlink.FAMILY_V4
	if ipc.Gateway.To4() == nil {
		family = netlink.FAMILY_V6
		// The bridge plugin's way: IPv6 on, no duplicate address
		// detection for the gateway, forwarding on.
		_, _ = sysctl.Sysctl(fmt.Sprintf("net/ipv6/conf/%s/disable_ipv6", bc.Bridge), "0")
		_, _ = sysctl.Sysctl(fmt.Sprintf("net/ipv6/conf/%s/accept_dad", bc.Bridge), "0")
	}
	addrs, err := netlink.AddrList(br, family)
	if err != nil {
		return nil, fmt.Errorf("bridge %s addresses: %w", bc.Bridge, err)
	}
	has := false
	for _, ad := range addrs {
		if ad.IPNet.String() == gw.String() {
			has = true
		}
	}
	if !has {
		if err := netlink.AddrAdd(br, &netlink.Addr{IPNet: gw}); err != nil && !errors.Is(err, syscall.EEXIST) {
			return nil, fmt.Errorf("bridge %s: add %s: %w", bc.Bridge, gw, err)
		}
		// Pin the bridge's MAC to the one it has, as the bridge plugin does:
		// left alone, a bridge takes its lowest port's and changes as
		// containers come and go, and their ARP entries for the gateway
		// (their DNS server) go stale for seconds.
		if err := netlink.LinkSetHardwareAddr(br, br.Attrs().HardwareAddr); err != nil {
			return nil, fmt.Errorf("bridge %s: pin its MAC: %w", bc.Bridge, err)
		}
	}
	if family == netlink.FAMILY_V6 {
		if b, err := os.ReadFile("/proc/sys/net/ipv6/conf/all/forwarding"); err != nil || len(b) == 0 || b[0] != '1' {
			if err := ip.EnableIP6Forward(); err != nil {
				return nil, fmt.Errorf("enable IPv6 forwarding: %w", err)
			}
		}
		return br, nil
	}
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); err != nil || len(b) == 0 || b[0] != '1' {
		if err := ip.EnableIP4Forward(); err != nil {
			return nil, fmt.Errorf("enable IPv4 forwarding: %w", err)
		}
	}
	return br, nil
}

// delInProcess undoes addInProcess: the container's lease is released
// and, unless the namespace is about to go (linksGo), its interface is
// deleted (the host end goes with it). Missing pieces are not errors.
func delInProcess(containerID, netnsPath string, a Attachment, list *libcni.NetworkConfigList, linksGo bool) error {
	_, conf, err := inProcessConfs(list)
	if err != nil {
		return err
	}
	var errs []error
	if !linksGo {
		if target, err := ns.GetNS(netnsPath); err == nil {
			err := target.Do(func(ns.NetNS) error { return ip.DelLinkByName(a.IfName) })
			if err != nil && !errors.Is(err, ip.ErrLinkNotFound) {
				errs = append(errs, fmt.Errorf("delete %s in %s: %w", a.IfName, netnsPath, err))
			}
			target.Close()
		}
	}
	if err := releaseLease(conf.DataDir, conf.Name, containerID, a.IfName); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// releaseLease frees the container's addresses on one network in
// host-local's store, under the store's lock as host-local takes it.
func releaseLease(dataDir, network, containerID, ifname string) error {
	store, err := disk.New(network, dataDir)
	if err != nil {
		return fmt.Errorf("ipam %s: %w", network, err)
	}
	defer store.Close()
	if err := store.Lock(); err != nil {
		return fmt.Errorf("ipam %s: %w", network, err)
	}
	defer store.Unlock()
	if err := store.ReleaseByID(containerID, ifname); err != nil {
		return fmt.Errorf("ipam %s: release %s: %w", network, containerID, err)
	}
	return nil
}

// portmapConf is the conflist's portmap entry as a network of its own,
// with the bridge's result as its previous result, for running it alone.
func portmapConf(list *libcni.NetworkConfigList, prev *current.Result) (*libcni.PluginConfig, error) {
	for _, p := range list.Plugins {
		if p.Network.Type != "portmap" {
			continue
		}
		var raw map[string]any
		if err := json.Unmarshal(p.Bytes, &raw); err != nil {
			return nil, err
		}
		raw["cniVersion"], raw["name"] = list.CNIVersion, list.Name
		if prev != nil {
			raw["prevResult"] = prev
		}
		b, err := json.Marshal(raw)
		if err != nil {
			return nil, err
		}
		return libcni.NetworkPluginConfFromBytes(b)
	}
	return nil, nil
}

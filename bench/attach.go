package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/gocompose/gocompose/network"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// attachN is how many namespaces each attach row attaches and detaches
// one after another; rows show the time per container.
const attachN = 30

// attachBench measures attaching a network namespace to a bridge network
// and detaching it again, per container: gocompose's path (network.Manager,
// as `up` and `down` call it), the CNI plugins doing what gocompose did
// before per-network rules (bridge, host-local and the firewall plugin
// through libcni), and the floor: bare netlink making the same veth,
// address and route with no IPAM and no iptables.
func attachBench(ctx context.Context) []row {
	root := filepath.Join(work, "attach")
	mgr := network.NewManager(root, nil)
	n, _, err := mgr.Ensure(ctx, network.Spec{Name: "bench_attach", Namespace: ns, Project: "bench", Subnet: "10.212.0.0/24"})
	check(err)
	defer func() { check(mgr.Remove(context.Background(), ns, n.Name)) }()

	nsPaths := make([]string, attachN)
	for i := range nsPaths {
		nsPaths[i] = filepath.Join(root, "netns", fmt.Sprintf("c%d", i))
		check(network.NewNetNS(nsPaths[i]))
	}
	defer func() {
		for _, p := range nsPaths {
			_ = network.DeleteNetNS(p)
		}
	}()
	perContainer := func(d time.Duration) time.Duration { return d / attachN }

	var rows []row
	var gcAdd, gcDel []time.Duration
	for i := 0; i <= *runs; i++ {
		add, del := timed2(func(j int) {
			_, err := mgr.Attach(ctx, fmt.Sprintf("gc-%d", j), nsPaths[j], []network.Attachment{{Network: n, IfName: "eth0", DefaultRoute: true}})
			check(err)
		}, func(j int) {
			check(mgr.Detach(ctx, fmt.Sprintf("gc-%d", j), nsPaths[j], []network.Attachment{{Network: n, IfName: "eth0", DefaultRoute: true}}))
		})
		if i > 0 {
			gcAdd, gcDel = append(gcAdd, perContainer(add)), append(gcDel, perContainer(del))
		}
	}
	// Release: detach for a namespace deleted right after (what down
	// does): the namespace's end takes its interfaces.
	var gcRel []time.Duration
	for i := 0; i <= *runs; i++ {
		_, rel := timed2(func(j int) {
			_, err := mgr.Attach(ctx, fmt.Sprintf("gc-%d", j), nsPaths[j], []network.Attachment{{Network: n, IfName: "eth0", DefaultRoute: true}})
			check(err)
		}, func(j int) {
			check(mgr.Release(ctx, fmt.Sprintf("gc-%d", j), nsPaths[j], []network.Attachment{{Network: n, IfName: "eth0", DefaultRoute: true}}))
			check(network.DeleteNetNS(nsPaths[j]))
			check(network.NewNetNS(nsPaths[j]))
		})
		if i > 0 {
			gcRel = append(gcRel, perContainer(rel))
		}
	}

	// The CNI plugins with the firewall plugin per container, on a bridge
	// of their own.
	plug := *n
	plug.Name, plug.Bridge = "bench_plugins", "gcb-plugins"
	plug.Subnet = netip.MustParsePrefix("10.213.0.0/24")
	plug.Gateway = netip.MustParseAddr("10.213.0.1")
	conf, err := network.Conflist(&plug, filepath.Join(root, "ipam"), true, false)
	check(err)
	list, err := libcni.ConfListFromBytes(withFirewall(conf))
	check(err)
	cni := libcni.NewCNIConfigWithCacheDir(network.DefaultCNIPaths, filepath.Join(root, "cache"), nil)
	rt := func(j int) *libcni.RuntimeConf {
		return &libcni.RuntimeConf{ContainerID: fmt.Sprintf("p-%d", j), NetNS: nsPaths[j], IfName: "eth0"}
	}
	var plAdd, plDel []time.Duration
	for i := 0; i <= *runs; i++ {
		add, del := timed2(func(j int) {
			_, err := cni.AddNetworkList(ctx, list, rt(j))
			check(err)
		}, func(j int) { check(cni.DelNetworkList(ctx, list, rt(j))) })
		if i > 0 {
			plAdd, plDel = append(plAdd, perContainer(add)), append(plDel, perContainer(del))
		}
	}
	if l, err := netlink.LinkByName(plug.Bridge); err == nil {
		_ = netlink.LinkDel(l)
	}
	check(network.HostRules{LockDir: root}.Remove(ctx, &plug))

	// Bare netlink: a veth into the namespace, its address and default
	// route, the host end on a bridge.
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "gcb-bare"}}
	check(netlink.LinkAdd(br))
	defer netlink.LinkDel(br)
	check(netlink.AddrAdd(br, &netlink.Addr{IPNet: &net.IPNet{IP: net.IPv4(10, 214, 0, 1), Mask: net.CIDRMask(24, 32)}}))
	check(netlink.LinkSetUp(br))
	var bAdd, bDel []time.Duration
	for i := 0; i <= *runs; i++ {
		add, del := timed2(func(j int) { check(bareAttach(br, nsPaths[j], j)) }, func(j int) {
			l, err := netlink.LinkByName(fmt.Sprintf("gcb-v%d", j))
			check(err)
			check(netlink.LinkDel(l))
		})
		if i > 0 {
			bAdd, bDel = append(bAdd, perContainer(add)), append(bDel, perContainer(del))
		}
	}
	bareAdd, bareDel := row{samples: bAdd}.median(), row{samples: bDel}.median()
	rows = append(rows,
		row{name: "floor: bare netlink attach (veth, address, route), per container", samples: bAdd},
		row{name: "floor: bare netlink detach, per container", samples: bDel},
		row{name: "CNI plugins attach (bridge, host-local, firewall), per container", samples: plAdd, floor: bareAdd, floorLabel: "netlink"},
		row{name: "CNI plugins detach, per container", samples: plDel, floor: bareDel, floorLabel: "netlink"},
		row{name: "gocompose network attach, per container", samples: gcAdd, floor: bareAdd, floorLabel: "netlink"},
		row{name: "gocompose network detach, per container", samples: gcDel, floor: bareDel, floorLabel: "netlink"},
		row{name: "gocompose network release + namespace delete (down), per container", samples: gcRel, floor: bareDel, floorLabel: "netlink detach"},
	)
	return rows
}

// timed2 runs add for every namespace, then del for every namespace, and
// returns the time each pass took.
func timed2(add, del func(j int)) (time.Duration, time.Duration) {
	a := timed(func() {
		for j := 0; j < attachN; j++ {
			add(j)
		}
	})
	d := timed(func() {
		for j := 0; j < attachN; j++ {
			del(j)
		}
	})
	return a, d
}

// withFirewall appends the firewall plugin to a conflist, as gocompose
// ran it per container before isolation became per-network rules.
func withFirewall(conf []byte) []byte {
	list, err := libcni.ConfListFromBytes(conf)
	check(err)
	var raw []byte
	raw = append(raw, `{"cniVersion":"`+list.CNIVersion+`","name":"`+list.Name+`","plugins":[`...)
	for _, p := range list.Plugins {
		raw = append(raw, p.Bytes...)
		raw = append(raw, ',')
	}
	raw = append(raw, `{"type":"firewall","backend":"iptables","ingressPolicy":"same-bridge"}]}`...)
	return raw
}

func bareAttach(br *netlink.Bridge, path string, j int) error {
	h, err := netns.GetFromPath(path)
	if err != nil {
		return err
	}
	defer h.Close()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: fmt.Sprintf("gcb-v%d", j), MasterIndex: br.Index},
		PeerName: "eth0", PeerNamespace: netlink.NsFd(int(h))}
	if err := netlink.LinkAdd(veth); err != nil {
		return err
	}
	if err := netlink.LinkSetUp(veth); err != nil {
		return err
	}
	nl, err := netlink.NewHandleAt(h)
	if err != nil {
		return err
	}
	defer nl.Close()
	eth, err := nl.LinkByName("eth0")
	if err != nil {
		return err
	}
	ip := net.IPv4(10, 214, 0, byte(10+j))
	if err := nl.AddrAdd(eth, &netlink.Addr{IPNet: &net.IPNet{IP: ip, Mask: net.CIDRMask(24, 32)}}); err != nil {
		return err
	}
	if err := nl.LinkSetUp(eth); err != nil {
		return err
	}
	return nl.RouteAdd(&netlink.Route{LinkIndex: eth.Attrs().Index, Gw: net.IPv4(10, 214, 0, 1)})
}

package network

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// needsRoot skips a test that makes namespaces and links (failing under
// CI=true, where it must run).
func needsRoot(t *testing.T) {
	t.Helper()
	reason := ""
	if os.Geteuid() != 0 {
		reason = "needs root"
	} else if err := NewManager(t.TempDir(), nil).CheckPlugins(); err != nil {
		reason = err.Error()
	}
	if reason == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal(reason)
	}
	t.Skip(reason)
}

// inProcessFixture makes a network (rules faked) and an empty namespace,
// both removed after the test.
func inProcessFixture(t *testing.T, name, subnet string) (*Manager, *Network, string) {
	t.Helper()
	m := NewManager(t.TempDir(), nil)
	m.Rules = &fakeRules{}
	n, _, err := m.Ensure(context.Background(), Spec{Name: name, Namespace: "gocompose-unit", Subnet: subnet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Remove(context.Background(), n.Namespace, n.Name) })
	path := filepath.Join(t.TempDir(), "ns")
	if err := NewNetNS(path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = DeleteNetNS(path) })
	return m, n, path
}

// An in-process attach gives the namespace what the bridge and host-local
// plugins would (address, default route, a port on the bridge) and a lease
// host-local itself can release; a lease host-local made is released by
// the in-process detach.
func TestInProcessAttachSharesHostLocalLeases(t *testing.T) {
	needsRoot(t)
	ctx := context.Background()
	m, n, path := inProcessFixture(t, "inproc_test", "10.217.0.0/24")
	att := []Attachment{{Network: n, IfName: "eth0", DefaultRoute: true}}
	res, err := m.Attach(ctx, "c1", path, att)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].IP != netip.MustParseAddr("10.217.0.2") {
		t.Fatalf("attach result %+v", res)
	}
	lease, err := os.ReadFile(filepath.Join(m.ipamDir(), n.Name, "10.217.0.2"))
	if err != nil || string(lease) != "c1\r\neth0" {
		t.Errorf("lease %q, %v", lease, err)
	}
	h, err := netns.GetFromPath(path)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	nl, err := netlink.NewHandleAt(h)
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	eth, err := nl.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	addrs, _ := nl.AddrList(eth, netlink.FAMILY_V4)
	routes, _ := nl.RouteList(eth, netlink.FAMILY_V4)
	hasDefault := false
	for _, r := range routes {
		if (r.Dst == nil || r.Dst.String() == "0.0.0.0/0") && r.Gw.String() == "10.217.0.1" {
			hasDefault = true
		}
	}
	if len(addrs) != 1 || addrs[0].IPNet.String() != "10.217.0.2/24" || !hasDefault {
		t.Errorf("in the namespace: addresses %v, routes %v", addrs, routes)
	}
	br, err := netlink.LinkByName(n.Bridge)
	if err != nil {
		t.Fatal(err)
	}
	if gw, _ := netlink.AddrList(br, netlink.FAMILY_V4); len(gw) != 1 || gw[0].IPNet.String() != "10.217.0.1/24" {
		t.Errorf("bridge addresses %v", gw)
	}

	// host-local (the plugin) releases the in-process lease...
	list, err := m.list(att[0])
	if err != nil {
		t.Fatal(err)
	}
	rt := &libcni.RuntimeConf{ContainerID: "c1", NetNS: path, IfName: "eth0"}
	if err := m.cni().DelNetworkList(ctx, list, rt); err != nil {
		t.Fatalf("plugins' DEL of an in-process attachment: %v", err)
	}
	if _, err := os.Stat(filepath.Join(m.ipamDir(), n.Name, "10.217.0.2")); !os.IsNotExist(err) {
		t.Errorf("lease after the plugins' DEL: %v", err)
	}
	// ...and the in-process detach releases what the plugins leased.
	if _, err := m.cni().AddNetworkList(ctx, list, &libcni.RuntimeConf{ContainerID: "c2", NetNS: path, IfName: "eth1"}); err != nil {
		t.Fatalf("plugins' ADD: %v", err)
	}
	if err := m.Release(ctx, "c2", path, []Attachment{{Network: n, IfName: "eth1", DefaultRoute: true}}); err != nil {
		t.Fatal(err)
	}
	leases, _ := os.ReadDir(filepath.Join(m.ipamDir(), n.Name))
	for _, l := range leases {
		if _, err := netip.ParseAddr(l.Name()); err == nil {
			t.Errorf("lease %s left after release", l.Name())
		}
	}
}

// A container attached in-process with published ports, whose record is
// gone (a command killed half-way), is cleared from what CNI cached
// (portmap's rules) and from its leases.
func TestDetachCachedClearsInProcessAttachments(t *testing.T) {
	needsRoot(t)
	ctx := context.Background()
	m, n, path := inProcessFixture(t, "inproc_ports", "10.217.1.0/24")
	att := []Attachment{{Network: n, IfName: "eth0", DefaultRoute: true,
		Ports: []PortMapping{{HostPort: 18955, ContainerPort: 80, Protocol: "tcp", HostIP: "127.0.0.1"}}}}
	if _, err := m.Attach(ctx, "gcunit-c3", path, att); err != nil {
		t.Fatal(err)
	}
	nat := func() string {
		b, _ := exec.Command("iptables-save", "-t", "nat").Output()
		return string(b)
	}
	if !strings.Contains(nat(), `id: \"gcunit-c3\"`) {
		t.Fatalf("no port mapping for the container:\n%s", nat())
	}
	if err := m.DetachCached(ctx, "gcunit-c3", path); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(nat(), "gcunit-c3") {
		t.Errorf("port mapping left after DetachCached:\n%s", nat())
	}
	leases, _ := os.ReadDir(filepath.Join(m.ipamDir(), n.Name))
	for _, l := range leases {
		if _, err := netip.ParseAddr(l.Name()); err == nil {
			t.Errorf("lease %s left after DetachCached", l.Name())
		}
	}
}

// The bridge keeps its MAC as containers come and go (the bridge plugin
// pins it too): otherwise it takes its lowest port's, and every container's
// ARP entry for the gateway, its DNS server, goes stale for seconds.
func TestBridgeKeepsItsMACAsContainersComeAndGo(t *testing.T) {
	needsRoot(t)
	ctx := context.Background()
	m, n, first := inProcessFixture(t, "inproc_mac", "10.217.2.0/24")
	att := []Attachment{{Network: n, IfName: "eth0", DefaultRoute: true}}
	if _, err := m.Attach(ctx, "m1", first, att); err != nil {
		t.Fatal(err)
	}
	mac := func() string {
		br, err := netlink.LinkByName(n.Bridge)
		if err != nil {
			t.Fatal(err)
		}
		return br.Attrs().HardwareAddr.String()
	}
	before := mac()
	second := filepath.Join(t.TempDir(), "ns2")
	if err := NewNetNS(second); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = DeleteNetNS(second) })
	if _, err := m.Attach(ctx, "m2", second, att); err != nil {
		t.Fatal(err)
	}
	if err := m.Release(ctx, "m1", first, att); err != nil {
		t.Fatal(err)
	}
	if err := DeleteNetNS(first); err != nil {
		t.Fatal(err)
	}
	// The first container's veth goes with its namespace, asynchronously.
	ports := func() int {
		links, _ := netlink.LinkList()
		count := 0
		for _, l := range links {
			if l.Attrs().MasterIndex > 0 {
				if br, err := netlink.LinkByName(n.Bridge); err == nil && l.Attrs().MasterIndex == br.Attrs().Index {
					count++
				}
			}
		}
		return count
	}
	for i := 0; i < 100 && ports() != 1; i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if p := ports(); p != 1 {
		t.Fatalf("%d ports on the bridge after the first container left", p)
	}
	if after := mac(); after != before {
		t.Errorf("bridge MAC changed from %s to %s as a container left", before, after)
	}
}

package network

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gocompose/gocompose/internal/golden"
)

func TestAllocateSkipsUsed(t *testing.T) {
	t.Parallel()
	pool := netip.MustParsePrefix("10.89.0.0/16")
	got, err := Allocate(pool, []netip.Prefix{
		netip.MustParsePrefix("10.89.0.0/24"),
		netip.MustParsePrefix("10.89.1.128/25"), // partly used /24 is skipped
		netip.MustParsePrefix("192.0.2.0/24"),
	})
	if err != nil || got != netip.MustParsePrefix("10.89.2.0/24") {
		t.Fatalf("got %v, %v; want 10.89.2.0/24", got, err)
	}
	if _, err := Allocate(pool, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}); err == nil {
		t.Fatal("allocated inside a host route covering the whole pool")
	}
}

// IPv6 subnets are /64s of the pool, those in use (or partly) skipped.
func TestAllocate6SkipsUsed(t *testing.T) {
	t.Parallel()
	got, err := Allocate6(DefaultPool6, []netip.Prefix{
		netip.MustParsePrefix("fd67:6f63:6f6d::/64"),
		netip.MustParsePrefix("fd67:6f63:6f6d:1:8000::/65"),
		netip.MustParsePrefix("2001:db8::/32"),
	})
	if err != nil || got != netip.MustParsePrefix("fd67:6f63:6f6d:2::/64") {
		t.Fatalf("got %v, %v; want fd67:6f63:6f6d:2::/64", got, err)
	}
	if _, err := Allocate6(DefaultPool6, []netip.Prefix{netip.MustParsePrefix("fd00::/8")}); err == nil {
		t.Fatal("allocated inside a route covering the whole pool")
	}
	if _, err := Allocate6(netip.MustParsePrefix("10.0.0.0/8"), nil); err == nil {
		t.Fatal("an IPv4 pool gave an IPv6 subnet")
	}
}

// Pools of any size: the third octet carries into the second past 255,
// and a pool smaller than a /24 is one subnet.
func TestAllocateAnyPoolSize(t *testing.T) {
	t.Parallel()
	var used []netip.Prefix
	for i := range 256 {
		used = append(used, netip.MustParsePrefix(fmt.Sprintf("10.16.%d.0/24", i)))
	}
	if got, err := Allocate(netip.MustParsePrefix("10.16.0.0/12"), used); err != nil || got != netip.MustParsePrefix("10.17.0.0/24") {
		t.Errorf("/12 past 255: %v, %v", got, err)
	}
	if got, err := Allocate(netip.MustParsePrefix("10.1.2.0/24"), nil); err != nil || got != netip.MustParsePrefix("10.1.2.0/24") {
		t.Errorf("/24 pool: %v, %v", got, err)
	}
	if got, err := Allocate(netip.MustParsePrefix("10.1.2.128/26"), nil); err != nil || got != netip.MustParsePrefix("10.1.2.128/26") {
		t.Errorf("/26 pool: %v, %v", got, err)
	}
	if _, err := Allocate(netip.MustParsePrefix("10.1.2.128/26"), []netip.Prefix{netip.MustParsePrefix("10.1.2.0/24")}); err == nil {
		t.Error("a used /26 pool allocated")
	}
	if got, err := Allocate(netip.MustParsePrefix("10.0.0.0/8"), []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}); err != nil || got != netip.MustParsePrefix("10.1.0.0/24") {
		t.Errorf("/8 pool: %v, %v", got, err)
	}
	if _, err := Allocate(netip.MustParsePrefix("fd00::/64"), nil); err == nil {
		t.Error("an IPv6 pool allocated")
	}
}

func TestBridgeNameIsStableAndShort(t *testing.T) {
	t.Parallel()
	a, b := BridgeName("ns", "very_long_project_name_default"), BridgeName("ns", "very_long_project_name_default")
	if a != b || len(a) > 15 {
		t.Fatalf("bridge names %q %q", a, b)
	}
	if BridgeName("ns", "x") == BridgeName("other", "x") {
		t.Fatal("namespaces share a bridge name")
	}
}

func TestConflistGolden(t *testing.T) {
	t.Parallel()
	n := &Network{Name: "demo_default", Bridge: "gc-0123456789ab", Subnet: netip.MustParsePrefix("10.89.3.0/24"), Gateway: netip.MustParseAddr("10.89.3.1")}
	cases := map[string]struct {
		n     *Network
		route bool
		ports bool
	}{
		"default":  {n, true, true},
		"no-route": {n, false, false},
		"subnet-masq": {&Network{Name: "demo_default", Bridge: "gc-0123456789ab", SubnetMasq: true,
			Subnet: netip.MustParsePrefix("10.89.3.0/24"), Gateway: netip.MustParseAddr("10.89.3.1")}, true, false},
		"internal": {&Network{Name: "demo_private", Bridge: "gc-aaaaaaaaaaaa", Internal: true, MTU: 1400,
			Subnet: netip.MustParsePrefix("172.30.0.0/16"), Gateway: netip.MustParseAddr("172.30.0.254"), IPRange: "172.30.5.0/24"}, true, true},
		// Filter rules per network: no firewall plugin per container.
		"network-firewall": {&Network{Name: "demo_default", Bridge: "gc-0123456789ab", SubnetMasq: true, NetworkFirewall: true,
			Subnet: netip.MustParsePrefix("10.89.3.0/24"), Gateway: netip.MustParseAddr("10.89.3.1")}, true, true},
	}
	for name, c := range cases {
		b, err := Conflist(c.n, "/var/lib/gocompose/cni/ipam", c.route, c.ports)
		if err != nil {
			t.Fatal(err)
		}
		golden.Assert(t, "conflist-"+name+".json", append(b, '\n'))
	}
}

func TestMasqueradeRule(t *testing.T) {
	n := &Network{Name: "demo_default", Bridge: "gc-0123456789ab", Subnet: netip.MustParsePrefix("10.89.3.0/24")}
	got := strings.Join(masqueradeRule(n), " ")
	// In iptables-save's order, so a saved rule compares equal.
	want := "-s 10.89.3.0/24 ! -d 224.0.0.0/4 ! -o gc-0123456789ab -m comment --comment gocompose gc-0123456789ab -j MASQUERADE"
	if got != want {
		t.Errorf("masquerade rule\n got %s\nwant %s", got, want)
	}
}

// fakeRules records what a Manager asks of the packet filter.
type fakeRules struct {
	mu       sync.Mutex
	rules    map[string]bool // bridges with rules
	calls    []string
	failNext error
}

func (f *fakeRules) note(call string, n *Network) {
	f.calls = append(f.calls, call+" "+n.Name)
}

func (f *fakeRules) Ensure(_ context.Context, n *Network) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.note("ensure", n)
	if err := f.failNext; err != nil {
		f.failNext = nil
		return err
	}
	if f.rules == nil {
		f.rules = map[string]bool{}
	}
	f.rules[n.Bridge] = true
	return nil
}

func (f *fakeRules) Has(n *Network) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.note("has", n)
	return f.rules[n.Bridge], nil
}

func (f *fakeRules) Remove(_ context.Context, n *Network) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.note("remove", n)
	delete(f.rules, n.Bridge)
	return nil
}

// A network's rules are made once, with it: a later Ensure only checks
// them, remakes them when they are gone (a reboot), and rules that cannot
// be made leave no record and nothing half-made.
func TestEnsureMakesRulesOnce(t *testing.T) {
	t.Parallel()
	rules := &fakeRules{}
	m := NewManager(t.TempDir(), nil)
	m.Rules = rules
	spec := Spec{Name: "web_default", Namespace: "ns", Subnet: "172.31.9.0/24"}
	n, created, err := m.Ensure(t.Context(), spec)
	if err != nil || !created || !n.NetworkFirewall || !n.SubnetMasq || !n.InProcessAttach {
		t.Fatalf("Ensure: %+v %v %v", n, created, err)
	}
	if _, _, err := m.Ensure(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	delete(rules.rules, n.Bridge) // a reboot empties the tables
	if _, _, err := m.Ensure(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	want := []string{"ensure web_default", "has web_default", "has web_default", "ensure web_default"}
	if !slices.Equal(rules.calls, want) {
		t.Errorf("calls %q, want %q", rules.calls, want)
	}
	// The conflist is on disk for CNI-aware tools, and goes with the network.
	conf, err := os.ReadFile(filepath.Join(m.ConflistDir(), "web_default.conflist"))
	if err != nil || !strings.Contains(string(conf), `"bridge": "`+n.Bridge+`"`) || strings.Contains(string(conf), "firewall") {
		t.Errorf("conflist on disk: %v\n%s", err, conf)
	}
	if err := m.Remove(t.Context(), "ns", "web_default"); err != nil || rules.rules[n.Bridge] {
		t.Errorf("Remove: %v, rules left %v", err, rules.rules)
	}
	if _, err := m.Get("ns", "web_default"); !errors.Is(err, ErrNotFound) {
		t.Errorf("record after Remove: %v", err)
	}
	if _, err := os.Stat(filepath.Join(m.ConflistDir(), "web_default.conflist")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("conflist after Remove: %v", err)
	}

	rules.calls = nil
	rules.failNext = errors.New("iptables: resource busy")
	if _, _, err := m.Ensure(t.Context(), Spec{Name: "bad", Namespace: "ns"}); err == nil || !strings.Contains(err.Error(), "network bad: iptables: resource busy") {
		t.Errorf("failed rules: %v", err)
	}
	if _, err := m.Get("ns", "bad"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a network whose rules failed has a record: %v", err)
	}
	if want := []string{"ensure bad", "remove bad"}; !slices.Equal(rules.calls, want) {
		t.Errorf("calls %q, want %q", rules.calls, want)
	}
}

// Rules as Ensure writes them for a network, in iptables -S form.
func TestNetworkRules(t *testing.T) {
	n := &Network{Name: "demo_private", Bridge: "gc-aaaaaaaaaaaa", Internal: true, Subnet: netip.MustParsePrefix("172.30.0.0/16")}
	var got []string
	for _, r := range slices.Concat(isolationRules(n), forwardRules(n)) {
		got = append(got, r.chain+" "+strings.Join(r.args, " "))
	}
	want := []string{
		"CNI-ISOLATION-STAGE-1 -i gc-aaaaaaaaaaaa ! -o gc-aaaaaaaaaaaa -m comment --comment CNI firewall plugin rules (ingressPolicy: same-bridge) -j CNI-ISOLATION-STAGE-2",
		"CNI-ISOLATION-STAGE-2 -o gc-aaaaaaaaaaaa -m comment --comment CNI firewall plugin rules (ingressPolicy: same-bridge) -j DROP",
		"GOCOMPOSE-FORWARD ! -d 172.30.0.0/16 -i gc-aaaaaaaaaaaa -m comment --comment gocompose gc-aaaaaaaaaaaa -j DROP",
		"GOCOMPOSE-FORWARD ! -s 172.30.0.0/16 -o gc-aaaaaaaaaaaa -m comment --comment gocompose gc-aaaaaaaaaaaa -j DROP",
		"GOCOMPOSE-FORWARD -o gc-aaaaaaaaaaaa -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment gocompose gc-aaaaaaaaaaaa -j ACCEPT",
		"GOCOMPOSE-FORWARD -i gc-aaaaaaaaaaaa -m comment --comment gocompose gc-aaaaaaaaaaaa -j ACCEPT",
	}
	if !slices.Equal(got, want) {
		t.Errorf("rules\n got %q\nwant %q", got, want)
	}
	n.Internal = false
	if got := len(forwardRules(n)); got != 2 {
		t.Errorf("a network that is not internal has %d forwarding rules, want 2", got)
	}
}

func TestEnsureValidatesIPAM(t *testing.T) {
	t.Parallel()
	m := NewManager(t.TempDir(), nil)
	m.Rules = &fakeRules{}
	cases := []Spec{
		{Name: "a", Namespace: "ns", Subnet: "not-a-cidr"},
		{Name: "b", Namespace: "ns", Subnet: "172.31.0.0/24", Gateway: "10.0.0.1"},
		{Name: "c", Namespace: "ns", Subnet: "172.31.0.0/24", IPRange: "172.99.0.0/28"},
		{Name: "d", Namespace: "ns", BridgeName: "this-name-is-too-long"},
	}
	for _, s := range cases {
		if _, _, err := m.Ensure(t.Context(), s); err == nil {
			t.Errorf("Ensure(%+v) accepted bad input", s)
		}
	}
	n, created, err := m.Ensure(t.Context(), Spec{Name: "ok", Namespace: "ns", Subnet: "172.31.0.0/24", Gateway: "172.31.0.254", Internal: true})
	if err != nil || !created || n.Gateway.String() != "172.31.0.254" || n.Bridge == "" {
		t.Fatalf("Ensure: %+v %v %v", n, created, err)
	}
	again, created, err := m.Ensure(t.Context(), Spec{Name: "ok", Namespace: "ns", Internal: true})
	if err != nil || created || again.Subnet != n.Subnet {
		t.Fatalf("second Ensure: %+v %v %v", again, created, err)
	}
}

// Rules as iptables -S prints them, quoted comments included.
func TestRuleSpec(t *testing.T) {
	chain, args, ok := ruleSpec(`-A CNI-DN-1a2b -p tcp -m tcp --dport 8080 -m comment --comment "dnat name: \"p_default\"" -j DNAT --to-destination 10.89.0.2:80`)
	if !ok || chain != "CNI-DN-1a2b" || argAfter(args, "--dport") != "8080" || argAfter(args, "-p") != "tcp" ||
		argAfter(args, "--comment") != `dnat name: "p_default"` {
		t.Errorf("ruleSpec: %q %q %v", chain, args, ok)
	}
	if _, _, ok := ruleSpec("-N CNI-DN-1a2b"); ok {
		t.Error("a chain declaration read as a rule")
	}
	if argAfter([]string{"-p"}, "-p") != "" {
		t.Error("a flag without a value has one")
	}
}

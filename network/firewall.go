package network

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/coreos/go-iptables/iptables"
	"github.com/gocompose/gocompose/internal/lock"
	"github.com/mattn/go-shellwords"
)

// firewall is the host's IPv4 iptables, through coreos/go-iptables (which
// waits for the xtables lock).
var firewall = sync.OnceValues(func() (*iptables.IPTables, error) {
	ipt, err := iptables.New(iptables.IPFamily(iptables.ProtocolIPv4))
	if err != nil {
		return nil, fmt.Errorf("iptables: %w", err)
	}
	return ipt, nil
})

// ruleSpec splits a rule as iptables -S prints it ("-A CHAIN args…", with
// quoted comments) into its chain and arguments.
func ruleSpec(line string) (chain string, args []string, ok bool) {
	f, err := shellwords.Parse(line)
	if err != nil || len(f) < 2 || f[0] != "-A" {
		return "", nil, false
	}
	return f[1], f[2:], true
}

// ensureRule appends the rule to table's chain unless it is there.
func ensureRule(table, chain string, rule ...string) error {
	ipt, err := firewall()
	if err != nil {
		return err
	}
	if err := ipt.AppendUnique(table, chain, rule...); err != nil {
		return fmt.Errorf("iptables -t %s -A %s %s: %w", table, chain, strings.Join(rule, " "), err)
	}
	return nil
}

// deleteRule deletes every copy of the rule from table's chain; an absent
// rule or chain is not an error.
func deleteRule(table, chain string, rule ...string) error {
	ipt, err := firewall()
	if err != nil {
		return err
	}
	for {
		ok, err := ipt.Exists(table, chain, rule...)
		if err != nil {
			if exists, cerr := ipt.ChainExists(table, chain); cerr == nil && !exists {
				return nil
			}
			return fmt.Errorf("iptables -t %s -C %s %s: %w", table, chain, strings.Join(rule, " "), err)
		}
		if !ok {
			return nil
		}
		if err := ipt.Delete(table, chain, rule...); err != nil {
			return fmt.Errorf("iptables -t %s -D %s %s: %w", table, chain, strings.Join(rule, " "), err)
		}
	}
}

// rulesNaming lists table's rules in chain that mention word as one of
// their arguments; a missing chain has none.
func rulesNaming(table, chain, word string) ([][]string, error) {
	ipt, err := firewall()
	if err != nil {
		return nil, err
	}
	if exists, err := ipt.ChainExists(table, chain); err != nil || !exists {
		return nil, err
	}
	lines, err := ipt.List(table, chain)
	if err != nil {
		return nil, fmt.Errorf("iptables -t %s -S %s: %w", table, chain, err)
	}
	var out [][]string
	for _, l := range lines {
		if c, args, ok := ruleSpec(l); ok && c == chain && slices.Contains(args, word) {
			out = append(out, args)
		}
	}
	return out, nil
}

// CheckFirewall says whether the host's iptables answers (its nat table
// listed), for `doctor`.
func CheckFirewall() error {
	ipt, err := firewall()
	if err != nil {
		return err
	}
	if _, err := ipt.ListChains("nat"); err != nil {
		return fmt.Errorf("iptables -t nat -S: %w", err)
	}
	return nil
}

// Rules is what a Manager asks of the host's packet filter for a network:
// make its rules (idempotently), say whether they are in place, and remove
// them (absent rules are not an error).
type Rules interface {
	Ensure(ctx context.Context, n *Network) error
	Has(n *Network) (bool, error)
	Remove(ctx context.Context, n *Network) error
}

// HostRules writes the rules in the host's iptables: the masquerade rule
// and, for networks made with NetworkFirewall, the filter rules below.
// Changes to the filter chains happen under a host-wide lock in LockDir, so
// a network going away never deletes a chain another is being added to.
type HostRules struct{ LockDir string }

func (h HostRules) locked(ctx context.Context, fn func() error) error {
	l, err := lock.Project(ctx, h.LockDir, "firewall")
	if err != nil {
		return err
	}
	defer l.Unlock()
	return fn()
}

// Ensure writes whatever of the network's rules is missing.
func (h HostRules) Ensure(ctx context.Context, n *Network) error {
	if n.NetworkFirewall {
		if err := h.locked(ctx, func() error { return ensureNetworkRules(n) }); err != nil {
			return err
		}
	}
	return ensureMasquerade(n)
}

// Has says whether the network's rules are in place (its masquerade rule
// and last forwarding rule: a reboot takes them all at once).
func (h HostRules) Has(n *Network) (bool, error) {
	if n.SubnetMasq {
		ipt, err := firewall()
		if err != nil {
			return false, err
		}
		ok, err := ipt.Exists("nat", "POSTROUTING", masqueradeRule(n)...)
		if err != nil || !ok {
			return false, err
		}
	}
	if !n.NetworkFirewall {
		return true, nil
	}
	return hasNetworkRules(n)
}

// Remove deletes the network's rules: masquerade, forwarding, and the
// isolation rules naming its bridge whoever wrote them (the firewall
// plugin does not remove its own).
func (h HostRules) Remove(ctx context.Context, n *Network) error {
	if err := h.locked(ctx, func() error { return removeNetworkRules(n) }); err != nil {
		return err
	}
	return removeMasquerade(n)
}

// The filter rules of a network made with NetworkFirewall, written once when
// the network is made and removed with it, instead of the firewall plugin's
// per-container rules:
//
//   - isolation from other bridges, in the firewall plugin's own chains and
//     format (CNI-ISOLATION-STAGE-1/2, ingressPolicy same-bridge), so that
//     networks made before (whose containers still run the plugin) and after
//     stay isolated from each other;
//   - forwarding of what the bridge's containers send, and of replies to
//     them, accepted in GOCOMPOSE-FORWARD (hosts whose FORWARD policy is
//     DROP, as Docker leaves it, would drop them otherwise);
//   - for an internal network, anything leaving or entering the subnet
//     through the bridge dropped, as Docker does.
const (
	isolationStage1 = "CNI-ISOLATION-STAGE-1"
	isolationStage2 = "CNI-ISOLATION-STAGE-2"
	isolationNote   = "CNI firewall plugin rules (ingressPolicy: same-bridge)"
	forwardChain    = "GOCOMPOSE-FORWARD"
)

// chainRule is one rule of a chain in the filter table.
type chainRule struct {
	chain string
	args  []string
}

func comment(text string) []string { return []string{"-m", "comment", "--comment", text} }

// isolationRules are the network's two isolation rules, as the firewall
// plugin writes them for its bridge.
func isolationRules(n *Network) []chainRule {
	return []chainRule{
		{isolationStage1, slices.Concat([]string{"-i", n.Bridge, "!", "-o", n.Bridge}, comment(isolationNote), []string{"-j", isolationStage2})},
		{isolationStage2, slices.Concat([]string{"-o", n.Bridge}, comment(isolationNote), []string{"-j", "DROP"})},
	}
}

// forwardRules are the network's rules in GOCOMPOSE-FORWARD, in order.
func forwardRules(n *Network) []chainRule {
	note := comment("gocompose " + n.Bridge)
	var out []chainRule
	if n.Internal {
		out = append(out,
			chainRule{forwardChain, slices.Concat([]string{"!", "-d", n.Subnet.String(), "-i", n.Bridge}, note, []string{"-j", "DROP"})},
			chainRule{forwardChain, slices.Concat([]string{"!", "-s", n.Subnet.String(), "-o", n.Bridge}, note, []string{"-j", "DROP"})})
	}
	return append(out,
		chainRule{forwardChain, slices.Concat([]string{"-o", n.Bridge, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED"}, note, []string{"-j", "ACCEPT"})},
		chainRule{forwardChain, slices.Concat([]string{"-i", n.Bridge}, note, []string{"-j", "ACCEPT"})})
}

// jumps are FORWARD's jumps to the chains above; isolation comes first.
var jumps = []chainRule{
	{"FORWARD", slices.Concat(comment(isolationNote), []string{"-j", isolationStage1})},
	{"FORWARD", slices.Concat(comment("gocompose forwarding"), []string{"-j", forwardChain})},
}

// returns end the isolation chains, as the firewall plugin ends them.
var returns = []chainRule{
	{isolationStage1, slices.Concat(comment(isolationNote), []string{"-j", "RETURN"})},
	{isolationStage2, slices.Concat(comment(isolationNote), []string{"-j", "RETURN"})},
}

// hasNetworkRules says whether the network's last forwarding rule is there.
func hasNetworkRules(n *Network) (bool, error) {
	ipt, err := firewall()
	if err != nil {
		return false, err
	}
	fr := forwardRules(n)
	last := fr[len(fr)-1]
	ok, err := ipt.Exists("filter", last.chain, last.args...)
	if err != nil {
		// A missing chain is missing rules.
		if exists, cerr := ipt.ChainExists("filter", last.chain); cerr == nil && !exists {
			return false, nil
		}
		return false, fmt.Errorf("iptables -t filter -C %s: %w", last.chain, err)
	}
	return ok, nil
}

// ensureNetworkRules writes the chains, jumps and the network's rules that
// are missing. Callers hold the firewall lock.
func ensureNetworkRules(n *Network) error {
	ipt, err := firewall()
	if err != nil {
		return err
	}
	for _, c := range []string{isolationStage1, isolationStage2, forwardChain} {
		exists, err := ipt.ChainExists("filter", c)
		if err != nil {
			return fmt.Errorf("iptables -t filter -S %s: %w", c, err)
		}
		if !exists {
			if err := ipt.NewChain("filter", c); err != nil {
				return fmt.Errorf("iptables -t filter -N %s: %w", c, err)
			}
		}
	}
	for _, r := range returns {
		if err := ensureRule("filter", r.chain, r.args...); err != nil {
			return err
		}
	}
	// FORWARD: the isolation jump first, then forwarding. A forwarding
	// jump inserted now goes first, so the isolation jump moves back in
	// front of it.
	fwd, err := ipt.Exists("filter", jumps[1].chain, jumps[1].args...)
	if err != nil {
		return fmt.Errorf("iptables -t filter -C FORWARD: %w", err)
	}
	if !fwd {
		if err := ipt.Insert("filter", jumps[1].chain, 1, jumps[1].args...); err != nil {
			return fmt.Errorf("iptables -t filter -I FORWARD: %w", err)
		}
		if err := deleteRule("filter", jumps[0].chain, jumps[0].args...); err != nil {
			return err
		}
	}
	if err := ipt.InsertUnique("filter", jumps[0].chain, 1, jumps[0].args...); err != nil {
		return fmt.Errorf("iptables -t filter -I FORWARD: %w", err)
	}
	// Isolation rules go before the chains' RETURN.
	for _, r := range isolationRules(n) {
		if err := ipt.InsertUnique("filter", r.chain, 1, r.args...); err != nil {
			return fmt.Errorf("iptables -t filter -I %s %s: %w", r.chain, strings.Join(r.args, " "), err)
		}
	}
	for _, r := range forwardRules(n) {
		if err := ensureRule("filter", r.chain, r.args...); err != nil {
			return err
		}
	}
	return nil
}

// removeNetworkRules deletes the network's filter rules (the isolation
// rules whatever wrote them), then the chains and jumps once no network has
// rules in them, so the host is left as it was before the first network.
// Callers hold the firewall lock.
func removeNetworkRules(n *Network) error {
	if err := RemoveIsolationRules(n.Bridge); err != nil {
		return err
	}
	for _, r := range forwardRules(n) {
		if err := deleteRule("filter", r.chain, r.args...); err != nil {
			return err
		}
	}
	return removeEmptyChains()
}

// removeEmptyChains deletes GOCOMPOSE-FORWARD when it holds no rule, and
// the isolation chains when they hold nothing but their RETURN, with
// FORWARD's jumps to them.
func removeEmptyChains() error {
	ipt, err := firewall()
	if err != nil {
		return err
	}
	empty := func(chain string, allowed ...chainRule) (bool, bool, error) {
		exists, err := ipt.ChainExists("filter", chain)
		if err != nil || !exists {
			return false, false, err
		}
		lines, err := ipt.List("filter", chain)
		if err != nil {
			return true, false, fmt.Errorf("iptables -t filter -S %s: %w", chain, err)
		}
		for _, l := range lines {
			c, args, ok := ruleSpec(l)
			if !ok || c != chain {
				continue
			}
			if !slices.ContainsFunc(allowed, func(r chainRule) bool { return slices.Equal(r.args, args) }) {
				return true, false, nil
			}
		}
		return true, true, nil
	}
	drop := func(jump chainRule, chains ...string) error {
		if err := deleteRule("filter", jump.chain, jump.args...); err != nil {
			return err
		}
		for _, c := range chains {
			if err := ipt.ClearAndDeleteChain("filter", c); err != nil {
				return fmt.Errorf("iptables -t filter -X %s: %w", c, err)
			}
		}
		return nil
	}
	if exists, isEmpty, err := empty(forwardChain); err != nil {
		return err
	} else if exists && isEmpty {
		if err := drop(jumps[1], forwardChain); err != nil {
			return err
		}
	}
	e1, empty1, err := empty(isolationStage1, returns[0])
	if err != nil {
		return err
	}
	e2, empty2, err := empty(isolationStage2, returns[1])
	if err != nil {
		return err
	}
	if e1 && e2 && empty1 && empty2 {
		return drop(jumps[0], isolationStage1, isolationStage2)
	}
	return nil
}

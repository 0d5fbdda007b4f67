package network

import (
	"context"
	"errors"
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

// Ensure writes whatever of the network's rules is missing: one
// iptables-save, and one iptables-restore when something is.
func (h HostRules) Ensure(ctx context.Context, n *Network) error {
	return h.locked(ctx, func() error {
		for _, v := range views(n) {
			t, err := saveTables(v.fam)
			if err != nil {
				return err
			}
			s := script{}
			ensureScript(s, t, v.n)
			if err := s.restore(v.fam); err != nil {
				return err
			}
		}
		return nil
	})
}

// Has says whether the network's rules are in place (its masquerade rule
// and last forwarding rule: a reboot takes them all at once).
func (h HostRules) Has(n *Network) (bool, error) {
	if !n.SubnetMasq && !n.NetworkFirewall {
		return true, nil // nothing of its own in the tables
	}
	for _, v := range views(n) {
		t, err := saveTables(v.fam)
		if err != nil {
			return false, err
		}
		if v.n.SubnetMasq && !t["nat"].has("POSTROUTING", masqueradeRule(v.n)) {
			return false, nil
		}
		if !v.n.NetworkFirewall {
			continue
		}
		if fr := forwardRules(v.n); !t["filter"].has(fr[len(fr)-1].chain, fr[len(fr)-1].args) {
			return false, nil
		}
	}
	return true, nil
}

// Remove deletes the network's rules: masquerade, forwarding, and the
// isolation rules naming its bridge whoever wrote them (the firewall
// plugin does not remove its own), then the chains no network needs.
func (h HostRules) Remove(ctx context.Context, n *Network) error {
	return h.locked(ctx, func() error {
		var errs []error
		for _, v := range views(n) {
			t, err := saveTables(v.fam)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			s := script{}
			removeScript(s, t, v.n)
			errs = append(errs, s.restore(v.fam))
		}
		return errors.Join(errs...)
	})
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

package network

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/coreos/go-iptables/iptables"
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

package network

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os/exec"
	"slices"
	"strings"
)

// A network's rules are read with one iptables-save and written with one
// iptables-restore --noflush (a transaction the kernel applies at once),
// instead of a check and a change per rule: making or removing a network
// costs two executions of iptables, not twenty.

// family is one address family's packet filter: iptables for IPv4,
// ip6tables for the IPv6 side of an IPv6 network.
type family struct{ tool string }

var (
	ipv4 = family{"iptables"}
	ipv6 = family{"ip6tables"}
)

// view is a network as one family's filter holds its rules.
type view struct {
	fam family
	n   *Network
}

// views are the networks whose rules each family holds for n: n itself in
// iptables, and in ip6tables n with its IPv6 subnet when it has one (the
// rules are the same but for the subnet).
func views(n *Network) []view {
	out := []view{{ipv4, n}}
	if n.Subnet6.IsValid() {
		v6 := *n
		v6.Subnet, v6.Gateway = n.Subnet6, n.Gateway6
		out = append(out, view{ipv6, &v6})
	}
	return out
}

// tables is iptables-save's view of the host: per table, the chains and
// each chain's rules in order, as their argument lists.
type tables map[string]*table

type table struct {
	chains map[string]bool
	rules  map[string][][]string
}

// saveTables runs iptables-save once, for every table; filter and nat are
// always there (empty when the host has no rules in them).
func saveTables(fam family) (tables, error) {
	b, err := exec.Command(fam.tool + "-save").Output()
	if err != nil {
		return nil, fmt.Errorf("%s-save: %w", fam.tool, exitErr(err))
	}
	return parseSave(string(b)), nil
}

// parseSave splits iptables-save output into its tables ("*name" … COMMIT).
func parseSave(s string) tables {
	out := tables{}
	name, start := "", 0
	lines := strings.Split(s, "\n")
	for i, line := range lines {
		switch {
		case strings.HasPrefix(line, "*"):
			name, start = line[1:], i
		case line == "COMMIT" && name != "":
			out[name] = parseTable(strings.Join(lines[start:i], "\n"))
			name = ""
		}
	}
	for _, n := range []string{"filter", "nat"} {
		if out[n] == nil {
			out[n] = parseTable("")
		}
	}
	return out
}

// parseTable reads one table of iptables-save output.
func parseTable(s string) *table {
	t := &table{chains: map[string]bool{}, rules: map[string][][]string{}}
	for _, line := range strings.Split(s, "\n") {
		switch {
		case strings.HasPrefix(line, ":"):
			name, _, _ := strings.Cut(line[1:], " ")
			t.chains[name] = true
		case strings.HasPrefix(line, "-A "):
			if chain, args, ok := ruleSpec(line); ok {
				t.rules[chain] = append(t.rules[chain], args)
			}
		}
	}
	return t
}

func (t *table) has(chain string, args []string) bool {
	return slices.ContainsFunc(t.rules[chain], func(r []string) bool { return slices.Equal(r, args) })
}

// index is the 0-based position of the rule in its chain, -1 if absent.
func (t *table) index(chain string, args []string) int {
	return slices.IndexFunc(t.rules[chain], func(r []string) bool { return slices.Equal(r, args) })
}

// script collects iptables-restore lines per table.
type script map[string][]string

func (s script) add(table string, args ...string) {
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = quoteArg(a)
	}
	s[table] = append(s[table], strings.Join(quoted, " "))
}

// quoteArg quotes an argument for iptables-restore when it needs it.
func quoteArg(a string) string {
	if a != "" && !strings.ContainsAny(a, " \t\"'\\()") {
		return a
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(a) + `"`
}

// restore applies the script, each table as one transaction; an empty
// script runs nothing.
func (s script) restore(fam family) error {
	var b bytes.Buffer
	for _, name := range slices.Sorted(maps.Keys(s)) {
		if len(s[name]) == 0 {
			continue
		}
		fmt.Fprintf(&b, "*%s\n%s\nCOMMIT\n", name, strings.Join(s[name], "\n"))
	}
	if b.Len() == 0 {
		return nil
	}
	cmd := exec.Command(fam.tool+"-restore", "--noflush", "-w")
	cmd.Stdin = &b
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s-restore: %w: %s", fam.tool, err, bytes.TrimSpace(out))
	}
	return nil
}

// exitErr adds what a failed command printed on stderr.
func exitErr(err error) error {
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) && len(ee.Stderr) > 0 {
		return fmt.Errorf("%w: %s", err, bytes.TrimSpace(ee.Stderr))
	}
	return err
}

// ensureScript adds to s what of n's rules (and the chains and jumps they
// hang from) the host lacks.
func ensureScript(s script, t tables, n *Network) {
	f := t["filter"]
	if n.NetworkFirewall {
		for _, c := range []string{isolationStage1, isolationStage2, forwardChain} {
			if !f.chains[c] {
				s.add("filter", "-N", c)
			}
		}
		for _, r := range returns {
			if !f.has(r.chain, r.args) {
				s.add("filter", append([]string{"-A", r.chain}, r.args...)...)
			}
		}
		// FORWARD: the isolation jump first, then forwarding (a jump
		// inserted now goes first, so the isolation jump moves back in
		// front of it).
		iso, fwd := f.index("FORWARD", jumps[0].args), f.index("FORWARD", jumps[1].args)
		if fwd < 0 {
			s.add("filter", append([]string{"-I", "FORWARD", "1"}, jumps[1].args...)...)
		}
		switch {
		case iso < 0:
			s.add("filter", append([]string{"-I", "FORWARD", "1"}, jumps[0].args...)...)
		case fwd < 0 || iso > fwd:
			s.add("filter", append([]string{"-D", "FORWARD"}, jumps[0].args...)...)
			s.add("filter", append([]string{"-I", "FORWARD", "1"}, jumps[0].args...)...)
		}
		// Isolation rules go before the chains' RETURN.
		for _, r := range isolationRules(n) {
			if !f.has(r.chain, r.args) {
				s.add("filter", append([]string{"-I", r.chain, "1"}, r.args...)...)
			}
		}
		for _, r := range forwardRules(n) {
			if !f.has(r.chain, r.args) {
				s.add("filter", append([]string{"-A", r.chain}, r.args...)...)
			}
		}
	}
	if n.SubnetMasq && !t["nat"].has("POSTROUTING", masqueradeRule(n)) {
		s.add("nat", append([]string{"-A", "POSTROUTING"}, masqueradeRule(n)...)...)
	}
}

// removeScript adds to s the deletion of n's rules (isolation rules naming
// its bridge whoever wrote them), then of the chains and jumps no network
// has rules in any more, so the host is left as before the first network.
func removeScript(s script, t tables, n *Network) {
	f := t["filter"]
	left := map[string]int{} // rules each chain keeps
	for _, c := range []string{isolationStage1, isolationStage2, forwardChain} {
		for _, r := range f.rules[c] {
			if slices.Contains(r, n.Bridge) {
				s.add("filter", append([]string{"-D", c}, r...)...)
				continue
			}
			if (c == isolationStage1 && slices.Equal(r, returns[0].args)) || (c == isolationStage2 && slices.Equal(r, returns[1].args)) {
				continue
			}
			left[c]++
		}
	}
	// Every copy of a jump goes: builds that ran the firewall plugin per
	// container could leave a second one beside gocompose's.
	dropJumps := func(j chainRule) {
		for _, r := range f.rules["FORWARD"] {
			if slices.Equal(r, j.args) {
				s.add("filter", append([]string{"-D", "FORWARD"}, j.args...)...)
			}
		}
	}
	if f.chains[forwardChain] && left[forwardChain] == 0 {
		dropJumps(jumps[1])
		s.add("filter", "-X", forwardChain)
	}
	if f.chains[isolationStage1] && f.chains[isolationStage2] && left[isolationStage1] == 0 && left[isolationStage2] == 0 {
		dropJumps(jumps[0])
		s.add("filter", "-F", isolationStage1)
		s.add("filter", "-F", isolationStage2)
		s.add("filter", "-X", isolationStage1)
		s.add("filter", "-X", isolationStage2)
	}
	if n.SubnetMasq {
		for _, r := range t["nat"].rules["POSTROUTING"] {
			if slices.Equal(r, masqueradeRule(n)) {
				s.add("nat", append([]string{"-D", "POSTROUTING"}, r...)...)
			}
		}
	}
}

package network

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// hostportChain is portmap's top-level DNAT chain: one jump per container
// and protocol to the container's own CNI-DN- chain, tagged with a comment
// `dnat name: "NET" id: "CONTAINER"`. The first jump matching a port wins.
const hostportChain = "CNI-HOSTPORT-DNAT"

// serveMark tags a jump gocompose moved to the top of hostportChain; it
// keeps the moved copy distinct from the original, so that deleting one by
// its rule deletes that one. portmap's own teardown deletes a container's
// jumps by their target chain, marked or not.
var serveMark = []string{"-m", "comment", "--comment", "gocompose serves"}

// jump is one rule of hostportChain.
type jump struct {
	container string
	proto     string
	ports     []string
	args      []string
}

func hostportJumps() ([]jump, error) {
	ipt, err := firewall()
	if err != nil {
		return nil, err
	}
	if ok, err := ipt.ChainExists("nat", hostportChain); err != nil || !ok {
		return nil, err
	}
	lines, err := ipt.List("nat", hostportChain)
	if err != nil {
		return nil, fmt.Errorf("iptables -t nat -S %s: %w", hostportChain, err)
	}
	var out []jump
	for _, l := range lines {
		chain, args, ok := ruleSpec(l)
		if !ok || chain != hostportChain {
			continue
		}
		j := jump{proto: argAfter(args, "-p"), args: args}
		for i, a := range args {
			if a == "--comment" && i+1 < len(args) {
				if _, rest, ok := strings.Cut(args[i+1], `id: "`); ok {
					j.container, _, _ = strings.Cut(rest, `"`)
				}
			}
		}
		ports := argAfter(args, "--dports")
		if ports == "" {
			ports = argAfter(args, "--dport")
		}
		j.ports = strings.Split(ports, ",")
		out = append(out, j)
	}
	return out, nil
}

// HostPortTaken reports whether a container's port mapping already forwards
// the host port: published ports are iptables DNAT rules, not sockets, so a
// listen test alone would not see them. The mappings of the containers in
// except do not count (the container a start-first update replaces).
func HostPortTaken(port int, proto string, except ...string) (bool, error) {
	// Fail closed: a port we cannot check is not free.
	js, err := hostportJumps()
	if err != nil {
		return false, fmt.Errorf("check host port %d/%s: %w", port, proto, err)
	}
	for _, j := range js {
		if j.proto == proto && slices.Contains(j.ports, strconv.Itoa(port)) && !slices.Contains(except, j.container) {
			return true, nil
		}
	}
	return false, nil
}

// ServePorts makes the container's published ports win over any other
// container's mapping of the same ports, in one step for new connections:
// a copy of each of its jumps goes to the top of the chain, then the
// original goes. Connections already made keep their path (conntrack).
// A container with no published ports, or whose jumps already come first,
// is left as it is.
func ServePorts(container string) error {
	js, err := hostportJumps()
	if err != nil {
		return fmt.Errorf("container %s: ports: %w", container, err)
	}
	ipt, err := firewall()
	if err != nil {
		return err
	}
	for i, j := range js {
		if j.container != container || !shadowed(js[:i], j) {
			continue // not ours, or already first
		}
		moved := toggleMark(j.args)
		if err := ipt.Insert("nat", hostportChain, 1, moved...); err != nil {
			return fmt.Errorf("container %s: iptables -t nat -I %s 1 %s: %w", container, hostportChain, strings.Join(moved, " "), err)
		}
		if err := ipt.Delete("nat", hostportChain, j.args...); err != nil {
			return fmt.Errorf("container %s: iptables -t nat -D %s %s: %w", container, hostportChain, strings.Join(j.args, " "), err)
		}
	}
	return nil
}

// shadowed says whether a jump of another container in before takes some
// of j's ports.
func shadowed(before []jump, j jump) bool {
	for _, b := range before {
		if b.container != j.container && b.proto == j.proto && slices.ContainsFunc(b.ports, func(p string) bool { return slices.Contains(j.ports, p) }) {
			return true
		}
	}
	return false
}

// toggleMark adds serveMark to a jump, or takes it away if it has it.
func toggleMark(args []string) []string {
	for i := 0; i+len(serveMark) <= len(args); i++ {
		if slices.Equal(args[i:i+len(serveMark)], serveMark) {
			return slices.Concat(args[:i], args[i+len(serveMark):])
		}
	}
	// Before the target: iptables prints matches ahead of "-j".
	if i := slices.Index(args, "-j"); i >= 0 {
		return slices.Concat(args[:i], serveMark, args[i:])
	}
	return slices.Concat(args, serveMark)
}

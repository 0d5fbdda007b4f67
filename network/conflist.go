package network

import (
	"encoding/json"
)

// cniVersion is the highest version Debian's plugins (1.1.x) speak.
const cniVersion = "1.0.0"

// Conflist is the CNI network configuration list of a network: bridge with
// host-local IPAM and portmap when the attachment publishes ports; networks
// recorded before their filter rules became per network (NetworkFirewall)
// also run the firewall plugin isolating them from other bridges. defaultRoute says whether this attachment
// carries the container's default route (only the first non-internal
// network of a container does). Skipping portmap where nothing is published
// saves a plugin execution per container; detach rebuilds the same list.
func Conflist(n *Network, ipamDir string, defaultRoute, ports bool) ([]byte, error) {
	rangeEntry := map[string]any{"subnet": n.Subnet.String(), "gateway": n.Gateway.String()}
	if n.IPRange != "" {
		rangeEntry["rangeStart"], rangeEntry["rangeEnd"] = rangeBounds(n)
	}
	ranges := [][]any{{rangeEntry}}
	if n.Subnet6.IsValid() {
		ranges = append(ranges, []any{map[string]any{"subnet": n.Subnet6.String(), "gateway": n.Gateway6.String()}})
	}
	ipam := map[string]any{
		"type":    "host-local",
		"ranges":  ranges,
		"dataDir": ipamDir,
	}
	if defaultRoute && !n.Internal {
		routes := []any{map[string]any{"dst": "0.0.0.0/0"}}
		if n.Subnet6.IsValid() {
			routes = append(routes, map[string]any{"dst": "::/0"})
		}
		ipam["routes"] = routes
	}
	bridge := map[string]any{
		"type":         "bridge",
		"bridge":       n.Bridge,
		"isGateway":    true,
		"ipMasq":       !n.Internal && !n.SubnetMasq,
		"hairpinMode":  true,
		"ipam":         ipam,
		"capabilities": map[string]bool{"mac": true},
	}
	if n.MTU > 0 {
		bridge["mtu"] = n.MTU
	}
	plugins := []any{bridge}
	if ports && !n.Internal {
		plugins = append(plugins, map[string]any{
			"type":         "portmap",
			"snat":         true,
			"capabilities": map[string]bool{"portMappings": true},
		})
	}
	if !n.NetworkFirewall {
		plugins = append(plugins, map[string]any{
			"type":          "firewall",
			"backend":       "iptables",
			"ingressPolicy": "same-bridge",
		})
	}
	return json.MarshalIndent(map[string]any{
		"cniVersion": cniVersion,
		"name":       n.Name,
		"plugins":    plugins,
	}, "", "  ")
}

// rangeBounds turns ip_range (a CIDR inside the subnet) into host-local's
// rangeStart/rangeEnd.
func rangeBounds(n *Network) (string, string) {
	r, err := parsePrefix(n.IPRange)
	if err != nil {
		return "", ""
	}
	start := r.Masked().Addr()
	if start == n.Subnet.Masked().Addr() {
		start = start.Next()
	}
	end := lastAddr(r)
	if end == lastAddr(n.Subnet) {
		end = end.Prev()
	}
	return start.String(), end.String()
}

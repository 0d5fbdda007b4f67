// Package network realises compose networks as CNI bridges: conflists, subnet
// allocation, network namespaces, attach and detach through libcni with the
// standard plugin binaries, and removal of everything a network made.
package network

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// ErrNotFound is returned for a network gocompose has no record of.
var ErrNotFound = errors.New("network not found")

// Network is one compose network as it exists on this host.
type Network struct {
	Name      string       `json:"name"` // e.g. demo_default
	Namespace string       `json:"namespace"`
	Project   string       `json:"project,omitempty"`
	Bridge    string       `json:"bridge"`
	Subnet    netip.Prefix `json:"subnet"`
	Gateway   netip.Addr   `json:"gateway"`
	IPRange   string       `json:"ip_range,omitempty"`
	// Subnet6 and Gateway6 are the network's IPv6 subnet and gateway
	// (enable_ipv6); invalid for an IPv4-only network.
	Subnet6  netip.Prefix      `json:"subnet6,omitzero"`
	Gateway6 netip.Addr        `json:"gateway6,omitzero"`
	Internal bool              `json:"internal,omitempty"`
	MTU      int               `json:"mtu,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
	// Attachable is kept for inspection; any container may attach.
	Attachable bool `json:"attachable,omitempty"`
	// SubnetMasq says outbound traffic is masqueraded by one rule for the
	// whole subnet, made with the network, instead of the bridge plugin's
	// chain per container (records made before it have per-container
	// chains, which their detach still removes).
	SubnetMasq bool `json:"subnet_masq,omitempty"`
	// NetworkFirewall says isolation from other bridges and forwarding are
	// filter rules for the whole network, made with it, instead of the
	// firewall plugin run per container (records made before it still run
	// the plugin, so their containers' rules are removed as they were made).
	NetworkFirewall bool `json:"network_firewall,omitempty"`
	// InProcessAttach says containers are attached in-process (the bridge
	// and host-local plugins' work done with their Go packages and
	// netlink) rather than by running the plugins; leases are the same
	// files either way.
	InProcessAttach bool `json:"in_process_attach,omitempty"`
}

// Spec is what a compose file asks for a network.
type Spec struct {
	Name       string
	Namespace  string
	Project    string
	Subnet     string // optional
	Gateway    string // optional
	IPRange    string // optional
	IPv6       bool   // enable_ipv6
	Subnet6    string // optional, with IPv6
	Gateway6   string // optional
	Internal   bool
	MTU        int
	BridgeName string // com.docker.network.bridge.name
	Labels     map[string]string
	Attachable bool
}

// BridgeName derives a stable interface name (at most 15 characters) from
// the namespace and network name.
func BridgeName(namespace, name string) string {
	sum := sha256.Sum256([]byte(namespace + "/" + name))
	return "gc-" + hex.EncodeToString(sum[:])[:12]
}

// Store keeps one JSON record per network under Dir.
type Store struct {
	Dir string
}

func (s Store) path(namespace, name string) string {
	return filepath.Join(s.Dir, namespace+"__"+name+".json")
}

// Get returns the record of a network.
func (s Store) Get(namespace, name string) (*Network, error) {
	b, err := os.ReadFile(s.path(namespace, name))
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("network %s: %w", name, ErrNotFound)
		}
		return nil, err
	}
	var n Network
	if err := json.Unmarshal(b, &n); err != nil {
		return nil, fmt.Errorf("network record %s: %w", s.path(namespace, name), err)
	}
	return &n, nil
}

// List returns every network record, sorted by namespace and name.
func (s Store) List() ([]Network, error) {
	files, err := filepath.Glob(filepath.Join(s.Dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var out []Network
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var n Network
		if json.Unmarshal(b, &n) == nil {
			out = append(out, n)
		}
	}
	slices.SortFunc(out, func(a, b Network) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	return out, nil
}

func (s Store) put(n *Network) error {
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(n, "", "  ")
	if err != nil {
		return err
	}
	tmp := s.path(n.Namespace, n.Name) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, s.path(n.Namespace, n.Name))
}

func (s Store) remove(namespace, name string) error {
	err := os.Remove(s.path(namespace, name))
	if os.IsNotExist(err) {
		return nil
	}
	return err
}

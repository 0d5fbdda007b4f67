// Package dns is gocompose's embedded DNS server: it answers service names,
// container names, aliases and hostnames for the networks the asking
// container is on (chosen by its source address), answers PTR for container
// addresses, and forwards everything else upstream. It depends only on
// miekg/dns, golang.org/x/sys and the standard library.
package dns

import (
	"net/netip"
	"slices"
	"strings"
)

// Endpoint is one container on one network.
type Endpoint struct {
	Network   string     // network key (unique on the host)
	Container string     // container key: unique on the host
	PTRName   string     // name answered for PTR; Container when empty
	Names     []string   // every name it answers to on that network
	IP        netip.Addr // its address there
	// Upstreams overrides the host's resolvers for queries from this
	// container (the service's `dns:`), host:port form.
	Upstreams []string
}

// Snapshot is an immutable view of all records; the server swaps whole
// snapshots so that a query never sees a half-applied change.
type Snapshot struct {
	names     map[string]map[string][]netip.Addr // network -> name -> addrs
	networks  map[netip.Addr][]string            // source addr -> networks it is on
	ptr       map[netip.Addr]string              // addr -> container name
	upstreams map[netip.Addr][]string
	views     map[netip.Addr]*view // packed answers by source (see fast.go)
}

func normalize(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, "."))
}

// NewSnapshot indexes endpoints. Names are case-insensitive; a name shared
// by several endpoints on a network (replicas) lists all their addresses.
func NewSnapshot(eps []Endpoint) *Snapshot {
	s := &Snapshot{
		names:     map[string]map[string][]netip.Addr{},
		networks:  map[netip.Addr][]string{},
		ptr:       map[netip.Addr]string{},
		upstreams: map[netip.Addr][]string{},
	}
	for _, e := range eps {
		if !e.IP.IsValid() {
			continue
		}
		m := s.names[e.Network]
		if m == nil {
			m = map[string][]netip.Addr{}
			s.names[e.Network] = m
		}
		for _, n := range e.Names {
			n = normalize(n)
			if n == "" || slices.Contains(m[n], e.IP) {
				continue
			}
			m[n] = append(m[n], e.IP)
		}
		if e.PTRName != "" {
			s.ptr[e.IP] = e.PTRName
		} else {
			s.ptr[e.IP] = e.Container
		}
		if len(e.Upstreams) > 0 {
			s.upstreams[e.IP] = e.Upstreams
		}
	}
	// A container sees every network it is on, whichever of its addresses
	// the query comes from.
	byContainer := map[string][]string{}
	for _, e := range eps {
		if e.IP.IsValid() && !slices.Contains(byContainer[e.Container], e.Network) {
			byContainer[e.Container] = append(byContainer[e.Container], e.Network)
		}
	}
	for _, e := range eps {
		if e.IP.IsValid() {
			s.networks[e.IP] = byContainer[e.Container]
		}
	}
	for _, m := range s.names {
		for n := range m {
			slices.SortFunc(m[n], func(a, b netip.Addr) int { return a.Compare(b) })
		}
	}
	s.buildViews()
	return s
}

// Lookup returns the addresses of name as seen from src, and whether the
// name belongs to a network src is on (then a miss is authoritative). The
// `<name>.<network>` form selects one network.
func (s *Snapshot) Lookup(src netip.Addr, name string) ([]netip.Addr, bool) {
	name = normalize(name)
	var out []netip.Addr
	owned := false
	for _, net := range s.networks[src] {
		if ips, ok := s.names[net][name]; ok {
			for _, ip := range ips {
				if !slices.Contains(out, ip) {
					out = append(out, ip)
				}
			}
			owned = true
		}
		if suffix := "." + normalize(net); strings.HasSuffix(name, suffix) {
			owned = true
			out = append(out, s.names[net][strings.TrimSuffix(name, suffix)]...)
		}
	}
	return out, owned
}

// PTR returns the container name of addr if src shares a network with it.
func (s *Snapshot) PTR(src, addr netip.Addr) (string, bool) {
	name, ok := s.ptr[addr]
	if !ok {
		return "", false
	}
	for _, n := range s.networks[addr] {
		if slices.Contains(s.networks[src], n) {
			return name, true
		}
	}
	return "", false
}

// Known reports whether src is a container this snapshot knows.
func (s *Snapshot) Known(src netip.Addr) bool {
	_, ok := s.networks[src]
	return ok
}

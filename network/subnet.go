package network

import (
	"errors"
	"fmt"
	"net/netip"
)

// ErrSubnetInUse marks a subnet that overlaps one already in use on the host.
var ErrSubnetInUse = errors.New("subnet in use")

// DefaultPool is where subnets come from when a network names none: /24s
// in 10.89.0.0/16, as podman does, away from Docker's 172.17/16.
var DefaultPool = netip.MustParsePrefix("10.89.0.0/16")

// Allocate returns the first /24 of pool that overlaps none of used.
func Allocate(pool netip.Prefix, used []netip.Prefix) (netip.Prefix, error) {
	base := pool.Masked().Addr().As4()
	count := 1 << (24 - pool.Bits())
	for i := 0; i < count; i++ {
		b := base
		b[2] += byte(i)
		cand := netip.PrefixFrom(netip.AddrFrom4(b), 24)
		free := true
		for _, u := range used {
			if u.Overlaps(cand) {
				free = false
				break
			}
		}
		if free {
			return cand, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("no free /24 subnet left in %s", pool)
}

// firstHost is the gateway by convention: .1 of the subnet.
func firstHost(p netip.Prefix) netip.Addr {
	return p.Masked().Addr().Next()
}

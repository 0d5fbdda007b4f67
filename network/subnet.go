package network

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
)

// ErrSubnetInUse marks a subnet that overlaps one already in use on the host.
var ErrSubnetInUse = errors.New("subnet in use")

// DefaultPool is where subnets come from when a network names none: /24s
// in 10.89.0.0/16, as podman does, away from Docker's 172.17/16.
var DefaultPool = netip.MustParsePrefix("10.89.0.0/16")

// DefaultPool6 is where IPv6 subnets come from when an IPv6 network names
// none: /64s of a unique local /48 (fd00::/8, as Docker takes its IPv6
// subnets from a unique local prefix).
var DefaultPool6 = netip.MustParsePrefix("fd67:6f63:6f6d::/48")

// Allocate6 returns the first /64 of pool that overlaps none of used.
func Allocate6(pool netip.Prefix, used []netip.Prefix) (netip.Prefix, error) {
	if !pool.Addr().Is6() || pool.Bits() > 64 {
		return netip.Prefix{}, fmt.Errorf("subnet pool %s: want an IPv6 prefix of /64 or shorter", pool)
	}
	b := pool.Masked().Addr().As16()
	base := binary.BigEndian.Uint64(b[:8])
	count := uint64(1) << min(64-pool.Bits(), 16) // the first 65536 are plenty
	for i := range count {
		binary.BigEndian.PutUint64(b[:8], base+i)
		cand := netip.PrefixFrom(netip.AddrFrom16(b), 64)
		if !slices.ContainsFunc(used, cand.Overlaps) {
			return cand, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("no free /64 subnet left in %s", pool)
}

// Allocate returns the first /24 of pool that overlaps none of used (the
// whole pool when it is smaller than a /24). Pools of any size work: /8,
// /12, /16, /20, /24 or smaller.
func Allocate(pool netip.Prefix, used []netip.Prefix) (netip.Prefix, error) {
	if !pool.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("subnet pool %s: only IPv4 pools are supported", pool)
	}
	size := max(24, pool.Bits())
	b := pool.Masked().Addr().As4()
	base := binary.BigEndian.Uint32(b[:])
	count := uint32(1) << (size - pool.Bits())
	for i := range count {
		binary.BigEndian.PutUint32(b[:], base+i<<(32-size))
		cand := netip.PrefixFrom(netip.AddrFrom4(b), size)
		if !slices.ContainsFunc(used, cand.Overlaps) {
			return cand, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("no free /%d subnet left in %s", size, pool)
}

// firstHost is the gateway by convention: .1 of the subnet.
func firstHost(p netip.Prefix) netip.Addr {
	return p.Masked().Addr().Next()
}

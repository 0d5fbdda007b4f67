package dns

import (
	"fmt"
	"net"
	"net/netip"
	"testing"

	mdns "github.com/miekg/dns"
)

// BenchmarkAnswer measures one answer for a service name from a snapshot of
// 1000 containers on 10 networks, without sockets.
func BenchmarkAnswer(b *testing.B) {
	var eps []Endpoint
	for i := 0; i < 1000; i++ {
		eps = append(eps, Endpoint{Network: fmt.Sprintf("net%d", i%10), Container: fmt.Sprintf("c%d", i),
			Names: []string{fmt.Sprintf("svc%d", i/3), fmt.Sprintf("c%d", i)}, IP: netip.AddrFrom4([4]byte{10, 89, byte(i / 250), byte(i%250 + 2)})})
	}
	h := NewHandler(nil)
	h.Set(NewSnapshot(eps))
	m := new(mdns.Msg)
	m.SetQuestion("svc10.", mdns.TypeA)
	rec := &recorder{remote: &net.UDPAddr{IP: net.IPv4(10, 89, 0, 2), Port: 4000}}
	b.ReportAllocs()
	for b.Loop() {
		h.ServeDNS(rec, m)
		if rec.msg.Rcode != mdns.RcodeSuccess {
			b.Fatal(rec.msg)
		}
	}
}

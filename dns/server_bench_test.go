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
	h := bigHandler()
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

// BenchmarkPackedAnswer is the same question through the packed UDP path
// (what serveUDP does between reading and writing a datagram).
func BenchmarkPackedAnswer(b *testing.B) {
	h := bigHandler()
	m := new(mdns.Msg)
	m.SetQuestion("svc10.", mdns.TypeA)
	q, err := m.Pack()
	if err != nil {
		b.Fatal(err)
	}
	src := netip.AddrFrom4([4]byte{10, 89, 0, 2})
	key, out := make([]byte, 0, 260), make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		var ok bool
		if key, out, ok = h.answer(q, src, key, out); !ok {
			b.Fatal("not answered")
		}
	}
}

// bigHandler answers from a snapshot of 1000 containers on 10 networks,
// three replicas per service.
func bigHandler() *Handler {
	var eps []Endpoint
	for i := 0; i < 1000; i++ {
		eps = append(eps, Endpoint{Network: fmt.Sprintf("net%d", i%10), Container: fmt.Sprintf("c%d", i),
			Names: []string{fmt.Sprintf("svc%d", i/3), fmt.Sprintf("c%d", i)}, IP: netip.AddrFrom4([4]byte{10, 89, byte(i / 250), byte(i%250 + 2)})})
	}
	h := NewHandler(nil)
	h.Set(NewSnapshot(eps))
	return h
}

package dns

import (
	"net"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// FuzzServeDNS feeds the handler any message a container could send: it
// must answer (or drop) without panicking. Forwarding goes to a closed
// port on loopback, never off the host.
func FuzzServeDNS(f *testing.F) {
	for _, q := range []struct {
		name  string
		qtype uint16
	}{{"web.", mdns.TypeA}, {"p-web-1.front.", mdns.TypeA}, {"2.0.89.10.in-addr.arpa.", mdns.TypePTR},
		{"example.com.", mdns.TypeAAAA}, {".", mdns.TypeANY}, {"x.in-addr.arpa.", mdns.TypePTR}} {
		m := new(mdns.Msg)
		m.SetQuestion(q.name, q.qtype)
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	h := testHandler("127.0.0.1:1")
	h.Timeout = 50 * time.Millisecond
	f.Fuzz(func(t *testing.T, data []byte) {
		// The packed path: anything it answers is a message with the
		// question's ID.
		if _, out, ok := h.answer(data, ip("10.89.0.2"), nil, nil); ok {
			r := new(mdns.Msg)
			if err := r.Unpack(out); err != nil || len(data) < 2 || r.Id != uint16(data[0])<<8|uint16(data[1]) {
				t.Errorf("packed answer %v (%v) to %x", r, err, data)
			}
		}
		m := new(mdns.Msg)
		if err := m.Unpack(data); err != nil {
			return
		}
		rec := &recorder{remote: &net.UDPAddr{IP: net.IPv4(10, 89, 0, 2), Port: 40000}}
		h.ServeDNS(rec, m)
		if rec.msg != nil && rec.msg.Id != m.Id {
			t.Errorf("answer id %d for question id %d", rec.msg.Id, m.Id)
		}
	})
}

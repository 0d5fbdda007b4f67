package dns

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// query packs a question as a client sends it: any case, RD and CD as
// given, optionally with a bare EDNS OPT record.
func query(name string, qtype uint16, edns bool) *mdns.Msg {
	m := new(mdns.Msg)
	m.SetQuestion(mdns.Fqdn(name), qtype)
	m.Id = 0xbeef
	m.CheckingDisabled = true
	if edns {
		m.SetEdns0(1232, false)
	}
	return m
}

// The packed answer is the answer ServeDNS gives, whatever the spelling,
// flags or EDNS of the question; everything the snapshot does not answer
// outright is left to ServeDNS.
func TestPackedAnswersMatchServeDNS(t *testing.T) {
	t.Parallel()
	h := testHandler()
	cases := []struct {
		from, name string
		qtype      uint16
		packed     bool
	}{
		{"10.89.0.2", "web", mdns.TypeA, true},
		{"10.89.0.2", "WwW", mdns.TypeA, true},
		{"10.89.0.2", "web", mdns.TypeAAAA, true},
		{"10.89.1.4", "db", mdns.TypeAAAA, true}, // dual-stack
		{"10.89.1.4", "db", mdns.TypeA, true},
		{"10.89.0.4", "db", mdns.TypeA, true},
		{"10.89.1.4", "web.front", mdns.TypeA, true}, // proxy, from its other address
		{"10.89.0.4", "Web.Front.", mdns.TypeA, true},
		{"10.89.1.2", "proxy", mdns.TypeA, true},
		{"10.89.1.2", "web", mdns.TypeA, false},         // not on db's network: NXDOMAIN by ServeDNS
		{"10.89.0.2", "unknown", mdns.TypeA, false},     // a miss
		{"10.89.0.2", "web", mdns.TypeMX, false},        // another type
		{"10.89.0.2", "example.com", mdns.TypeA, false}, // forwarded
		{"192.0.2.1", "web", mdns.TypeA, false},         // not a container we know
		{"10.89.0.2", "3.0.89.10.in-addr.arpa", mdns.TypePTR, false},
	}
	for _, c := range cases {
		for _, edns := range []bool{false, true} {
			q := query(c.name, c.qtype, edns)
			b, err := q.Pack()
			if err != nil {
				t.Fatal(err)
			}
			_, out, ok := h.answer(b, ip(c.from), nil, nil)
			if ok != c.packed {
				t.Errorf("%s asks %s (type %d, edns %v): packed %v, want %v", c.from, c.name, c.qtype, edns, ok, c.packed)
				continue
			}
			if !ok {
				continue
			}
			got := new(mdns.Msg)
			if err := got.Unpack(out); err != nil {
				t.Fatalf("%s: packed answer does not unpack: %v", c.name, err)
			}
			want := ask(h, c.from, c.name, c.qtype)
			want.Id, want.CheckingDisabled = q.Id, true
			// Round-robin order aside, the two are the same message.
			if !slices.Equal(addrs(got), addrs(want)) {
				t.Errorf("%s: addresses %v, ServeDNS %v", c.name, addrs(got), addrs(want))
			}
			got.Answer, want.Answer = nil, nil
			if got.String() != want.String() {
				t.Errorf("%s asks %s:\npacked\n%s\nServeDNS\n%s", c.from, c.name, got, want)
			}
			if got.Question[0].Name != mdns.Fqdn(c.name) {
				t.Errorf("question spelled %q, asked %q", got.Question[0].Name, c.name)
			}
		}
	}
}

// Replicas come back in every rotation from the packed path too.
func TestPackedRoundRobin(t *testing.T) {
	t.Parallel()
	h := testHandler()
	b, _ := query("web", mdns.TypeA, false).Pack()
	firsts := map[string]bool{}
	for range 4 {
		_, out, ok := h.answer(b, ip("10.89.0.2"), nil, nil)
		m := new(mdns.Msg)
		if !ok || m.Unpack(out) != nil || len(m.Answer) != 2 {
			t.Fatalf("packed answer %v %v", ok, m)
		}
		firsts[m.Answer[0].(*mdns.A).A.String()] = true
	}
	if len(firsts) != 2 {
		t.Errorf("first answer never rotates: %v", firsts)
	}
}

// In the steady state an answer allocates nothing.
func TestPackedAnswerAllocatesNothing(t *testing.T) {
	h := testHandler()
	b, _ := query("web", mdns.TypeA, true).Pack()
	key, out := make([]byte, 0, 260), make([]byte, 0, 512)
	allocs := testing.AllocsPerRun(1000, func() {
		var ok bool
		key, out, ok = h.answer(b, ip("10.89.0.2"), key, out)
		if !ok {
			t.Fatal("not answered")
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per answer", allocs)
	}
}

// Malformed or unusual queries are never answered from the packed path.
func TestParseQueryRefuses(t *testing.T) {
	good, _ := query("web", mdns.TypeA, false).Pack()
	mutate := func(f func(b []byte) []byte) []byte { return f(slices.Clone(good)) }
	for name, b := range map[string][]byte{
		"short":       good[:14],
		"a response":  mutate(func(b []byte) []byte { b[2] |= 0x80; return b }),
		"notify":      mutate(func(b []byte) []byte { b[2] |= 4 << 3; return b }),
		"2 questions": mutate(func(b []byte) []byte { b[5] = 2; return b }),
		"answers":     mutate(func(b []byte) []byte { b[7] = 1; return b }),
		"trailing":    append(slices.Clone(good), 0),
		"class CH":    mutate(func(b []byte) []byte { b[len(b)-1] = 3; return b }),
		"pointer":     mutate(func(b []byte) []byte { b[12] = 0xc0; return b }),
		"cut name":    good[:15],
	} {
		if _, _, ok := parseQuery(b, nil); ok {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, _, ok := parseQuery(good, nil); !ok {
		t.Error("a plain query refused")
	}
}

// Over real sockets: the packed path answers on UDP, forwarding and TCP
// still work, and a second server cannot take the same address even
// though the first one's sockets share it among themselves.
func TestListenServesUDPAndRefusesASecondServer(t *testing.T) {
	t.Parallel()
	up := fakeUpstreamSamePort(t, false)
	h := testHandler(up)
	h.Set(NewSnapshot([]Endpoint{{Network: "n", Container: "c", Names: []string{"svc"}, IP: ip("127.0.0.1")}}))
	h.Upstreams = []string{up}
	l, err := Listen("127.0.0.1:0", h)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Shutdown(context.Background())
	addr := l.udp[0].LocalAddr().String()
	if _, err := Listen(addr, h); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("second Listen on %s: %v", addr, err)
	}
	c := &mdns.Client{Net: "udp", Timeout: time.Second}
	for name, want := range map[string]string{"svc.": "127.0.0.1", "example.com.": "192.0.2.99"} {
		resp, _, err := c.Exchange(query(name, mdns.TypeA, false), addr)
		if err != nil || len(resp.Answer) != 1 || resp.Answer[0].(*mdns.A).A.String() != want || resp.Id != 0xbeef {
			t.Errorf("%s over UDP: %v %v", name, resp, err)
		}
	}
}

package dns

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// recorder is a socket-free ResponseWriter, like CoreDNS's dnstest.Recorder.
type recorder struct {
	remote net.Addr
	msg    *mdns.Msg
}

func (r *recorder) LocalAddr() net.Addr         { return &net.UDPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 53} }
func (r *recorder) RemoteAddr() net.Addr        { return r.remote }
func (r *recorder) WriteMsg(m *mdns.Msg) error  { r.msg = m; return nil }
func (r *recorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *recorder) Close() error                { return nil }
func (r *recorder) TsigStatus() error           { return nil }
func (r *recorder) TsigTimersOnly(bool)         {}
func (r *recorder) Hijack()                     {}

func ask(h *Handler, from, name string, qtype uint16) *mdns.Msg {
	m := new(mdns.Msg)
	m.SetQuestion(mdns.Fqdn(name), qtype)
	rec := &recorder{remote: &net.UDPAddr{IP: net.ParseIP(from), Port: 40000}}
	h.ServeDNS(rec, m)
	return rec.msg
}

func addrs(m *mdns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		switch v := rr.(type) {
		case *mdns.A:
			out = append(out, v.A.String())
		case *mdns.AAAA:
			out = append(out, v.AAAA.String())
		case *mdns.PTR:
			out = append(out, v.Ptr)
		}
	}
	slices.Sort(out)
	return out
}

var ip = netip.MustParseAddr

func testHandler(upstreams ...string) *Handler {
	h := NewHandler(upstreams)
	h.Timeout = time.Second
	h.Set(NewSnapshot([]Endpoint{
		{Network: "front", Container: "p-web-1", Names: []string{"web", "p-web-1", "www"}, IP: ip("10.89.0.2")},
		{Network: "front", Container: "p-web-2", Names: []string{"web", "p-web-2"}, IP: ip("10.89.0.3")},
		{Network: "front", Container: "p-proxy-1", Names: []string{"proxy", "p-proxy-1"}, IP: ip("10.89.0.4")},
		{Network: "back", Container: "p-proxy-1", Names: []string{"proxy", "p-proxy-1", "gateway-alias"}, IP: ip("10.89.1.4")},
		{Network: "back", Container: "p-db-1", Names: []string{"db", "p-db-1", "database"}, IP: ip("10.89.1.2"), Upstreams: []string{"127.0.0.1:1"}},
		// back is dual-stack: db has an IPv6 address too.
		{Network: "back", Container: "p-db-1", Names: []string{"db", "p-db-1", "database"}, IP: ip("fd67::2"), Upstreams: []string{"127.0.0.1:1"}},
	}))
	return h
}

func TestAnswersByNetworkOfAsker(t *testing.T) {
	t.Parallel()
	h := testHandler()
	cases := []struct {
		from, name string
		rcode      int
		want       []string
	}{
		{"10.89.0.2", "web", mdns.RcodeSuccess, []string{"10.89.0.2", "10.89.0.3"}}, // replicas
		{"10.89.0.2", "WWW.", mdns.RcodeSuccess, []string{"10.89.0.2"}},             // alias, any case
		{"10.89.0.2", "p-web-2", mdns.RcodeSuccess, []string{"10.89.0.3"}},          // container name
		{"10.89.0.2", "db", mdns.RcodeNameError, nil},                               // other network: invisible
		{"10.89.1.2", "web", mdns.RcodeNameError, nil},
		{"10.89.1.2", "proxy", mdns.RcodeSuccess, []string{"10.89.1.4"}},                  // address on the shared network
		{"10.89.0.4", "db", mdns.RcodeSuccess, []string{"10.89.1.2"}},                     // proxy is on both
		{"10.89.0.4", "web.front", mdns.RcodeSuccess, []string{"10.89.0.2", "10.89.0.3"}}, // name.network form
		{"10.89.0.4", "nothere.front", mdns.RcodeNameError, nil},
		{"10.89.0.2", "unknown", mdns.RcodeNameError, nil},
	}
	for _, c := range cases {
		m := ask(h, c.from, c.name, mdns.TypeA)
		if m.Rcode != c.rcode || !slices.Equal(addrs(m), c.want) {
			t.Errorf("%s asks %s: rcode %s %v, want %s %v", c.from, c.name,
				mdns.RcodeToString[m.Rcode], addrs(m), mdns.RcodeToString[c.rcode], c.want)
		}
	}
	if m := ask(h, "10.89.0.2", "web", mdns.TypeAAAA); m.Rcode != mdns.RcodeSuccess || len(m.Answer) != 0 {
		t.Errorf("AAAA for a container name: want NODATA, got %v", m)
	}
}

func TestRoundRobin(t *testing.T) {
	t.Parallel()
	h := testHandler()
	firsts := map[string]bool{}
	for i := 0; i < 4; i++ {
		m := ask(h, "10.89.0.2", "web", mdns.TypeA)
		firsts[m.Answer[0].(*mdns.A).A.String()] = true
	}
	if len(firsts) != 2 {
		t.Errorf("first answer never rotates: %v", firsts)
	}
}

func TestPTR(t *testing.T) {
	t.Parallel()
	h := testHandler()
	if m := ask(h, "10.89.0.2", "3.0.89.10.in-addr.arpa", mdns.TypePTR); !slices.Equal(addrs(m), []string{"p-web-2."}) {
		t.Errorf("PTR: %v", m)
	}
	// The asker shares no network with db: the PTR is not ours to answer
	// and goes upstream, which fails here (no upstream).
	if m := ask(h, "10.89.0.2", "2.1.89.10.in-addr.arpa", mdns.TypePTR); m.Rcode != mdns.RcodeServerFailure {
		t.Errorf("PTR across networks: %v", m)
	}
}

func TestForwardsToUpstreamWithTCPFallback(t *testing.T) {
	t.Parallel()
	for _, truncate := range []bool{false, true} {
		// Listen on one port for both UDP and TCP.
		up := fakeUpstreamSamePort(t, truncate)
		h := testHandler(up)
		m := ask(h, "10.89.0.2", "example.com", mdns.TypeA)
		if m.Rcode != mdns.RcodeSuccess || !slices.Equal(addrs(m), []string{"192.0.2.99"}) {
			t.Errorf("truncate=%v: forwarded answer %v", truncate, m)
		}
	}
	// A container's own dns: servers are used instead of the host's; the
	// one configured for db (127.0.0.1:1) does not answer.
	h := testHandler(fakeUpstreamSamePort(t, false))
	if m := ask(h, "10.89.1.2", "example.com", mdns.TypeA); m.Rcode != mdns.RcodeServerFailure {
		t.Errorf("per-container upstream not used: %v", m)
	}
}

// fakeUpstreamSamePort binds UDP and TCP on the same 127.0.0.1 port.
func fakeUpstreamSamePort(t *testing.T, truncate bool) string {
	t.Helper()
	for i := 0; i < 20; i++ {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := pc.LocalAddr().String()
		pc.Close()
		upc, err := net.ListenPacket("udp", addr)
		if err != nil {
			continue
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			upc.Close()
			continue
		}
		for _, srv := range []*mdns.Server{{PacketConn: upc, Handler: fakeHandler(truncate)}, {Listener: ln, Handler: fakeHandler(truncate)}} {
			go func() { _ = srv.ActivateAndServe() }()
			t.Cleanup(func() { _ = srv.Shutdown() })
		}
		return addr
	}
	t.Fatal("no free port")
	return ""
}

func fakeHandler(truncate bool) mdns.Handler {
	return mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(r)
		if _, udp := w.RemoteAddr().(*net.UDPAddr); udp && truncate {
			m.Truncated = true
		} else {
			m.Answer = []mdns.RR{&mdns.A{Hdr: mdns.RR_Header{Name: r.Question[0].Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 60}, A: net.ParseIP("192.0.2.99")}}
		}
		_ = w.WriteMsg(m)
	})
}

// One real server on 127.0.0.1: a query over UDP gets the snapshot's answer.
func TestRealServerOnLoopback(t *testing.T) {
	t.Parallel()
	h := NewHandler(nil)
	h.Set(NewSnapshot([]Endpoint{{Network: "n", Container: "c", Names: []string{"svc"}, IP: ip("127.0.0.1")}}))
	l, err := Listen("127.0.0.1:0", h)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Shutdown(context.Background())
	m := new(mdns.Msg)
	m.SetQuestion("svc.", mdns.TypeA)
	for _, netw := range []string{"udp", "tcp"} {
		addr := l.udp[0].LocalAddr().String()
		if netw == "tcp" {
			addr = l.tcp.Listener.Addr().String()
		}
		resp, _, err := (&mdns.Client{Net: netw, Timeout: time.Second}).Exchange(m, addr)
		if err != nil || !slices.Equal(addrs(resp), []string{"127.0.0.1"}) {
			t.Errorf("%s: %v %v", netw, resp, err)
		}
	}
}

// On a dual-stack network A answers the IPv4 address and AAAA the IPv6
// one; a name with only IPv4 addresses has no AAAA (NODATA, not NXDOMAIN);
// PTR answers for the IPv6 address too.
func TestAAAAOnDualStack(t *testing.T) {
	t.Parallel()
	h := testHandler()
	for _, c := range []struct {
		from, name string
		qtype      uint16
		want       []string
	}{
		{"10.89.1.4", "db", mdns.TypeA, []string{"10.89.1.2"}},
		{"10.89.1.4", "db", mdns.TypeAAAA, []string{"fd67::2"}},
		{"fd67::2", "db", mdns.TypeAAAA, []string{"fd67::2"}}, // asked over IPv6
		{"10.89.1.4", "database", mdns.TypeANY, []string{"10.89.1.2", "fd67::2"}},
		{"10.89.0.2", "web", mdns.TypeAAAA, nil},
		{"10.89.1.4", "2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.7.6.d.f.ip6.arpa", mdns.TypePTR, []string{"p-db-1."}},
	} {
		m := ask(h, c.from, c.name, c.qtype)
		if m.Rcode != mdns.RcodeSuccess || !slices.Equal(addrs(m), c.want) {
			t.Errorf("%s asks %s (type %d): rcode %d, %v; want %v", c.from, c.name, c.qtype, m.Rcode, addrs(m), c.want)
		}
	}
}

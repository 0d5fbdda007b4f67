package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	mdns "github.com/miekg/dns"
	"golang.org/x/sys/unix"
)

// TTL of answers for container names; short, since containers come and go.
const TTL = 5

// Handler answers queries from the current snapshot and forwards the rest.
type Handler struct {
	snap atomic.Pointer[Snapshot]
	rr   atomic.Uint64
	// Upstreams are the host's resolvers, host:port.
	Upstreams []string
	Timeout   time.Duration
}

// NewHandler starts with an empty snapshot.
func NewHandler(upstreams []string) *Handler {
	h := &Handler{Upstreams: upstreams, Timeout: 2 * time.Second}
	h.snap.Store(NewSnapshot(nil))
	return h
}

// Set replaces the records atomically.
func (h *Handler) Set(s *Snapshot) { h.snap.Store(s) }

// Snapshot returns the records in use.
func (h *Handler) Snapshot() *Snapshot { return h.snap.Load() }

func sourceAddr(w mdns.ResponseWriter) netip.Addr {
	if ap, err := netip.ParseAddrPort(w.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// ServeDNS implements miekg/dns's Handler.
func (h *Handler) ServeDNS(w mdns.ResponseWriter, r *mdns.Msg) {
	if len(r.Question) != 1 {
		h.reply(w, r, mdns.RcodeFormatError, nil)
		return
	}
	q := r.Question[0]
	src := sourceAddr(w)
	snap := h.snap.Load()
	if q.Qclass == mdns.ClassINET {
		switch q.Qtype {
		case mdns.TypeA, mdns.TypeAAAA, mdns.TypeANY:
			ips, owned := snap.Lookup(src, q.Name)
			if len(ips) > 0 {
				// A for the IPv4 addresses, AAAA for the IPv6 ones (a
				// network without IPv6 has none: NODATA), both for ANY.
				var rrs []mdns.RR
				if q.Qtype != mdns.TypeAAAA {
					rrs = append(rrs, h.addrRecords(q.Name, family(ips, true))...)
				}
				if q.Qtype != mdns.TypeA {
					rrs = append(rrs, h.addrRecords(q.Name, family(ips, false))...)
				}
				h.reply(w, r, mdns.RcodeSuccess, rrs)
				return
			}
			// A single-label name, or one under a network's name, is ours:
			// say it does not exist rather than ask the Internet.
			if owned || !strings.Contains(normalize(q.Name), ".") {
				h.reply(w, r, mdns.RcodeNameError, nil)
				return
			}
		case mdns.TypePTR:
			if addr, ok := ptrAddr(q.Name); ok {
				if name, ok := snap.PTR(src, addr); ok {
					rr := &mdns.PTR{Hdr: mdns.RR_Header{Name: q.Name, Rrtype: mdns.TypePTR, Class: mdns.ClassINET, Ttl: TTL}, Ptr: mdns.Fqdn(name)}
					h.reply(w, r, mdns.RcodeSuccess, []mdns.RR{rr})
					return
				}
			}
		}
	}
	ups := h.Upstreams
	if own := snap.upstreams[src]; len(own) > 0 {
		ups = own
	}
	resp, err := h.forward(r, ups, isTCP(w))
	if err != nil {
		h.reply(w, r, mdns.RcodeServerFailure, nil)
		return
	}
	resp.Id = r.Id
	_ = w.WriteMsg(resp)
}

func isTCP(w mdns.ResponseWriter) bool {
	_, ok := w.RemoteAddr().(*net.TCPAddr)
	return ok
}

// addrRecords are A (or AAAA) records of the addresses (one family),
// rotated on each answer (round-robin replicas).
func (h *Handler) addrRecords(name string, ips []netip.Addr) []mdns.RR {
	n := len(ips)
	if n == 0 {
		return nil
	}
	start := int(h.rr.Add(1) % uint64(n))
	out := make([]mdns.RR, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, addrRecord(name, ips[(start+i)%n]))
	}
	return out
}

// addrRecord is the A or AAAA record of one address.
func addrRecord(name string, ip netip.Addr) mdns.RR {
	if ip.Is4() {
		return &mdns.A{Hdr: mdns.RR_Header{Name: name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: TTL}, A: ip.AsSlice()}
	}
	return &mdns.AAAA{Hdr: mdns.RR_Header{Name: name, Rrtype: mdns.TypeAAAA, Class: mdns.ClassINET, Ttl: TTL}, AAAA: ip.AsSlice()}
}

// family is the IPv4 (v4) or IPv6 addresses of ips.
func family(ips []netip.Addr, v4 bool) []netip.Addr {
	var out []netip.Addr
	for _, ip := range ips {
		if ip.Is4() == v4 {
			out = append(out, ip)
		}
	}
	return out
}

func (h *Handler) reply(w mdns.ResponseWriter, r *mdns.Msg, rcode int, answer []mdns.RR) {
	m := new(mdns.Msg)
	m.SetRcode(r, rcode)
	m.Authoritative = rcode == mdns.RcodeSuccess || rcode == mdns.RcodeNameError
	m.RecursionAvailable = true
	m.Answer = answer
	_ = w.WriteMsg(m)
}

// forward asks each upstream in turn; a truncated UDP answer is retried
// over TCP.
func (h *Handler) forward(r *mdns.Msg, upstreams []string, tcp bool) (*mdns.Msg, error) {
	if len(upstreams) == 0 {
		return nil, errors.New("no upstream resolver")
	}
	var lastErr error
	for _, up := range upstreams {
		netw := "udp"
		if tcp {
			netw = "tcp"
		}
		c := &mdns.Client{Net: netw, Timeout: h.Timeout}
		resp, _, err := c.Exchange(r, up)
		if err == nil && resp.Truncated && netw == "udp" {
			c.Net = "tcp"
			resp, _, err = c.Exchange(r, up)
		}
		if err == nil {
			return resp, nil
		}
		lastErr = err
	}
	return nil, fmt.Errorf("forward: %w", lastErr)
}

// ptrAddr parses d.c.b.a.in-addr.arpa.
func ptrAddr(name string) (netip.Addr, bool) {
	name = normalize(name)
	if rest, ok := strings.CutSuffix(name, ".ip6.arpa"); ok {
		// 32 nibbles, least significant first.
		p := strings.Split(rest, ".")
		if len(p) != 32 {
			return netip.Addr{}, false
		}
		var b [16]byte
		for i, nib := range p {
			if len(nib) != 1 {
				return netip.Addr{}, false
			}
			v, err := strconv.ParseUint(nib, 16, 8)
			if err != nil {
				return netip.Addr{}, false
			}
			pos := 31 - i
			if pos%2 == 0 {
				b[pos/2] |= byte(v) << 4
			} else {
				b[pos/2] |= byte(v)
			}
		}
		return netip.AddrFrom16(b), true
	}
	rest, ok := strings.CutSuffix(name, ".in-addr.arpa")
	if !ok {
		return netip.Addr{}, false
	}
	p := strings.Split(rest, ".")
	if len(p) != 4 {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(p[3] + "." + p[2] + "." + p[1] + "." + p[0])
	return a, err == nil
}

// Listener serves one address over UDP and TCP.
type Listener struct {
	Addr  string
	udp   []*net.UDPConn
	tcp   *mdns.Server
	loops sync.WaitGroup
}

// Listen binds addr (host:port) on UDP and TCP and serves h until Shutdown.
// UDP gets one socket per CPU on the same address (SO_REUSEPORT: the
// kernel spreads queries over them), each read by its own loop. Binding
// happens here, so a bind error is returned, not logged later; an address
// another process holds is refused even if that process set SO_REUSEPORT
// too.
func Listen(addr string, h *Handler) (*Listener, error) {
	conns, err := listenUDP(addr, runtime.NumCPU())
	if err != nil {
		return nil, err
	}
	closeAll := func() {
		for _, c := range conns {
			c.Close()
		}
	}
	ln, err := net.Listen("tcp", conns[0].LocalAddr().String())
	if err != nil {
		closeAll()
		return nil, err
	}
	l := &Listener{Addr: addr, udp: conns, tcp: &mdns.Server{Listener: ln, Handler: h}}
	for _, c := range conns {
		l.loops.Add(1)
		go func() {
			defer l.loops.Done()
			h.serveUDP(c)
		}()
	}
	started := make(chan struct{})
	l.tcp.NotifyStartedFunc = func() { close(started) }
	go func() { _ = l.tcp.ActivateAndServe() }()
	<-started
	return l, nil
}

// listenUDP binds n UDP sockets on addr with SO_REUSEPORT. A plain bind
// first checks that nobody holds the address (with or without the option)
// and resolves port 0; it is released for the sockets that serve.
func listenUDP(addr string, n int) ([]*net.UDPConn, error) {
	probe, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, err
	}
	bound := probe.LocalAddr().String()
	probe.Close()
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	var conns []*net.UDPConn
	for range max(n, 1) {
		pc, err := lc.ListenPacket(context.Background(), "udp", bound)
		if err != nil {
			for _, c := range conns {
				c.Close()
			}
			return nil, err
		}
		conns = append(conns, pc.(*net.UDPConn))
	}
	return conns, nil
}

// isClosed says a read failed because the socket was closed (Shutdown).
func isClosed(err error) bool { return errors.Is(err, net.ErrClosed) }

// Shutdown stops both servers.
func (l *Listener) Shutdown(ctx context.Context) error {
	for _, c := range l.udp {
		c.Close()
	}
	l.loops.Wait()
	return l.tcp.ShutdownContext(ctx)
}

package dns

import (
	"encoding/binary"
	"net"
	"net/netip"
	"slices"
	"strings"

	mdns "github.com/miekg/dns"
)

// The answer path for UDP queries that the snapshot answers: an A or AAAA
// question for a name a network has, which is nearly every query in the
// steady state. Answers are packed once per snapshot (by miekg/dns), per
// view (the names containers on one set of networks see), so a query costs
// a map lookup and a copy, and allocates nothing. Anything else (PTR,
// misses, forwarding, other types or classes, several questions, EDNS
// options beyond a bare OPT) is unpacked by miekg/dns and goes through
// Handler.ServeDNS as before.

// maxRotations is how many replicas a name may have for its answers to be
// packed in every round-robin order; more go through ServeDNS.
const maxRotations = 8

// view is what queries from containers on one set of networks are
// answered: packed replies keyed by the lowercased wire-form question name
// followed by the big-endian question type.
type view struct {
	answers map[string]*packed
}

// packed holds one reply per round-robin rotation of its addresses, with
// ID 0 and the question as the snapshot spells it; serve patches the ID,
// the RD and CD bits and the question's spelling.
type packed struct {
	replies [][]byte
}

// buildViews packs the answers of every view; src addresses on the same
// set of networks share one.
func (s *Snapshot) buildViews() {
	s.views = map[netip.Addr]*view{}
	byNets := map[string]*view{}
	for src, nets := range s.networks {
		key := strings.Join(nets, "\x00")
		if v, ok := byNets[key]; ok {
			s.views[src] = v
			continue
		}
		v := &view{answers: map[string]*packed{}}
		for _, net := range nets {
			suffix := "." + normalize(net)
			for name := range s.names[net] {
				for _, q := range []string{name, name + suffix} {
					s.pack(v, src, q)
				}
			}
		}
		byNets[key] = v
		s.views[src] = v
	}
}

// pack adds the A and AAAA replies for name, as Lookup answers it for src.
func (s *Snapshot) pack(v *view, src netip.Addr, name string) {
	ips, _ := s.Lookup(src, name)
	if len(ips) == 0 || len(ips) > maxRotations {
		return
	}
	wire := make([]byte, 256)
	n, err := mdns.PackDomainName(mdns.Fqdn(name), wire, 0, nil, false)
	if err != nil {
		return
	}
	wire = wire[:n]
	if _, ok := v.answers[questionKey(wire, mdns.TypeA)]; ok {
		return
	}
	reply := func(qtype uint16, answer []mdns.RR) []byte {
		m := &mdns.Msg{MsgHdr: mdns.MsgHdr{Response: true, Authoritative: true, RecursionAvailable: true},
			Compress: true, Question: []mdns.Question{{Name: mdns.Fqdn(name), Qtype: qtype, Qclass: mdns.ClassINET}}, Answer: answer}
		b, err := m.Pack()
		if err != nil || len(b) > mdns.MinMsgSize {
			return nil
		}
		return b
	}
	// A replies from the IPv4 addresses, AAAA from the IPv6 ones, a reply
	// per rotation; a family without addresses is NODATA.
	answers := map[uint16]*packed{}
	for qtype, addrs := range map[uint16][]netip.Addr{mdns.TypeA: family(ips, true), mdns.TypeAAAA: family(ips, false)} {
		p := &packed{}
		for start := range max(len(addrs), 1) {
			rrs := make([]mdns.RR, 0, len(addrs))
			for i := range addrs {
				rrs = append(rrs, addrRecord(mdns.Fqdn(name), addrs[(start+i)%len(addrs)]))
			}
			b := reply(qtype, rrs)
			if b == nil {
				return
			}
			p.replies = append(p.replies, b)
		}
		answers[qtype] = p
	}
	for qtype, p := range answers {
		v.answers[questionKey(wire, qtype)] = p
	}
}

func questionKey(wire []byte, qtype uint16) string {
	return string(binary.BigEndian.AppendUint16(slices.Clone(wire), qtype))
}

// question is where a query's one question lies in its buffer.
type question struct {
	nameEnd int    // offset after the name's root label
	qtype   uint16 // question type
}

// parseQuery accepts a plain query: QR clear, opcode QUERY, one question
// of class IN with an uncompressed name, no answer or authority records,
// and at most one additional record that is a bare OPT (EDNS, whose
// options the reply does not echo, as ServeDNS does not). key receives
// the lowercased name and type. It reports false for anything else.
func parseQuery(b []byte, key []byte) (question, []byte, bool) {
	if len(b) < 12+5 || b[2]&0xf8 != 0 { // QR and opcode bits
		return question{}, key, false
	}
	qd, an, ns, ar := binary.BigEndian.Uint16(b[4:]), binary.BigEndian.Uint16(b[6:]), binary.BigEndian.Uint16(b[8:]), binary.BigEndian.Uint16(b[10:])
	if qd != 1 || an != 0 || ns != 0 || ar > 1 {
		return question{}, key, false
	}
	off := 12
	for {
		if off >= len(b) {
			return question{}, key, false
		}
		l := int(b[off])
		if l == 0 {
			key = append(key, 0)
			off++
			break
		}
		if l&0xc0 != 0 || off+1+l > len(b) || len(key)+1+l > 255 {
			return question{}, key, false
		}
		key = append(key, b[off])
		for _, c := range b[off+1 : off+1+l] {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			key = append(key, c)
		}
		off += 1 + l
	}
	if off+4 > len(b) || binary.BigEndian.Uint16(b[off+2:]) != mdns.ClassINET {
		return question{}, key, false
	}
	q := question{nameEnd: off, qtype: binary.BigEndian.Uint16(b[off:])}
	rest := b[off+4:]
	switch {
	case ar == 0 && len(rest) == 0:
	case ar == 1 && len(rest) == 11 && rest[0] == 0 && binary.BigEndian.Uint16(rest[1:]) == mdns.TypeOPT:
		// A bare OPT: root name, type, payload size, rcode/flags, no data.
	default:
		return question{}, key, false
	}
	if q.qtype != mdns.TypeA && q.qtype != mdns.TypeAAAA {
		return question{}, key, false
	}
	return q, binary.BigEndian.AppendUint16(key, q.qtype), true
}

// answer writes into out the packed reply to the query in b, from src's
// view, and reports whether there was one.
func (h *Handler) answer(b []byte, src netip.Addr, key, out []byte) ([]byte, []byte, bool) {
	q, key, ok := parseQuery(b, key[:0])
	if !ok {
		return key, out, false
	}
	v := h.snap.Load().views[src]
	if v == nil {
		return key, out, false
	}
	p := v.answers[string(key)]
	if p == nil {
		return key, out, false
	}
	reply := p.replies[0]
	if len(p.replies) > 1 {
		reply = p.replies[h.rr.Add(1)%uint64(len(p.replies))]
	}
	out = append(out[:0], reply...)
	copy(out[0:2], b[0:2])                   // ID
	out[2] |= b[2] & 0x01                    // RD
	out[3] |= b[3] & 0x10                    // CD
	copy(out[12:q.nameEnd], b[12:q.nameEnd]) // the question as asked (0x20 case)
	return key, out, true
}

// serveUDP reads queries from pc until it is closed: packed answers are
// written from this loop, everything else goes to ServeDNS on its own
// goroutine, so forwarding never holds up local answers.
func (h *Handler) serveUDP(pc *net.UDPConn) {
	buf := make([]byte, mdns.MaxMsgSize)
	key := make([]byte, 0, 260)
	out := make([]byte, 0, mdns.MinMsgSize)
	for {
		n, src, err := pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			if isClosed(err) {
				return
			}
			continue
		}
		var ok bool
		key, out, ok = h.answer(buf[:n], src.Addr().Unmap(), key, out)
		if ok {
			_, _ = pc.WriteToUDPAddrPort(out, src)
			continue
		}
		req := new(mdns.Msg)
		if err := req.Unpack(buf[:n]); err != nil {
			continue
		}
		go h.ServeDNS(&udpWriter{pc: pc, remote: src}, req)
	}
}

// udpWriter answers one query on the socket it came from.
type udpWriter struct {
	pc     *net.UDPConn
	remote netip.AddrPort
}

func (w *udpWriter) LocalAddr() net.Addr  { return w.pc.LocalAddr() }
func (w *udpWriter) RemoteAddr() net.Addr { return net.UDPAddrFromAddrPort(w.remote) }
func (w *udpWriter) WriteMsg(m *mdns.Msg) error {
	b, err := m.Pack()
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
func (w *udpWriter) Write(b []byte) (int, error) { return w.pc.WriteToUDPAddrPort(b, w.remote) }
func (w *udpWriter) Close() error                { return nil }
func (w *udpWriter) TsigStatus() error           { return nil }
func (w *udpWriter) TsigTimersOnly(bool)         {}
func (w *udpWriter) Hijack()                     {}

package dns

import (
	"context"
	"net/netip"

	mdns "github.com/miekg/dns"
)

// The handler chain, in order. Each is small and does one thing.
func (s *Server) handlers() Handler {
	return chain(authoritative{s}, sanity, edns, s.challenges)
}

// maxUDPSize is the UDP payload size this server advertises and uses at most
// (the DNS flag day 2020 value).
const maxUDPSize = 1232

// sanity rejects what an authoritative server does not answer: other opcodes
// (NOTIMP), not exactly one question (FORMERR), zone transfers and classes
// other than IN (REFUSED).
func sanity(next Handler) Handler {
	return HandlerFunc(func(ctx context.Context, w mdns.ResponseWriter, r *mdns.Msg) (int, error) {
		if r.Opcode != mdns.OpcodeQuery {
			return mdns.RcodeNotImplemented, nil
		}
		if len(r.Question) != 1 {
			return mdns.RcodeFormatError, nil
		}
		q := r.Question[0]
		if q.Qclass != mdns.ClassINET && q.Qclass != mdns.ClassANY {
			return mdns.RcodeRefused, nil
		}
		switch q.Qtype {
		case mdns.TypeAXFR, mdns.TypeIXFR:
			return mdns.RcodeRefused, nil
		}
		return next.ServeDNS(ctx, w, r)
	})
}

// edns handles EDNS0 (RFC 6891): BADVERS for versions other than 0, an OPT in
// every reply to an EDNS query, the client subnet (RFC 7871) as the client
// address for geo rules and echoed with its scope.
func edns(next Handler) Handler {
	return HandlerFunc(func(ctx context.Context, w mdns.ResponseWriter, r *mdns.Msg) (int, error) {
		opt := r.IsEdns0()
		if opt == nil {
			return next.ServeDNS(ctx, w, r)
		}
		st := requestFrom(ctx)
		if st.udpSize > 0 {
			st.udpSize = max(mdns.MinMsgSize, min(int(opt.UDPSize()), maxUDPSize))
		}
		if opt.Version() != 0 {
			m := new(mdns.Msg).SetReply(r)
			m.SetEdns0(maxUDPSize, opt.Do())
			m.Rcode = mdns.RcodeBadVers
			return mdns.RcodeBadVers, w.WriteMsg(m)
		}
		for _, o := range opt.Option {
			ecs, ok := o.(*mdns.EDNS0_SUBNET)
			if !ok {
				continue
			}
			addr, ok := netip.AddrFromSlice(ecs.Address)
			bits := 32
			if ecs.Family == 2 {
				bits = 128
			}
			if !ok || (ecs.Family != 1 && ecs.Family != 2) || int(ecs.SourceNetmask) > bits || ecs.SourceScope != 0 {
				return mdns.RcodeFormatError, nil
			}
			st.ecs = ecs
			if ecs.SourceNetmask > 0 {
				st.client = addr.Unmap()
			}
		}
		return next.ServeDNS(ctx, &ednsWriter{ResponseWriter: w, st: st, do: opt.Do()}, r)
	})
}

// ednsWriter adds the OPT record (and the ECS echo) to the reply.
type ednsWriter struct {
	mdns.ResponseWriter
	st *request
	do bool
}

func (w *ednsWriter) WriteMsg(m *mdns.Msg) error {
	if m.IsEdns0() == nil {
		m.SetEdns0(maxUDPSize, w.do)
	}
	if ecs := w.st.ecs; ecs != nil {
		echo := *ecs
		if w.st.usedGeo {
			echo.SourceScope = ecs.SourceNetmask
		}
		opt := m.IsEdns0()
		opt.Option = append(opt.Option, &echo)
	}
	return w.ResponseWriter.WriteMsg(m)
}

// authoritative answers from the zones of the running snapshot; REFUSED for
// names in no served zone.
type authoritative struct{ s *Server }

func (a authoritative) ServeDNS(ctx context.Context, w mdns.ResponseWriter, r *mdns.Msg) (int, error) {
	t := a.s.table.Load()
	q := r.Question[0]
	qname := lower(q.Name)
	z := t.zoneFor(qname)
	if z == nil {
		return mdns.RcodeRefused, nil
	}
	st := requestFrom(ctx)
	m := new(mdns.Msg).SetReply(r)
	st.usedGeo = z.answer(m, qname, q.Qtype, &clientInfo{addr: st.client, src: t.geo})
	return m.Rcode, w.WriteMsg(m)
}

var _ Handler = authoritative{}

package dns

import (
	"context"
	"strings"

	mdns "github.com/miekg/dns"
)

// ChallengeSource gives the pending ACME DNS-01 TXT values of an owner name
// (node/acme.TXT: an in-memory copy of the hub's challenge bucket). It is
// asked per query, so it must answer from memory.
type ChallengeSource interface {
	// ChallengeTXT returns the values pending for name, a lower-case FQDN
	// ("_acme-challenge.example.com."); nil when none.
	ChallengeTXT(name string) []string
}

// challengeLabel is the first label of every DNS-01 owner name (RFC 8555
// section 8.4).
const challengeLabel = "_acme-challenge"

// challengeTTL is the TTL of challenge TXT records: short, so that a
// resolver never holds a value past its challenge.
const challengeTTL = 10

// challenges answers queries for names that hold pending DNS-01 values,
// within the zones the node serves: TXT gets the values (beside any TXT
// records of the zone at that name), other types NODATA. Names in no served
// zone, below a delegation or owning a CNAME go on to authoritative
// unchanged (REFUSED, referral, the CNAME). Values change between
// snapshots, so these names never take the fast path (isChallengeQuery).
func (s *Server) challenges(next Handler) Handler {
	src := s.opts.Challenges
	if src == nil {
		return next
	}
	return HandlerFunc(func(ctx context.Context, w mdns.ResponseWriter, r *mdns.Msg) (int, error) {
		q := r.Question[0]
		qname := lower(q.Name)
		if !strings.HasPrefix(qname, challengeLabel+".") {
			return next.ServeDNS(ctx, w, r)
		}
		values := src.ChallengeTXT(qname)
		if len(values) == 0 {
			return next.ServeDNS(ctx, w, r)
		}
		t := s.table.Load()
		z := t.zoneFor(qname)
		if z == nil || z.cutFor(qname) != "" {
			return next.ServeDNS(ctx, w, r)
		}
		if n := z.nodes[qname]; n != nil && n.sets[mdns.TypeCNAME] != nil {
			return next.ServeDNS(ctx, w, r)
		}
		st := requestFrom(ctx)
		m := new(mdns.Msg).SetReply(r)
		st.usedGeo = z.answer(m, qname, q.Qtype, &clientInfo{addr: st.client, src: t.geo})
		m.Rcode = mdns.RcodeSuccess // the name exists: it owns the values
		if q.Qtype == mdns.TypeTXT {
			m.Ns = nil
			for _, v := range values {
				m.Answer = append(m.Answer, &mdns.TXT{
					Hdr: mdns.RR_Header{Name: q.Name, Rrtype: mdns.TypeTXT, Class: mdns.ClassINET, Ttl: challengeTTL},
					Txt: []string{v},
				})
			}
		}
		return m.Rcode, w.WriteMsg(m)
	})
}

// isChallengeQuery reports whether the wire query's name starts with the
// _acme-challenge label (any case); the fast path leaves those to the chain.
func isChallengeQuery(in []byte) bool {
	const n = len(challengeLabel)
	if len(in) < 13+n || int(in[12]) != n {
		return false
	}
	for i := range n {
		c := in[13+i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != challengeLabel[i] {
			return false
		}
	}
	return true
}

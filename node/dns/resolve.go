package dns

import (
	"strings"

	mdns "github.com/miekg/dns"
)

// maxChase bounds CNAME chasing inside a zone.
const maxChase = 8

// zoneFor returns the zone with the longest origin that contains qname
// (lower-case FQDN), or nil.
func (t *table) zoneFor(qname string) *zone {
	for name := qname; ; {
		if z := t.zones[name]; z != nil {
			return z
		}
		i, end := mdns.NextLabel(name, 0)
		if end {
			return nil
		}
		name = name[i:]
	}
}

// answer fills m (already a reply to the query) with the authoritative answer
// for qname/qtype from zone z. It reports whether a geo rule took part.
func (z *zone) answer(m *mdns.Msg, qname string, qtype uint16, c *clientInfo) (usedGeo bool) {
	m.Authoritative = true
	name := qname
	for chase := 0; ; chase++ {
		if cut := z.cutFor(name); cut != "" {
			if len(m.Answer) > 0 {
				return usedGeo // a CNAME led out of our authority
			}
			z.referral(m, cut)
			return usedGeo
		}
		n, owner := z.nodes[name], name
		if n == nil && z.wildcard {
			n, owner = z.wildcardFor(name)
		}
		if n == nil {
			m.Rcode = mdns.RcodeNameError
			z.negative(m)
			return usedGeo
		}
		if qtype == mdns.TypeANY {
			// RFC 8482: one synthesized HINFO instead of the whole node.
			m.Answer = append(m.Answer, &mdns.HINFO{
				Hdr: mdns.RR_Header{Name: name, Rrtype: mdns.TypeHINFO, Class: mdns.ClassINET, Ttl: z.soa.Hdr.Ttl},
				Cpu: "RFC8482",
			})
			return usedGeo
		}
		if s := n.sets[qtype]; s != nil {
			rrs, geo := pick(s, c)
			usedGeo = usedGeo || geo
			if len(rrs) > 0 {
				m.Answer = appendOwned(m.Answer, rrs, owner, name)
				z.additional(m, rrs, c)
				return usedGeo
			}
		}
		if s := n.sets[mdns.TypeCNAME]; s != nil && qtype != mdns.TypeCNAME {
			rrs, geo := pick(s, c)
			usedGeo = usedGeo || geo
			if len(rrs) > 0 {
				m.Answer = appendOwned(m.Answer, rrs[:1], owner, name)
				target := rrs[0].(*mdns.CNAME).Target
				if chase >= maxChase || !mdns.IsSubDomain(z.origin, target) {
					return usedGeo
				}
				name = target
				continue
			}
		}
		z.negative(m) // NODATA
		return usedGeo
	}
}

// pick returns the records of s for client c: those of every variant whose
// match selects c, else the default variant.
func pick(s *rrset, c *clientInfo) (rrs []mdns.RR, usedGeo bool) {
	var def *variant
	for i := range s.variants {
		v := &s.variants[i]
		usedGeo = usedGeo || v.gslb != nil
		if v.match == nil {
			def = v
			continue
		}
		usedGeo = true
		if c != nil && v.match.matches(c) {
			if rrs == nil {
				rrs = v.records(c) // shared: appended to only after a copy
				continue
			}
			rrs = append(rrs[:len(rrs):len(rrs)], v.records(c)...)
		}
	}
	if len(rrs) == 0 && def != nil {
		rrs = def.records(c)
	}
	return rrs, usedGeo
}

// appendOwned appends rrs, renamed to name when they come from a wildcard.
func appendOwned(dst, rrs []mdns.RR, owner, name string) []mdns.RR {
	if owner == name {
		return append(dst, rrs...)
	}
	for _, rr := range rrs {
		cp := mdns.Copy(rr)
		cp.Header().Name = name
		dst = append(dst, cp)
	}
	return dst
}

// negative puts the SOA in the authority section, its TTL capped by the
// negative-caching TTL (RFC 2308).
func (z *zone) negative(m *mdns.Msg) {
	soa := *z.soa
	if soa.Minttl < soa.Hdr.Ttl {
		soa.Hdr.Ttl = soa.Minttl
	}
	m.Ns = append(m.Ns, &soa)
}

// cutFor returns the highest delegation point at or above name, or "".
func (z *zone) cutFor(name string) string {
	if len(z.cuts) == 0 {
		return ""
	}
	cut := ""
	for n := name; n != z.origin && n != ""; {
		if z.cuts[n] {
			cut = n
		}
		i, end := mdns.NextLabel(n, 0)
		if end {
			break
		}
		n = n[i:]
	}
	return cut
}

// referral answers a name below a delegation: NS in authority, glue in
// additional, not authoritative.
func (z *zone) referral(m *mdns.Msg, cut string) {
	m.Authoritative = false
	s := z.nodes[cut].sets[mdns.TypeNS]
	rrs, _ := pick(s, nil)
	m.Ns = append(m.Ns, rrs...)
	for _, rr := range rrs {
		target := rr.(*mdns.NS).Ns
		if !mdns.IsSubDomain(cut, target) {
			continue
		}
		if n := z.nodes[target]; n != nil {
			for _, t := range []uint16{mdns.TypeA, mdns.TypeAAAA} {
				if s := n.sets[t]; s != nil {
					glue, _ := pick(s, nil)
					m.Extra = append(m.Extra, glue...)
				}
			}
		}
	}
}

// wildcardFor finds the wildcard covering a name that does not exist: the
// "*" child of its closest encloser (RFC 4592).
func (z *zone) wildcardFor(name string) (*node, string) {
	for n := name; ; {
		i, end := mdns.NextLabel(n, 0)
		if end {
			return nil, ""
		}
		n = n[i:]
		if _, ok := z.nodes[n]; ok {
			w := "*." + n
			return z.nodes[w], w
		}
		if n == z.origin {
			return nil, ""
		}
	}
}

// additional adds in-zone A/AAAA for the targets of MX, NS and SRV answers.
func (z *zone) additional(m *mdns.Msg, rrs []mdns.RR, c *clientInfo) {
	for _, rr := range rrs {
		var target string
		switch v := rr.(type) {
		case *mdns.MX:
			target = v.Mx
		case *mdns.NS:
			target = v.Ns
		case *mdns.SRV:
			target = v.Target
		default:
			return
		}
		if !mdns.IsSubDomain(z.origin, target) || z.cutFor(target) != "" {
			continue
		}
		if n := z.nodes[target]; n != nil {
			for _, t := range []uint16{mdns.TypeA, mdns.TypeAAAA} {
				if s := n.sets[t]; s != nil && !s.hasGeo() {
					glue, _ := pick(s, c)
					m.Extra = append(m.Extra, glue...)
				}
			}
		}
	}
}

// lower lower-cases an ASCII domain name without allocating when it already is.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

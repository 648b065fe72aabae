package dns

import (
	"cmp"
	"fmt"
	"sort"
	"strings"

	mdns "github.com/miekg/dns"

	dnsv1 "github.com/strata-edge/strata/gen/strata/dns/v1"
	"github.com/strata-edge/strata/pkg/domainname"
)

// Defaults when a zone leaves a value unset.
const (
	defaultTTL     = 300
	defaultRefresh = 3600
	defaultRetry   = 600
	defaultExpire  = 86400
	defaultMinimum = 300
)

// variant is the part of an RRset selected by one geo match (match nil: the
// default answer).
type variant struct {
	match *matcher
	rrs   []mdns.RR
	// gslb, when set, answers instead of rrs (a GSLB record is alone in
	// its variant).
	gslb *gslb
}

// records are the variant's answer for client c.
func (v *variant) records(c *clientInfo) []mdns.RR {
	if v.gslb != nil {
		return v.gslb.choose(c)
	}
	return v.rrs
}

// rrset holds the records of one name and type.
type rrset struct {
	variants []variant
}

func (s *rrset) hasGeo() bool {
	for _, v := range s.variants {
		if v.match != nil || v.gslb != nil {
			return true
		}
	}
	return false
}

// node is one owner name; empty non-terminals have no sets.
type node struct {
	sets map[uint16]*rrset
}

// zone is the compiled, immutable runtime form of one released zone.
type zone struct {
	origin   string // lower-case FQDN
	soa      *mdns.SOA
	nodes    map[string]*node
	wildcard bool            // some owner is a wildcard
	cuts     map[string]bool // delegation points below the apex
}

// compileZone turns a released zone into its runtime form. Every record must
// parse; the error names the record.
func compileZone(z *dnsv1.Zone, gateways map[string]Gateway) (*zone, error) {
	if z.GetName() == "" {
		return nil, fmt.Errorf("zone %q: name: required", z.GetId())
	}
	origin := mdns.CanonicalName(z.GetName())
	if err := domainname.CheckDNSName(origin); err != nil { // the control plane's check
		return nil, fmt.Errorf("zone %q: name: %w", z.GetId(), err)
	}
	out := &zone{origin: origin, nodes: map[string]*node{}, cuts: map[string]bool{}}
	soa := z.GetSoa()
	ttl := cmp.Or(soa.GetTtl(), defaultTTL)
	ns := z.GetNameservers()
	mname := soa.GetMname()
	if mname == "" && len(ns) > 0 {
		mname = ns[0]
	}
	if mname == "" {
		mname = "ns1." + origin
	}
	rname := soa.GetRname()
	if rname == "" {
		rname = "hostmaster." + origin
	}
	out.soa = &mdns.SOA{
		Hdr:     mdns.RR_Header{Name: origin, Rrtype: mdns.TypeSOA, Class: mdns.ClassINET, Ttl: ttl},
		Ns:      mdns.Fqdn(strings.ToLower(mname)),
		Mbox:    mdns.Fqdn(strings.ToLower(rname)),
		Serial:  uint32(z.GetRelease()),
		Refresh: cmp.Or(soa.GetRefresh(), defaultRefresh),
		Retry:   cmp.Or(soa.GetRetry(), defaultRetry),
		Expire:  cmp.Or(soa.GetExpire(), defaultExpire),
		Minttl:  cmp.Or(soa.GetMinimum(), defaultMinimum),
	}
	out.add(origin, nil, out.soa)
	for _, n := range ns {
		out.add(origin, nil, &mdns.NS{
			Hdr: mdns.RR_Header{Name: origin, Rrtype: mdns.TypeNS, Class: mdns.ClassINET, Ttl: ttl},
			Ns:  mdns.Fqdn(strings.ToLower(n)),
		})
	}
	matchers := map[string]*matcher{}
	for i, r := range z.GetRecords() {
		if r.GetDisabled() {
			continue
		}
		rrs, owner, err := recordRRs(origin, r, gateways)
		if err != nil {
			return nil, fmt.Errorf("zone %s: record %d (%s %s): %w", origin, i, r.GetName(), typeName(r.GetType()), err)
		}
		var g *gslb
		if len(r.GetGatewayTargets()) > 0 {
			if n := len(r.GetGatewayTargets()); n > maxTargets {
				return nil, fmt.Errorf("zone %s: record %d (%s %s): %d gateway targets, more than %d", origin, i, r.GetName(), typeName(r.GetType()), n, maxTargets)
			}
			if g, err = compileGSLB(owner, cmp.Or(r.GetTtl(), defaultTTL), r, gateways); err != nil {
				return nil, fmt.Errorf("zone %s: record %d (%s %s): %w", origin, i, r.GetName(), typeName(r.GetType()), err)
			}
		}
		var m *matcher
		if r.GetMatch() != nil {
			key := matchKey(r.GetMatch())
			if m = matchers[key]; m == nil {
				if m, err = newMatcher(r.GetMatch()); err != nil {
					return nil, fmt.Errorf("zone %s: record %d (%s %s): match: %w", origin, i, r.GetName(), typeName(r.GetType()), err)
				}
				matchers[key] = m
			}
		}
		for _, rr := range rrs {
			out.add(owner, m, rr)
		}
		if g != nil {
			out.addGSLB(owner, m, r.GetType(), g)
		} else if len(rrs) == 0 { // a gateway with no healthy node: the name still exists (NODATA)
			out.ensure(owner)
		}
		if strings.HasPrefix(owner, "*.") {
			out.wildcard = true
		}
		if r.GetType() == dnsv1.RecordType_RECORD_TYPE_NS && owner != origin {
			out.cuts[owner] = true
		}
	}
	return out, nil
}

// ensure creates the node owner (without records) and the empty
// non-terminals above it.
func (z *zone) ensure(owner string) *node {
	n := z.nodes[owner]
	if n == nil {
		n = &node{}
		z.nodes[owner] = n
	}
	for name := owner; name != z.origin; {
		i, end := mdns.NextLabel(name, 0)
		if end {
			break
		}
		name = name[i:]
		if _, ok := z.nodes[name]; !ok {
			z.nodes[name] = &node{}
		}
	}
	return n
}

// addGSLB files a GSLB answer under owner as its own variant.
func (z *zone) addGSLB(owner string, m *matcher, typ dnsv1.RecordType, g *gslb) {
	n := z.ensure(owner)
	if n.sets == nil {
		n.sets = map[uint16]*rrset{}
	}
	t := mdns.TypeA
	if typ == dnsv1.RecordType_RECORD_TYPE_AAAA {
		t = mdns.TypeAAAA
	}
	s := n.sets[t]
	if s == nil {
		s = &rrset{}
		n.sets[t] = s
	}
	s.variants = append(s.variants, variant{match: m, gslb: g})
}

// add files rr under owner and creates the empty non-terminals above it.
func (z *zone) add(owner string, m *matcher, rr mdns.RR) {
	n := z.ensure(owner)
	if n.sets == nil {
		n.sets = map[uint16]*rrset{}
	}
	t := rr.Header().Rrtype
	s := n.sets[t]
	if s == nil {
		s = &rrset{}
		n.sets[t] = s
	}
	found := false
	for i := range s.variants {
		if s.variants[i].match == m {
			s.variants[i].rrs = append(s.variants[i].rrs, rr)
			found = true
			break
		}
	}
	if !found {
		s.variants = append(s.variants, variant{match: m, rrs: []mdns.RR{rr}})
	}
}

// recordRRs parses one record into RRs and returns its lower-case owner.
func recordRRs(origin string, r *dnsv1.Record, gateways map[string]Gateway) ([]mdns.RR, string, error) {
	owner, err := ownerName(origin, r.GetName())
	if err != nil {
		return nil, "", err
	}
	typ := typeName(r.GetType())
	if r.GetType() == dnsv1.RecordType_RECORD_TYPE_UNSPECIFIED {
		return nil, "", fmt.Errorf("type: required")
	}
	ttl := cmp.Or(r.GetTtl(), defaultTTL)
	if len(r.GetGatewayTargets()) > 0 {
		if t := r.GetType(); t != dnsv1.RecordType_RECORD_TYPE_A && t != dnsv1.RecordType_RECORD_TYPE_AAAA {
			return nil, "", fmt.Errorf("gateway targets on a %s record", typ)
		}
		return nil, owner, nil // compileGSLB
	}
	if r.GetGatewayCluster() != "" {
		addrs := r.GetGatewayAddresses()
		if live, ok := gateways[r.GetGatewayCluster()]; ok {
			addrs = live.Addresses
		}
		rrs, err := addressRRs(owner, ttl, r.GetType(), addrs, nil)
		return rrs, owner, err
	}
	if strings.ContainsAny(r.GetData(), "\n\r") {
		return nil, "", fmt.Errorf("data %q: more than one line", r.GetData())
	}
	// Relative names in the data are relative to the zone, as in a zone file.
	zp := mdns.NewZoneParser(strings.NewReader(fmt.Sprintf("%s %d IN %s %s\n", owner, ttl, typ, r.GetData())), origin, "")
	rr, ok := zp.Next()
	if err := zp.Err(); err != nil {
		return nil, "", fmt.Errorf("data %q: %w", r.GetData(), err)
	}
	if !ok {
		return nil, "", fmt.Errorf("data: required")
	}
	lowerNames(rr)
	return []mdns.RR{rr}, owner, nil
}

// ownerName resolves a record name relative to origin ("@", "www", "*.img",
// or an absolute name inside the zone).
func ownerName(origin, name string) (string, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	var owner string
	switch {
	case name == "" || name == "@":
		owner = origin
	case strings.HasSuffix(name, "."):
		owner = name
	default:
		owner = name + "." + origin
	}
	if err := domainname.CheckDNSName(owner); err != nil {
		return "", fmt.Errorf("name: %w", err)
	}
	if !mdns.IsSubDomain(origin, owner) {
		return "", fmt.Errorf("name %q: outside zone %s", name, origin)
	}
	return owner, nil
}

// lowerNames lower-cases the target names of rr so answers are canonical.
func lowerNames(rr mdns.RR) {
	switch v := rr.(type) {
	case *mdns.CNAME:
		v.Target = strings.ToLower(v.Target)
	case *mdns.MX:
		v.Mx = strings.ToLower(v.Mx)
	case *mdns.NS:
		v.Ns = strings.ToLower(v.Ns)
	case *mdns.SRV:
		v.Target = strings.ToLower(v.Target)
	case *mdns.PTR:
		v.Ptr = strings.ToLower(v.Ptr)
	}
}

// typeName is the zone-file mnemonic of t ("A", "AAAA", ...).
func typeName(t dnsv1.RecordType) string {
	return strings.TrimPrefix(t.String(), "RECORD_TYPE_")
}

func matchKey(m *dnsv1.GeoMatch) string {
	parts := func(xs []string) string {
		c := append([]string(nil), xs...)
		for i := range c {
			c[i] = strings.ToLower(c[i])
		}
		sort.Strings(c)
		return strings.Join(c, ",")
	}
	asns := make([]string, 0, len(m.GetAsns()))
	for _, a := range m.GetAsns() {
		asns = append(asns, fmt.Sprint(a))
	}
	return strings.Join([]string{parts(m.GetCountries()), parts(m.GetContinents()), parts(asns), parts(m.GetIsps()), parts(m.GetCidrs())}, "|")
}

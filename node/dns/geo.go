package dns

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"

	dnsv1 "github.com/strata-edge/strata/gen/strata/dns/v1"
)

// geoInfo is what a geo database knows about a client address.
type geoInfo struct {
	country, continent string // upper-case codes
	asn                uint32
	org                string  // ASN organisation, lower-case
	lat, lon           float64 // degrees, when hasLoc
	hasLoc             bool
}

// geoSource looks up client addresses; nil when no geo file is configured.
type geoSource interface {
	lookup(netip.Addr) geoInfo
}

// matcher is a compiled GeoMatch.
type matcher struct {
	prefixes   []netip.Prefix
	countries  map[string]bool
	continents map[string]bool
	asns       map[uint32]bool
	orgs       map[string]bool
}

func newMatcher(m *dnsv1.GeoMatch) (*matcher, error) {
	out := &matcher{}
	for i, c := range m.GetCidrs() {
		p, err := netip.ParsePrefix(strings.TrimSpace(c))
		if err != nil {
			return nil, fmt.Errorf("cidrs[%d] %q: %w", i, c, err)
		}
		out.prefixes = append(out.prefixes, p.Masked())
	}
	set := func(xs []string, upper bool) map[string]bool {
		if len(xs) == 0 {
			return nil
		}
		s := map[string]bool{}
		for _, x := range xs {
			x = strings.TrimSpace(x)
			if x == "" {
				continue
			}
			if upper {
				x = strings.ToUpper(x)
			} else {
				x = strings.ToLower(x)
			}
			s[x] = true
		}
		return s
	}
	out.countries = set(m.GetCountries(), true)
	out.continents = set(m.GetContinents(), true)
	out.orgs = set(m.GetIsps(), false)
	if len(m.GetAsns()) > 0 {
		out.asns = map[uint32]bool{}
		for _, a := range m.GetAsns() {
			out.asns[a] = true
		}
	}
	return out, nil
}

// needsGeo reports whether matching needs a geo database lookup.
func (m *matcher) needsGeo() bool {
	return len(m.countries)+len(m.continents)+len(m.asns)+len(m.orgs) > 0
}

// matches reports whether any condition selects the client.
func (m *matcher) matches(c *clientInfo) bool {
	if !c.addr.IsValid() {
		return false
	}
	for _, p := range m.prefixes {
		if p.Contains(c.addr) {
			return true
		}
	}
	if !m.needsGeo() {
		return false
	}
	g := c.geo()
	return m.countries[g.country] || m.continents[g.continent] || m.asns[g.asn] || m.orgs[g.org]
}

// clientInfo is the client address with its geo data looked up at most once.
type clientInfo struct {
	addr   netip.Addr
	src    geoSource
	looked bool
	info   geoInfo
	// rnd, optional, draws GSLB choices (tests seed it); nil: math/rand/v2.
	rnd *rand.Rand
}

// rand64 is a random number for a weighted choice.
func (c *clientInfo) rand64() uint64 {
	if c != nil && c.rnd != nil {
		return c.rnd.Uint64()
	}
	return rand.Uint64()
}

func (c *clientInfo) geo() geoInfo {
	if !c.looked {
		c.looked = true
		if c.src != nil {
			c.info = c.src.lookup(c.addr)
		}
	}
	return c.info
}

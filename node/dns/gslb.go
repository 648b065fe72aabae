package dns

import (
	"fmt"
	"math"
	"net/netip"
	"slices"

	mdns "github.com/miekg/dns"
	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	dnsv1 "github.com/strata-edge/strata/gen/strata/dns/v1"
)

// Gateway is the live state of one cluster for gateway records, from the
// nodes service's gateway sets (Server.SetGateways).
type Gateway struct {
	// Addresses are the public addresses of the cluster's healthy online
	// nodes (empty: none is healthy).
	Addresses []string
	// All are the public addresses of every approved, enabled node of the
	// cluster, healthy or not: what a GSLB record falls back to when none of
	// its clusters is healthy. Nil: the snapshot's.
	All []string
	// Location is where the cluster is (nil: unknown).
	Location *configv1.ClusterLocation
}

func (g Gateway) equal(o Gateway) bool {
	return slices.Equal(g.Addresses, o.Addresses) && slices.Equal(g.All, o.All) && proto.Equal(g.Location, o.Location)
}

// nearTolerance is how much farther than the nearest healthy cluster
// another may be and still count as equally near (its weight then shares
// the answers): two clusters in one metro area split the load.
const nearTolerance = 100.0 // km

// earthRadius is the mean Earth radius in km.
const earthRadius = 6371.0

// Proximity levels of a GSLB target for one client, best first.
const (
	levelDistance  = iota // both have coordinates: ranked by distance
	levelCountry          // same country
	levelContinent        // same continent
	levelAny              // nothing known in common
	levelNone             // not a candidate (no healthy address)
)

// gslbTarget is one compiled target of a GSLB record.
type gslbTarget struct {
	weight             uint64
	country, continent string
	hasLoc             bool
	lat, lon, cosLat   float64 // radians
	rrs                []mdns.RR
}

// gslb is the compiled answer of a GSLB record (gateway_targets): the
// targets' healthy records, precomputed per gateway set, and the fallback
// (every target's every address) for when none is healthy.
type gslb struct {
	targets  []gslbTarget
	fallback []mdns.RR
}

// compileGSLB builds the runtime of r, a validated A/AAAA record with
// gateway targets; live overrides the snapshot's addresses and locations
// per cluster reference.
func compileGSLB(owner string, ttl uint32, r *dnsv1.Record, live map[string]Gateway) (*gslb, error) {
	g := &gslb{}
	seen := map[string]bool{}
	for i, gt := range r.GetGatewayTargets() {
		addrs, all, loc := gt.GetAddresses(), gt.GetAddresses(), gt.GetLocation()
		if l, ok := live[gt.GetCluster()]; ok {
			addrs, loc = l.Addresses, l.Location
			if l.All != nil {
				all = l.All
			}
		}
		t := gslbTarget{weight: uint64(max(gt.GetWeight(), 1)), country: loc.GetCountry(), continent: loc.GetContinent()}
		if la, lo := loc.GetLatitude(), loc.GetLongitude(); la != 0 || lo != 0 {
			t.hasLoc, t.lat, t.lon = true, la*math.Pi/180, lo*math.Pi/180
			t.cosLat = math.Cos(t.lat)
		}
		var err error
		if t.rrs, err = addressRRs(owner, ttl, r.GetType(), addrs, nil); err != nil {
			return nil, fmt.Errorf("gateway_targets[%d] (%s): %w", i, gt.GetCluster(), err)
		}
		var fresh []string
		for _, a := range all {
			if !seen[a] {
				seen[a] = true
				fresh = append(fresh, a)
			}
		}
		if g.fallback, err = addressRRs(owner, ttl, r.GetType(), fresh, g.fallback); err != nil {
			return nil, fmt.Errorf("gateway_targets[%d] (%s): %w", i, gt.GetCluster(), err)
		}
		g.targets = append(g.targets, t)
	}
	return g, nil
}

// addressRRs appends to dst the A (or AAAA) records of the addresses of
// the record's family.
func addressRRs(owner string, ttl uint32, typ dnsv1.RecordType, addrs []string, dst []mdns.RR) ([]mdns.RR, error) {
	for _, a := range addrs {
		ip, err := netip.ParseAddr(a)
		if err != nil {
			return nil, fmt.Errorf("gateway address %q: %w", a, err)
		}
		hdr := mdns.RR_Header{Name: owner, Class: mdns.ClassINET, Ttl: ttl}
		switch {
		case ip.Is4() && typ == dnsv1.RecordType_RECORD_TYPE_A:
			hdr.Rrtype = mdns.TypeA
			dst = append(dst, &mdns.A{Hdr: hdr, A: ip.AsSlice()})
		case ip.Is6() && !ip.Is4In6() && typ == dnsv1.RecordType_RECORD_TYPE_AAAA:
			hdr.Rrtype = mdns.TypeAAAA
			dst = append(dst, &mdns.AAAA{Hdr: hdr, AAAA: ip.AsSlice()})
		}
	}
	return dst, nil
}

// rank places target t for a client at geo: its level and, at
// levelDistance, the great-circle distance in km.
func (t *gslbTarget) rank(geo *geoInfo, cLat, cLon, cCos float64) (int, float64) {
	switch {
	case len(t.rrs) == 0:
		return levelNone, 0
	case geo.hasLoc && t.hasLoc:
		// haversine
		dLat, dLon := t.lat-cLat, t.lon-cLon
		h := math.Sin(dLat/2)*math.Sin(dLat/2) + cCos*t.cosLat*math.Sin(dLon/2)*math.Sin(dLon/2)
		return levelDistance, 2 * earthRadius * math.Asin(math.Sqrt(min(h, 1)))
	case geo.country != "" && geo.country == t.country:
		return levelCountry, 0
	case geo.continent != "" && geo.continent == t.continent:
		return levelContinent, 0
	}
	return levelAny, 0
}

// choose returns the answer for client c: the healthy records of the
// nearest target (by distance when the client and the target have
// coordinates, else same country, else same continent, else any), chosen by
// weight among the equally near ones (within nearTolerance at
// levelDistance); every target's every address when no target has a
// healthy one. It allocates nothing.
func (g *gslb) choose(c *clientInfo) []mdns.RR {
	var geo geoInfo
	if c != nil && c.addr.IsValid() {
		geo = c.geo()
	}
	var cLat, cLon, cCos float64
	if geo.hasLoc {
		cLat, cLon = geo.lat*math.Pi/180, geo.lon*math.Pi/180
		cCos = math.Cos(cLat)
	}
	best, bestD := levelNone, math.Inf(1)
	var dist [maxTargets]float64
	var level [maxTargets]int
	for i := range g.targets {
		l, d := g.targets[i].rank(&geo, cLat, cLon, cCos)
		level[i], dist[i] = l, d
		if l < best || (l == best && d < bestD) {
			best, bestD = l, d
		}
	}
	if best == levelNone {
		return g.fallback
	}
	near := func(i int) bool {
		return level[i] == best && (best != levelDistance || dist[i] <= bestD+nearTolerance)
	}
	var total uint64
	for i := range g.targets {
		if near(i) {
			total += g.targets[i].weight
		}
	}
	r := c.rand64() % total
	for i := range g.targets {
		if !near(i) {
			continue
		}
		if r < g.targets[i].weight {
			return g.targets[i].rrs
		}
		r -= g.targets[i].weight
	}
	return g.fallback // unreachable
}

// maxTargets bounds a record's targets (the control plane allows 16).
const maxTargets = 16

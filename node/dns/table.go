package dns

import (
	"fmt"

	mdns "github.com/miekg/dns"

	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
)

// table is the immutable runtime of one snapshot: the compiled zones and the
// wire-format answers prepared from them.
type table struct {
	version uint64
	zones   map[string]*zone // by lower-case origin
	geo     geoSource
	// fast maps lower-case wire name + qtype to a prepared reply; qtype 0
	// holds the NODATA reply of an existing name. A nil wire means "existing
	// name, answer on the slow path".
	fast map[string][]byte
	// fastZones maps lower-case wire origins to their NXDOMAIN material.
	fastZones map[string]*fastZone
}

// fastZone is what an NXDOMAIN needs without building a message.
type fastZone struct {
	// simple zones have no wildcards and no delegations, so a name without a
	// fast entry does not exist.
	simple bool
	// soa is the negative SOA record in wire format, compressed as in a
	// reply whose question is the origin; ptrs are the offsets of its
	// compression pointers. A query's name ends with the origin, so in its
	// reply every target moves by the bytes the name adds to the origin.
	soa       []byte
	ptrs      []int
	originLen int
}

// cnameTypes are the query types prepared for names that own a CNAME (the
// answer depends on the type through the chase); others take the slow path.
var cnameTypes = []uint16{mdns.TypeA, mdns.TypeAAAA, mdns.TypeTXT, mdns.TypeMX, mdns.TypeCNAME,
	mdns.TypeSRV, mdns.TypeCAA, mdns.TypeNS, mdns.TypeSOA, mdns.TypeHTTPS}

// compileTable builds the runtime of snap; any bad zone fails the whole
// snapshot, so a node never serves half a config.
//
// gateways, optional, overrides the addresses of gateway records per cluster
// (the live set of healthy online nodes, see Server.SetGateways).
func compileTable(snap *syncv1.Snapshot, geo geoSource, gateways map[string]Gateway) (*table, error) {
	t := &table{
		version:   snap.GetVersion(),
		zones:     map[string]*zone{},
		geo:       geo,
		fast:      map[string][]byte{},
		fastZones: map[string]*fastZone{},
	}
	for _, zp := range snap.GetZones() {
		z, err := compileZone(zp, gateways)
		if err != nil {
			return nil, err
		}
		if _, dup := t.zones[z.origin]; dup {
			return nil, fmt.Errorf("zone %s: served twice", z.origin)
		}
		t.zones[z.origin] = z
	}
	for _, z := range t.zones {
		if err := t.prepare(z); err != nil {
			return nil, fmt.Errorf("zone %s: %w", z.origin, err)
		}
	}
	return t, nil
}

// prepare packs the replies of every name and type of z.
func (t *table) prepare(z *zone) error {
	origin, err := wireName(z.origin)
	if err != nil {
		return err
	}
	soa, ptrs, err := negativeSOA(z, len(origin))
	if err != nil {
		return err
	}
	t.fastZones[string(origin)] = &fastZone{simple: !z.wildcard && len(z.cuts) == 0, soa: soa, ptrs: ptrs, originLen: len(origin)}

	for name, nd := range z.nodes {
		if t.zoneFor(name) != z { // owned by a more specific zone we also serve
			continue
		}
		wn, err := wireName(name)
		if err != nil {
			return err
		}
		key := func(qt uint16) string { return string(append(wn[:len(wn):len(wn)], byte(qt>>8), byte(qt))) }
		if z.cutFor(name) != "" {
			t.fast[key(0)] = nil
			continue
		}
		types := make([]uint16, 0, len(nd.sets)+len(cnameTypes))
		for qt := range nd.sets {
			types = append(types, qt)
		}
		_, hasCNAME := nd.sets[mdns.TypeCNAME]
		if hasCNAME {
			types = append(types, cnameTypes...)
			t.fast[key(0)] = nil
		} else {
			// TypeNULL is never served, so this is the name's NODATA reply.
			wire, err := prepared(z, name, mdns.TypeNULL)
			if err != nil {
				return err
			}
			t.fast[key(0)] = wire
		}
		for _, qt := range types {
			wire, err := prepared(z, name, qt)
			if err != nil {
				return err
			}
			t.fast[key(qt)] = wire
		}
	}
	return nil
}

// prepared is the packed reply (id 0, no EDNS) for name/qtype, or nil when it
// depends on the client (geo) or exceeds a plain UDP reply.
func prepared(z *zone, name string, qtype uint16) ([]byte, error) {
	q := new(mdns.Msg).SetQuestion(name, qtype)
	q.RecursionDesired = false
	m := new(mdns.Msg).SetReply(q)
	if z.answer(m, name, qtype, nil) {
		return nil, nil
	}
	m.Compress = true
	wire, err := m.Pack()
	if err != nil {
		return nil, fmt.Errorf("pack %s %s: %w", name, mdns.TypeToString[qtype], err)
	}
	if len(wire) > mdns.MinMsgSize {
		return nil, nil
	}
	return wire, nil
}

// negativeSOA packs the authority section of z's negative answers the way
// miekg/dns compresses it behind a question for the origin (wire length
// originLen), and finds its compression pointers.
func negativeSOA(z *zone, originLen int) (soa []byte, ptrs []int, err error) {
	m := new(mdns.Msg).SetQuestion(z.origin, mdns.TypeSOA)
	z.negative(m)
	m.Compress = true
	wire, err := m.Pack()
	if err != nil {
		return nil, nil, fmt.Errorf("pack SOA: %w", err)
	}
	soa = wire[12+originLen+4:]
	// owner, then type, class, TTL, rdlength, then MNAME and RNAME
	off := 0
	for i := range 3 {
		if i == 1 {
			off += 10
		}
		for off < len(soa) && soa[off] != 0 && soa[off]&0xC0 == 0 {
			off += 1 + int(soa[off])
		}
		switch {
		case off >= len(soa):
			return nil, nil, fmt.Errorf("pack SOA: name %d runs past the record", i)
		case soa[off] == 0:
			off++
		default:
			ptrs = append(ptrs, off)
			off += 2
		}
	}
	return soa, ptrs, nil
}

func wireName(name string) ([]byte, error) {
	buf := make([]byte, 256)
	n, err := mdns.PackDomainName(name, buf, 0, nil, false)
	if err != nil {
		return nil, fmt.Errorf("name %q: %w", name, err)
	}
	return buf[:n], nil
}

package dns

import (
	"fmt"
	"io"
	"strings"

	mdns "github.com/miekg/dns"

	dnsv1 "github.com/strata-edge/strata/gen/strata/dns/v1"
)

// ParseZoneFile reads a standard zone file into the zone message a snapshot
// carries (SOA and apex NS become settings). For benchmarks and tests; the
// control plane's import validates far more.
func ParseZoneFile(f io.Reader, path, origin string) (*dnsv1.Zone, error) {
	origin = mdns.CanonicalName(origin)
	z := &dnsv1.Zone{Id: strings.TrimSuffix(origin, "."), Name: origin, Soa: &dnsv1.Soa{}, Release: 1}
	zp := mdns.NewZoneParser(f, origin, path)
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		h := rr.Header()
		name := strings.TrimSuffix(strings.TrimSuffix(strings.ToLower(h.Name), origin), ".")
		if name == "" {
			name = "@"
		}
		switch v := rr.(type) {
		case *mdns.SOA:
			z.Soa = &dnsv1.Soa{Mname: v.Ns, Rname: v.Mbox, Refresh: v.Refresh, Retry: v.Retry, Expire: v.Expire, Minimum: v.Minttl, Ttl: h.Ttl}
			continue
		case *mdns.NS:
			if name == "@" {
				z.Nameservers = append(z.Nameservers, v.Ns)
				continue
			}
		}
		t, ok := dnsv1.RecordType_value["RECORD_TYPE_"+mdns.TypeToString[h.Rrtype]]
		if !ok {
			return nil, fmt.Errorf("%s: type %s not supported", h.Name, mdns.TypeToString[h.Rrtype])
		}
		z.Records = append(z.Records, &dnsv1.Record{
			Name: name, Type: dnsv1.RecordType(t), Ttl: h.Ttl,
			Data: strings.TrimPrefix(rr.String(), h.String()),
		})
	}
	return z, zp.Err()
}

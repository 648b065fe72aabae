package dns

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	mdns "github.com/miekg/dns"
	"google.golang.org/protobuf/proto"

	dnsv1 "github.com/strata-edge/strata/gen/strata/dns/v1"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/domainname"
)

// Limits on zone content. A zone is one object of its partition's sync and
// its revert event carries all of it, so it stays well under the event
// store's 1 MiB per event.
const (
	// maxZoneFileBytes bounds ImportZone's zone_file, checked before
	// parsing (about 6,000 TXT records of 80 bytes).
	maxZoneFileBytes = 512 << 10
	// maxZoneRecordBytes bounds a zone's records, encoded (ids included).
	maxZoneRecordBytes = 768 << 10
	// maxGatewayTargets bounds the clusters of one GSLB record and
	// maxGatewayWeight a target's weight (docs/gslb.md).
	maxGatewayTargets = 16
	maxGatewayWeight  = 1000
)

// checkRecordsSize refuses records over maxZoneRecordBytes, naming field.
func checkRecordsSize(field string, recs []*dnsv1.Record) error {
	if n := proto.Size(&dnsv1.Zone{Records: recs}); n > maxZoneRecordBytes {
		return apierr.Invalid(apierr.FieldViolation{Field: field, Reason: fmt.Sprintf(
			"would make the zone's %d records %d bytes encoded, more than the limit of %d bytes per zone", len(recs), n, maxZoneRecordBytes)})
	}
	return nil
}

// canonicalOrigin validates a zone name and returns it lower-case and fully
// qualified.
func canonicalOrigin(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || name == "." {
		return "", fmt.Errorf("required")
	}
	if err := checkName(name); err != nil {
		return "", err
	}
	return mdns.CanonicalName(name), nil
}

// checkName validates a DNS name with the check nodes apply too
// (domainname.CheckDNSName), worded like the app domains' errors.
func checkName(name string) error {
	if err := domainname.CheckDNSName(name); err != nil {
		var de *domainname.Error
		if errors.As(err, &de) {
			return errors.New(de.Detail())
		}
		return err
	}
	return nil
}

// owner resolves a record name ("@", "www", "*.img" or absolute) in origin.
func owner(origin, name string) (string, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	var o string
	switch {
	case name == "" || name == "@":
		o = origin
	case strings.HasSuffix(name, "."):
		o = name
	default:
		o = name + "." + origin
	}
	if err := checkName(o); err != nil {
		return "", err
	}
	if !mdns.IsSubDomain(origin, o) {
		return "", fmt.Errorf("%s is outside the zone %s", o, origin)
	}
	return o, nil
}

// parsed is a validated record with its owner and RR.
type parsed struct {
	rec   *dnsv1.Record
	owner string
	rr    mdns.RR // nil for gateway records
}

// checkRecord validates one record; field is its position in the request
// ("record", "records[3]" or "line 12").
func checkRecord(origin string, r *dnsv1.Record, field string) (parsed, []apierr.FieldViolation) {
	var vs []apierr.FieldViolation
	bad := func(f, format string, args ...any) {
		vs = append(vs, apierr.FieldViolation{Field: field + f, Reason: fmt.Sprintf(format, args...)})
	}
	p := parsed{rec: r}
	o, err := owner(origin, r.GetName())
	if err != nil {
		bad(".name", "%v", err)
	}
	p.owner = o
	typ := strings.TrimPrefix(r.GetType().String(), "RECORD_TYPE_")
	if r.GetType() == dnsv1.RecordType_RECORD_TYPE_UNSPECIFIED {
		bad(".type", "required (A, AAAA, CNAME, MX, TXT, NS, SRV, CAA or PTR)")
	}
	switch {
	case len(r.GetGatewayTargets()) > 0:
		if r.GetGatewayCluster() != "" {
			bad(".gateway_targets", "give gateway_cluster (one cluster) or gateway_targets (GSLB), not both")
		}
		if t := r.GetType(); t != dnsv1.RecordType_RECORD_TYPE_A && t != dnsv1.RecordType_RECORD_TYPE_AAAA {
			bad(".gateway_targets", "only A and AAAA records can name gateway clusters, not %s", typ)
		}
		if r.GetData() != "" {
			bad(".data", "must be empty for a gateway record")
		}
		if n := len(r.GetGatewayTargets()); n > maxGatewayTargets {
			bad(".gateway_targets", "%d clusters, more than the limit of %d", n, maxGatewayTargets)
		}
		seen := map[string]bool{}
		for i, gt := range r.GetGatewayTargets() {
			f := fmt.Sprintf(".gateway_targets[%d]", i)
			c := strings.TrimSpace(gt.GetCluster())
			switch {
			case c == "":
				bad(f+".cluster", "required (a cluster id or name)")
			case len(c) > 128:
				bad(f+".cluster", "is %d characters, more than 128", len(c))
			case seen[c]:
				bad(f+".cluster", "cluster %q is listed twice", c)
			}
			seen[c] = true
			if w := gt.GetWeight(); w > maxGatewayWeight {
				bad(f+".weight", "%d is more than %d", w, maxGatewayWeight)
			}
		}
	case r.GetGatewayCluster() != "":
		if t := r.GetType(); t != dnsv1.RecordType_RECORD_TYPE_A && t != dnsv1.RecordType_RECORD_TYPE_AAAA {
			bad(".gateway_cluster", "only A and AAAA records can name a gateway cluster, not %s", typ)
		}
		if r.GetData() != "" {
			bad(".data", "must be empty for a gateway record")
		}
	case strings.TrimSpace(r.GetData()) == "":
		bad(".data", "required")
	case o != "" && r.GetType() != dnsv1.RecordType_RECORD_TYPE_UNSPECIFIED:
		rr, err := parseRR(origin, o, typ, r.GetData())
		if err != nil || rr == nil {
			bad(".data", "%s", dataError(typ, r.GetData(), err))
			break
		}
		p.rr = rr
		for _, target := range targets(rr) {
			if err := checkName(target); err != nil {
				bad(".data", "%v", err)
			}
		}
	}
	if m := r.GetMatch(); m != nil {
		for i, c := range m.GetCidrs() {
			if _, err := netip.ParsePrefix(strings.TrimSpace(c)); err != nil {
				bad(fmt.Sprintf(".match.cidrs[%d]", i), "%q is not a CIDR", c)
			}
		}
		for i, c := range m.GetCountries() {
			if len(strings.TrimSpace(c)) != 2 {
				bad(fmt.Sprintf(".match.countries[%d]", i), "%q is not an ISO 3166 two-letter code", c)
			}
		}
		for i, c := range m.GetContinents() {
			switch strings.ToUpper(strings.TrimSpace(c)) {
			case "AF", "AN", "AS", "EU", "NA", "OC", "SA":
			default:
				bad(fmt.Sprintf(".match.continents[%d]", i), "%q is not a continent code (AF AN AS EU NA OC SA)", c)
			}
		}
	}
	return p, vs
}

// dataForms says what the data of each record type looks like.
var dataForms = map[string]string{
	"A":     "an IPv4 address, e.g. 192.0.2.10",
	"AAAA":  "an IPv6 address, e.g. 2001:db8::10",
	"CNAME": "a domain name, e.g. www.example.com. or www (in the zone)",
	"NS":    "a domain name, e.g. ns1.example.com.",
	"PTR":   "a domain name, e.g. host.example.com.",
	"MX":    "PREFERENCE HOST, e.g. 10 mail.example.com.",
	"TXT":   `text, quoted when it has spaces, e.g. "v=spf1 -all"`,
	"SRV":   "PRIORITY WEIGHT PORT TARGET, e.g. 10 5 5060 sip.example.com.",
	"CAA":   `FLAGS TAG "VALUE", e.g. 0 issue "letsencrypt.org"`,
}

// dataError explains record data that does not parse as its type, without
// the DNS library's own wording ("dns: bad A A: ... at line: 1:18").
func dataError(typ, data string, err error) string {
	var pe *mdns.ParseError
	if err != nil && !errors.As(err, &pe) {
		return fmt.Sprintf("%q is not valid %s data: %v", data, typ, err) // ours: "data is one line"
	}
	if form, ok := dataForms[typ]; ok {
		return fmt.Sprintf("%q is not valid %s data: want %s", data, typ, form)
	}
	return fmt.Sprintf("%q is not valid %s data", data, typ)
}

// targets are the domain names an RR points at.
func targets(rr mdns.RR) []string {
	switch v := rr.(type) {
	case *mdns.CNAME:
		return []string{v.Target}
	case *mdns.MX:
		return []string{v.Mx}
	case *mdns.NS:
		return []string{v.Ns}
	case *mdns.SRV:
		return []string{v.Target}
	case *mdns.PTR:
		return []string{v.Ptr}
	}
	return nil
}

// checkZone validates the whole record set of a zone: what no single record
// shows (CNAME beside other data, CNAME at the apex, CNAME loops). where names
// each record's position for the error.
func checkZone(origin string, recs []parsed, where func(i int) string) []apierr.FieldViolation {
	var vs []apierr.FieldViolation
	types := map[string][]int{} // owner -> indexes of enabled records
	cnames := map[string]string{}
	for i, p := range recs {
		if p.rec.GetDisabled() || p.owner == "" {
			continue
		}
		types[p.owner] = append(types[p.owner], i)
		if p.rec.GetType() == dnsv1.RecordType_RECORD_TYPE_CNAME {
			if p.owner == origin {
				vs = append(vs, apierr.FieldViolation{Field: where(i), Reason: "CNAME at the zone apex is not allowed (the apex has SOA and NS)"})
			}
			if p.rr != nil {
				cnames[p.owner] = strings.ToLower(p.rr.(*mdns.CNAME).Target)
			}
		}
	}
	vs = append(vs, checkGSLB(recs, where)...)
	for o, idx := range types {
		if _, ok := cnames[o]; !ok || len(idx) < 2 {
			continue
		}
		cnameCount := 0
		var other []string
		for _, i := range idx {
			if t := recs[i].rec.GetType(); t == dnsv1.RecordType_RECORD_TYPE_CNAME {
				cnameCount++
			} else if name := strings.TrimPrefix(t.String(), "RECORD_TYPE_"); !slices.Contains(other, name) {
				other = append(other, name)
			}
		}
		for _, i := range idx {
			t := recs[i].rec.GetType()
			switch {
			case t != dnsv1.RecordType_RECORD_TYPE_CNAME:
				vs = append(vs, apierr.FieldViolation{Field: where(i), Reason: fmt.Sprintf("%s: a CNAME owner has no other data (%s beside the CNAME)", o, strings.TrimPrefix(t.String(), "RECORD_TYPE_"))})
			case len(other) > 0:
				vs = append(vs, apierr.FieldViolation{Field: where(i), Reason: fmt.Sprintf("%s: a CNAME owner has no other data (CNAME beside %s)", o, strings.Join(other, ", "))})
			case cnameCount > 1 && recs[i].rec.GetMatch() == nil:
				vs = append(vs, apierr.FieldViolation{Field: where(i), Reason: fmt.Sprintf("%s: more than one CNAME", o)})
			}
		}
	}
	for start := range cnames {
		seen := map[string]bool{start: true}
		for n := cnames[start]; ; {
			next, ok := cnames[n]
			if !ok {
				break
			}
			if seen[n] {
				for i, p := range recs {
					if p.owner == start && p.rec.GetType() == dnsv1.RecordType_RECORD_TYPE_CNAME {
						vs = append(vs, apierr.FieldViolation{Field: where(i), Reason: fmt.Sprintf("%s: CNAME loop through %s", start, n)})
					}
				}
				break
			}
			seen[n] = true
			n = next
		}
	}
	return vs
}

// parseRR parses record data with names relative to origin ("mail" in an MX
// is mail.<origin>).
func parseRR(origin, owner, typ, data string) (mdns.RR, error) {
	if strings.ContainsAny(data, "\n\r") {
		return nil, fmt.Errorf("data is one line")
	}
	zp := mdns.NewZoneParser(strings.NewReader(fmt.Sprintf("%s 300 IN %s %s\n", owner, typ, data)), origin, "")
	rr, ok := zp.Next()
	if err := zp.Err(); err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("no record")
	}
	return rr, nil
}

// normalizeData rewrites a valid record's data in canonical presentation
// format, names fully qualified, so nodes need no origin to read it.
func normalizeData(p parsed) {
	if p.rr != nil {
		p.rec.Data = strings.TrimPrefix(p.rr.String(), p.rr.Header().String())
	}
}

// checkGSLB refuses a GSLB record (gateway_targets) beside other enabled
// records of its name, type and match: its answer is one cluster's
// addresses, chosen per query, and cannot merge with anything.
func checkGSLB(recs []parsed, where func(i int) string) []apierr.FieldViolation {
	var vs []apierr.FieldViolation
	type key struct {
		owner string
		typ   dnsv1.RecordType
		match string
	}
	count := map[key]int{}
	gslb := map[key]bool{}
	for _, p := range recs {
		if p.rec.GetDisabled() || p.owner == "" {
			continue
		}
		k := key{p.owner, p.rec.GetType(), prototext(p.rec.GetMatch())}
		count[k]++
		gslb[k] = gslb[k] || len(p.rec.GetGatewayTargets()) > 0
	}
	for i, p := range recs {
		if p.rec.GetDisabled() || p.owner == "" {
			continue
		}
		k := key{p.owner, p.rec.GetType(), prototext(p.rec.GetMatch())}
		if gslb[k] && count[k] > 1 {
			vs = append(vs, apierr.FieldViolation{Field: where(i), Reason: fmt.Sprintf("%s %s: a record with gateway_targets (GSLB) is the only record of its name, type and match (%d records)",
				p.owner, strings.TrimPrefix(p.rec.GetType().String(), "RECORD_TYPE_"), count[k])})
		}
	}
	return vs
}

// prototext is a comparable form of a match (empty for none).
func prototext(m *dnsv1.GeoMatch) string {
	if m == nil {
		return ""
	}
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	return string(b)
}

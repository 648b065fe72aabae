package dns

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	mdns "github.com/miekg/dns"

	dnsv1 "github.com/strata-edge/strata/gen/strata/dns/v1"
	"github.com/strata-edge/strata/pkg/apierr"
)

// lineSuffix is the parser's own position, meaningless for one entry.
var lineSuffix = regexp.MustCompile(` at line: \d+:\d+$`)

// Imported is the content of a zone file: the SOA and apex NS become zone
// settings, everything else records.
type Imported struct {
	Soa         *dnsv1.Soa
	Nameservers []string
	Records     []*dnsv1.Record
}

// entry is one record of the file with the line it starts on.
type entry struct {
	line int
	text string
}

// ParseZoneFile parses a standard zone file for origin. Every problem is
// reported as a violation naming the line ("line 12") and the reason; nothing
// is returned unless the whole file is valid.
func ParseZoneFile(origin, text string) (*Imported, error) {
	origin, err := canonicalOrigin(origin)
	if err != nil {
		return nil, apierr.Invalid(apierr.FieldViolation{Field: "zone", Reason: err.Error()})
	}
	entries, vs := splitEntries(text)
	out := &Imported{}
	var recs []parsed
	var lines []int
	cur, ttl, prevOwner := origin, uint32(0), origin
	for _, e := range entries {
		field := fmt.Sprintf("line %d", e.line)
		fs := strings.Fields(e.text)
		switch strings.ToUpper(fs[0]) {
		case "$ORIGIN":
			if len(fs) < 2 {
				vs = append(vs, apierr.FieldViolation{Field: field, Reason: "$ORIGIN needs a name"})
				continue
			}
			o := fs[1]
			if !strings.HasSuffix(o, ".") {
				o = o + "." + cur
			}
			cur = mdns.CanonicalName(o)
			continue
		case "$TTL":
			var v uint32
			if len(fs) < 2 {
				vs = append(vs, apierr.FieldViolation{Field: field, Reason: "$TTL needs a value"})
				continue
			}
			if _, err := fmt.Sscan(fs[1], &v); err != nil {
				vs = append(vs, apierr.FieldViolation{Field: field, Reason: fmt.Sprintf("$TTL %q: not a number", fs[1])})
				continue
			}
			ttl = v
			continue
		case "$INCLUDE", "$GENERATE":
			vs = append(vs, apierr.FieldViolation{Field: field, Reason: fs[0] + " is not supported"})
			continue
		}
		text := e.text
		if text[0] == ' ' || text[0] == '\t' {
			text = prevOwner + text
		} else {
			o := fs[0]
			switch {
			case o == "@":
				o = cur
			case !strings.HasSuffix(o, "."):
				o = o + "." + cur
			}
			if err := checkName(o); err != nil {
				vs = append(vs, apierr.FieldViolation{Field: field, Reason: err.Error()})
				continue
			}
		}
		head := fmt.Sprintf("$ORIGIN %s\n", cur)
		if ttl > 0 {
			head += fmt.Sprintf("$TTL %d\n", ttl)
		}
		zp := mdns.NewZoneParser(strings.NewReader(head+text+"\n"), cur, "")
		rr, ok := zp.Next()
		if err := zp.Err(); err != nil || !ok {
			reason := "no record"
			if err != nil {
				reason = err.Error()
				if typ, data, ok := typeAndData(fs, text != e.text); ok {
					reason = dataError(typ, data, err) // worded as for strata dns record add
				} else if pe, ok := err.(*mdns.ParseError); ok {
					reason = lineSuffix.ReplaceAllString(strings.TrimPrefix(pe.Error(), "dns: "), "")
				}
			}
			vs = append(vs, apierr.FieldViolation{Field: field, Reason: reason})
			continue
		}
		h := rr.Header()
		prevOwner = h.Name
		if h.Class != mdns.ClassINET {
			vs = append(vs, apierr.FieldViolation{Field: field, Reason: "only class IN is served"})
			continue
		}
		name := strings.ToLower(h.Name)
		if err := checkName(name); err != nil {
			vs = append(vs, apierr.FieldViolation{Field: field, Reason: err.Error()})
			continue
		}
		if !mdns.IsSubDomain(origin, name) {
			vs = append(vs, apierr.FieldViolation{Field: field, Reason: fmt.Sprintf("%s is outside the zone %s", name, origin)})
			continue
		}
		switch v := rr.(type) {
		case *mdns.SOA:
			if name != origin {
				vs = append(vs, apierr.FieldViolation{Field: field, Reason: "SOA only at the zone apex"})
				continue
			}
			out.Soa = &dnsv1.Soa{Mname: v.Ns, Rname: v.Mbox, Refresh: v.Refresh, Retry: v.Retry, Expire: v.Expire, Minimum: v.Minttl, Ttl: h.Ttl}
			continue
		case *mdns.NS:
			if name == origin {
				out.Nameservers = append(out.Nameservers, strings.ToLower(v.Ns))
				continue
			}
		}
		typ, ok := dnsv1.RecordType_value["RECORD_TYPE_"+mdns.TypeToString[h.Rrtype]]
		if !ok {
			vs = append(vs, apierr.FieldViolation{Field: field, Reason: fmt.Sprintf("type %s is not supported", mdns.TypeToString[h.Rrtype])})
			continue
		}
		rel := strings.TrimSuffix(strings.TrimSuffix(name, origin), ".")
		if rel == "" {
			rel = "@"
		}
		r := &dnsv1.Record{Name: rel, Type: dnsv1.RecordType(typ), Ttl: h.Ttl, Data: strings.TrimPrefix(rr.String(), h.String())}
		p, rvs := checkRecord(origin, r, field)
		for i := range rvs {
			rvs[i].Field = field // one line is one record
		}
		vs = append(vs, rvs...)
		recs = append(recs, p)
		lines = append(lines, e.line)
		out.Records = append(out.Records, r)
	}
	vs = append(vs, checkZone(origin, recs, func(i int) string { return fmt.Sprintf("line %d", lines[i]) })...)
	if len(vs) > 0 {
		sortViolations(vs)
		return nil, apierr.Invalid(vs...)
	}
	return out, nil
}

// splitEntries cuts a zone file into entries (a line, or lines joined while a
// parenthesis is open), without comments, each with its first line number.
func splitEntries(text string) ([]entry, []apierr.FieldViolation) {
	var out []entry
	var vs []apierr.FieldViolation
	var b strings.Builder
	depth, start := 0, 0
	for i, line := range strings.Split(text, "\n") {
		inQuote, esc := false, false
		var clean strings.Builder
		for _, c := range line {
			if esc {
				esc = false
				clean.WriteRune(c)
				continue
			}
			switch {
			case c == '\\':
				esc = true
			case c == '"':
				inQuote = !inQuote
			case c == ';' && !inQuote:
				goto done
			case c == '(' && !inQuote:
				depth++
				c = ' '
			case c == ')' && !inQuote:
				depth--
				c = ' '
			}
			clean.WriteRune(c)
		}
	done:
		s := strings.TrimRight(clean.String(), " \t\r")
		if b.Len() == 0 {
			if strings.TrimSpace(s) == "" {
				continue
			}
			start = i + 1
			b.WriteString(s)
		} else {
			b.WriteString(" " + strings.TrimSpace(s))
		}
		if depth < 0 {
			vs = append(vs, apierr.FieldViolation{Field: fmt.Sprintf("line %d", i+1), Reason: "unbalanced )"})
			depth = 0
		}
		if depth == 0 {
			out = append(out, entry{line: start, text: b.String()})
			b.Reset()
		}
	}
	if b.Len() > 0 {
		vs = append(vs, apierr.FieldViolation{Field: fmt.Sprintf("line %d", start), Reason: "unclosed ("})
	}
	return out, vs
}

func sortViolations(vs []apierr.FieldViolation) {
	sort.SliceStable(vs, func(i, j int) bool {
		var a, b int
		if _, err := fmt.Sscanf(vs[i].Field, "line %d", &a); err == nil {
			if _, err := fmt.Sscanf(vs[j].Field, "line %d", &b); err == nil {
				return a < b
			}
		}
		return vs[i].Field < vs[j].Field
	})
}

// ExportZoneFile writes z as a standard zone file (disabled records and
// gateway records as comments, since a zone file cannot express them).
func ExportZoneFile(z *dnsv1.Zone) string {
	origin := mdns.CanonicalName(z.GetName())
	var b strings.Builder
	fmt.Fprintf(&b, "$ORIGIN %s\n", origin)
	s := z.GetSoa()
	ns := z.GetNameservers()
	mname, rname := s.GetMname(), s.GetRname()
	if mname == "" && len(ns) > 0 {
		mname = ns[0]
	}
	if mname == "" {
		mname = "ns1." + origin
	}
	if rname == "" {
		rname = "hostmaster." + origin
	}
	or := func(v, d uint32) uint32 {
		if v == 0 {
			return d
		}
		return v
	}
	fmt.Fprintf(&b, "@\t%d\tIN\tSOA\t%s %s %d %d %d %d %d\n", or(s.GetTtl(), 300), mdns.Fqdn(mname), mdns.Fqdn(rname),
		uint32(z.GetRelease()), or(s.GetRefresh(), 3600), or(s.GetRetry(), 600), or(s.GetExpire(), 86400), or(s.GetMinimum(), 300))
	for _, n := range ns {
		fmt.Fprintf(&b, "@\t%d\tIN\tNS\t%s\n", or(s.GetTtl(), 300), mdns.Fqdn(n))
	}
	for _, r := range z.GetRecords() {
		prefix := ""
		if r.GetDisabled() {
			prefix = "; disabled: "
		}
		typ := strings.TrimPrefix(r.GetType().String(), "RECORD_TYPE_")
		if r.GetGatewayCluster() != "" {
			fmt.Fprintf(&b, "; gateway: %s\t%d\tIN\t%s\t<healthy nodes of %s>\n", r.GetName(), or(r.GetTtl(), 300), typ, r.GetGatewayCluster())
			continue
		}
		if gts := r.GetGatewayTargets(); len(gts) > 0 {
			parts := make([]string, len(gts))
			for i, gt := range gts {
				parts[i] = fmt.Sprintf("%s=%d", gt.GetCluster(), max(gt.GetWeight(), 1))
			}
			fmt.Fprintf(&b, "; gateway: %s\t%d\tIN\t%s\t<nearest healthy of %s>\n", r.GetName(), or(r.GetTtl(), 300), typ, strings.Join(parts, " "))
			continue
		}
		fmt.Fprintf(&b, "%s%s\t%d\tIN\t%s\t%s\n", prefix, r.GetName(), or(r.GetTtl(), 300), typ, r.GetData())
	}
	return b.String()
}

// typeAndData finds the record type and the data after it in the fields of a
// line that did not parse; the owner (the first field, unless the line
// starts with blanks) is skipped, since names like "mx" are types too.
func typeAndData(fs []string, ownerless bool) (typ, data string, ok bool) {
	start := 1
	if ownerless {
		start = 0
	}
	for i := start; i < len(fs); i++ {
		t := strings.ToUpper(fs[i])
		if _, known := mdns.StringToType[t]; known {
			return t, strings.Join(fs[i+1:], " "), true
		}
	}
	return "", "", false
}

package dns

import (
	"strings"
	"testing"

	dnsv1 "github.com/strata-edge/strata/gen/strata/dns/v1"
	"github.com/strata-edge/strata/pkg/apierr"
)

const goodZone = `$ORIGIN example.com.
$TTL 300
@   IN SOA ns1.example.com. hostmaster.example.com. ( 1 3600
        600 86400 60 ) ; multi-line
@   IN NS  ns1.example.com.
@   IN A   192.0.2.1
    IN MX  10 mail          ; owner inherited from the line above
ns1 IN A   192.0.2.53
mail IN A  192.0.2.25
www IN CNAME @
*.img IN A 192.0.2.99
txt IN TXT "a;b" "c"
_sip._tcp IN SRV 10 5 5060 sip.example.com.
@ IN CAA 0 issue "letsencrypt.org"
`

func TestParseZoneFile(t *testing.T) {
	z, err := ParseZoneFile("Example.COM", goodZone)
	if err != nil {
		t.Fatal(err)
	}
	if z.Soa.GetMinimum() != 60 || len(z.Nameservers) != 1 {
		t.Fatalf("settings: soa %v ns %v", z.Soa, z.Nameservers)
	}
	var got []string
	for _, r := range z.Records {
		got = append(got, r.Name+" "+strings.TrimPrefix(r.Type.String(), "RECORD_TYPE_")+" "+r.Data)
	}
	want := []string{"@ A 192.0.2.1", "@ MX 10 mail.example.com.", "ns1 A 192.0.2.53", "mail A 192.0.2.25",
		"www CNAME example.com.", "*.img A 192.0.2.99", `txt TXT "a;b" "c"`, "_sip._tcp SRV 10 5 5060 sip.example.com.", `@ CAA 0 issue "letsencrypt.org"`}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Export and import again: the same content.
	again, err := ParseZoneFile("example.com", ExportZoneFile(zoneOf("example.com.", z)))
	if err != nil {
		t.Fatalf("re-import of the export: %v", err)
	}
	if len(again.Records) != len(z.Records) {
		t.Fatalf("re-import has %d records, want %d", len(again.Records), len(z.Records))
	}
}

func TestParseZoneFileRejects(t *testing.T) {
	long := strings.Repeat("a", 64)
	tests := []struct {
		name, text, field, reason string
	}{
		{name: "CNAME beside other data", text: "www IN CNAME x.example.com.\nwww IN A 192.0.2.1\n", field: "line 2", reason: "CNAME owner has no other data"},
		{name: "CNAME at apex", text: "\n@ IN CNAME x.example.org.\n", field: "line 2", reason: "CNAME at the zone apex"},
		{name: "label over 63", text: long + " IN A 192.0.2.1\n", field: "line 1", reason: "more than 63"},
		{name: "name over 255", text: strings.Repeat("abcdefghi.", 24) + "abcdefghi IN A 192.0.2.1\n", field: "line 1", reason: "more than 255"},
		{name: "out of zone", text: "www.example.org. IN A 192.0.2.1\n", field: "line 1", reason: "outside the zone"},
		{name: "CNAME loop", text: "a IN CNAME b\nb IN CNAME a\n", field: "line 1", reason: "CNAME loop"},
		{name: "bad address", text: "\n\nwww IN A 300.1.1.1\n", field: "line 3", reason: `"300.1.1.1" is not valid A data: want an IPv4 address`},
		{name: "bad MX preference", text: "@ 300 IN MX ten mail\n", field: "line 1", reason: `"ten mail" is not valid MX data: want PREFERENCE HOST`},
		{name: "bad data, owner omitted", text: "www IN A 192.0.2.1\n  IN AAAA 192.0.2.2\n", field: "line 2", reason: `"192.0.2.2" is not valid AAAA data`},
		{name: "unsupported type", text: "www IN HINFO a b\n", field: "line 1", reason: "not supported"},
		{name: "include", text: "$INCLUDE /etc/passwd\n", field: "line 1", reason: "not supported"},
		{name: "unclosed paren", text: "@ IN SOA a. b. ( 1 2 3 4 5\n", field: "line 1", reason: "unclosed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseZoneFile("example.com", tc.text)
			vs := apierr.Violations(err)
			for _, v := range vs {
				if v.Field == tc.field && strings.Contains(v.Reason, tc.reason) {
					return
				}
			}
			t.Fatalf("err %v, want %s: ...%s...", err, tc.field, tc.reason)
		})
	}
}

func FuzzParseZoneFile(f *testing.F) {
	f.Add(goodZone)
	f.Add("www IN CNAME a\na IN CNAME www\n")
	f.Add("@ IN SOA a. b. ( 1 2 3 4 5 )\n$ORIGIN sub\nx IN A 1.2.3.4\n")
	f.Fuzz(func(t *testing.T, text string) {
		z, err := ParseZoneFile("example.com", text)
		if err != nil {
			if len(apierr.Violations(err)) == 0 {
				t.Fatalf("error without violations: %v", err)
			}
			return
		}
		// Whatever is accepted exports to a file that is accepted again.
		if _, err := ParseZoneFile("example.com", ExportZoneFile(zoneOf("example.com.", z))); err != nil {
			t.Fatalf("export of accepted zone rejected: %v\n%s", err, ExportZoneFile(zoneOf("example.com.", z)))
		}
	})
}

// zoneOf is the zone named origin with imported content.
func zoneOf(origin string, im *Imported) *dnsv1.Zone {
	return &dnsv1.Zone{Name: origin, Soa: im.Soa, Nameservers: im.Nameservers, Records: im.Records}
}

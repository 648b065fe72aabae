package dns

import (
	"strings"
	"testing"

	mdns "github.com/miekg/dns"

	dnsv1 "github.com/strata-edge/strata/gen/strata/dns/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
)

const benchZone = `$ORIGIN example.test.
$TTL 300
@       IN SOA  ns1.example.test. hostmaster.example.test. 1 3600 600 86400 300
@       IN NS   ns1.example.test.
@       IN NS   ns2.example.test.
@       IN A    192.0.2.1
@       IN MX   10 mail.example.test.
@       IN TXT  "v=spf1 -all"
ns1     IN A    192.0.2.53
ns2     IN A    192.0.2.54
mail    IN A    192.0.2.25
www     IN A    192.0.2.80
www     IN A    192.0.2.81
www     IN AAAA 2001:db8::80
api     IN A    192.0.2.90
alias   IN CNAME www.example.test.
cdn     IN CNAME alias.example.test.
txt     IN TXT  "config-version=42" "region=test"
h1      IN A    198.51.100.2
`

func benchTable(tb testing.TB) *table {
	tb.Helper()
	z, err := ParseZoneFile(strings.NewReader(benchZone), "bench.zone", "example.test.")
	if err != nil {
		tb.Fatal(err)
	}
	t, err := compileTable(&syncv1.Snapshot{Version: 1, Zones: []*dnsv1.Zone{z}}, nil, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

func query(tb testing.TB, name string, qtype uint16, edns bool) []byte {
	tb.Helper()
	m := new(mdns.Msg).SetQuestion(name, qtype)
	m.Id = 0x1234
	if edns {
		m.SetEdns0(1232, false)
	}
	wire, err := m.Pack()
	if err != nil {
		tb.Fatal(err)
	}
	return wire
}

// Every kind of query in the bench harness's mix (../shared/bench/dns.sh)
// must stay on the fast path, with or without EDNS.
func TestFastPathCoversHarnessQueries(t *testing.T) {
	tab := benchTable(t)
	out, key := make([]byte, 4096), make([]byte, 260)
	for _, tc := range []struct {
		name  string
		qtype uint16
	}{
		{"h1.example.test.", mdns.TypeA}, {"www.example.test.", mdns.TypeA}, {"www.example.test.", mdns.TypeAAAA},
		{"alias.example.test.", mdns.TypeA}, {"cdn.example.test.", mdns.TypeA}, {"txt.example.test.", mdns.TypeTXT},
		{"example.test.", mdns.TypeMX}, {"api.example.test.", mdns.TypeA}, {"nope123.example.test.", mdns.TypeA},
		{"h1.example.test.", mdns.TypeAAAA}, {"other.test.", mdns.TypeA},
	} {
		for _, edns := range []bool{false, true} {
			if tab.fastReply(out, query(t, tc.name, tc.qtype, edns), key) == 0 {
				t.Errorf("%s %s edns=%v: slow path", tc.name, mdns.TypeToString[tc.qtype], edns)
			}
		}
	}
}

func BenchmarkFastReply(b *testing.B) {
	tab := benchTable(b)
	out, key := make([]byte, 4096), make([]byte, 260)
	q := query(b, "WWW.example.test.", mdns.TypeA, true)
	b.ReportAllocs()
	for b.Loop() {
		if tab.fastReply(out, q, key) == 0 {
			b.Fatal("slow path")
		}
	}
}

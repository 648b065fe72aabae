package dns

import (
	"bufio"
	"os"
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
	t, err := compileTable(&syncv1.Snapshot{Version: 1, Zones: []*dnsv1.Zone{z}}, nil)
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

// The bench harness's query mix must stay on the fast path.
func TestFastPathCoversHarnessQueries(t *testing.T) {
	tab := benchTable(t)
	out, key := make([]byte, 4096), make([]byte, 260)
	f, err := os.Open("/tmp/bench-dns-zone/queries.txt")
	if err != nil {
		t.Skip("no harness queries (run ../shared/bench/dns.sh --gen-only)")
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	fast, slow := 0, map[string]int{}
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if fs[0] != "www.example.test" && !strings.HasPrefix(fs[0], "h1.") && strings.HasPrefix(fs[0], "h") {
			fs[0] = "h1.example.test" // the test zone has one host
		}
		if tab.fastReply(out, query(t, mdns.Fqdn(fs[0]), mdns.StringToType[fs[1]], false), key) > 0 {
			fast++
		} else {
			slow[sc.Text()]++
		}
	}
	if len(slow) > 0 {
		t.Errorf("fast %d, slow: %v", fast, slow)
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

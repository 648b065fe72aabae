package dns

import (
	"net"
	"net/netip"
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
// must stay on the fast path, with or without EDNS and client subnet (names
// in no zone: without client subnet only, see fastReply).
func TestFastPathCoversHarnessQueries(t *testing.T) {
	tab := benchTable(t)
	out, key := make([]byte, udpBufSize), make([]byte, keySize)
	shapes := map[string]func(*mdns.Msg){"none": nil}
	for _, ev := range ednsVariants {
		switch ev.name {
		case "edns", "edns-do", "edns-512", "ecs-v4", "ecs-v6", "ecs-0", "ecs-short", "ecs-hostbits":
			shapes[ev.name] = ev.set
		}
	}
	for _, tc := range []struct {
		name  string
		qtype uint16
	}{
		{"h1.example.test.", mdns.TypeA}, {"www.example.test.", mdns.TypeA}, {"www.example.test.", mdns.TypeAAAA},
		{"alias.example.test.", mdns.TypeA}, {"cdn.example.test.", mdns.TypeA}, {"txt.example.test.", mdns.TypeTXT},
		{"example.test.", mdns.TypeMX}, {"api.example.test.", mdns.TypeA}, {"nope123.example.test.", mdns.TypeA},
		{"h1.example.test.", mdns.TypeAAAA}, {"other.test.", mdns.TypeA},
	} {
		for shape, set := range shapes {
			if tc.name == "other.test." && strings.HasPrefix(shape, "ecs") {
				continue
			}
			m := new(mdns.Msg).SetQuestion(tc.name, tc.qtype)
			if set != nil {
				set(m)
			}
			in, err := m.Pack()
			if err != nil {
				t.Fatal(err)
			}
			if tab.fastReply(out, in, key) == 0 {
				t.Errorf("%s %s %s: slow path", tc.name, mdns.TypeToString[tc.qtype], shape)
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

// sameReply compares a fast and a slow reply: byte for byte when the query
// spelled its name as the zone stores it; otherwise the header bytes and the
// records, case-folded (miekg/dns compresses case-sensitively, so the chain
// repeats names the fast path points to the client's spelling of).
func sameReply(fast, slow []byte, exact bool) bool {
	if exact || len(fast) < 12 || len(slow) < 12 {
		return string(fast) == string(slow)
	}
	f, s := new(mdns.Msg), new(mdns.Msg)
	if f.Unpack(fast) != nil || s.Unpack(slow) != nil {
		return false
	}
	return string(fast[:12]) == string(slow[:12]) && canonical(f) == canonical(s)
}

// fastSlowServer serves testZone (wildcards, delegation, CNAME chains, geo,
// gateway and oversized answers) and the bench harness's zone, for tests
// that compare the fast path with the handler chain in process.
func fastSlowServer(tb testing.TB) *Server {
	tb.Helper()
	bench, err := ParseZoneFile(strings.NewReader(benchZone), "bench.zone", "example.test.")
	if err != nil {
		tb.Fatal(err)
	}
	s, err := New(Options{UDPAddr: "127.0.0.1:0"})
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.Update(&syncv1.Snapshot{Version: 1, Zones: []*dnsv1.Zone{testZone(), bench}}); err != nil {
		tb.Fatal(err)
	}
	s.udp = &net.UDPConn{} // LocalAddr of a zero conn is nil; the slow path only reads it
	return s
}

// spellings are the ways a client may write name: as stored, upper case and
// mixed case (DNS names compare case-insensitively; replies keep the
// client's spelling in the question).
func spellings(name string) []string {
	mixed := []byte(name)
	for i := range mixed {
		if i%2 == 0 {
			mixed[i] = strings.ToUpper(string(mixed[i]))[0]
		}
	}
	return []string{name, strings.ToUpper(name), string(mixed)}
}

// ednsVariant shapes the OPT record of a query (nil: no EDNS).
type ednsVariant struct {
	name string
	set  func(m *mdns.Msg)
}

func withOpt(size uint16, do bool, version uint8, opts ...mdns.EDNS0) func(m *mdns.Msg) {
	return func(m *mdns.Msg) {
		m.SetEdns0(size, do)
		o := m.IsEdns0()
		o.SetVersion(version)
		o.Option = opts
	}
}

var ednsVariants = []ednsVariant{
	{"none", nil},
	{"edns", withOpt(1232, false, 0)},
	{"edns-do", withOpt(1232, true, 0)},
	{"edns-512", withOpt(512, false, 0)},
	{"edns-100", withOpt(100, false, 0)},
	{"edns-4096", withOpt(4096, true, 0)},
	{"edns-v1", withOpt(1232, false, 1)},
	{"ecs-v4", withOpt(1232, false, 0, &mdns.EDNS0_SUBNET{Code: mdns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: net.IPv4(198, 51, 100, 0).To4()})},
	{"ecs-v4-10", withOpt(1232, false, 0, &mdns.EDNS0_SUBNET{Code: mdns.EDNS0SUBNET, Family: 1, SourceNetmask: 8, Address: net.IPv4(10, 0, 0, 0).To4()})},
	{"ecs-v6", withOpt(1232, true, 0, &mdns.EDNS0_SUBNET{Code: mdns.EDNS0SUBNET, Family: 2, SourceNetmask: 56, Address: net.ParseIP("2001:db8:1:2::")})},
	{"ecs-0", withOpt(1232, false, 0, &mdns.EDNS0_SUBNET{Code: mdns.EDNS0SUBNET, Family: 1, SourceNetmask: 0, Address: net.IPv4zero.To4()})},
	{"cookie", withOpt(1232, false, 0, &mdns.EDNS0_COOKIE{Code: mdns.EDNS0COOKIE, Cookie: "0102030405060708"})},
	{"ecs-v4-22", withOpt(1232, false, 0, &mdns.EDNS0_SUBNET{Code: mdns.EDNS0SUBNET, Family: 1, SourceNetmask: 22, Address: net.IPv4(198, 51, 103, 255).To4()})},
	{"ecs-v6-0", withOpt(512, false, 0, &mdns.EDNS0_SUBNET{Code: mdns.EDNS0SUBNET, Family: 2, SourceNetmask: 0, Address: net.IPv6zero})},
	{"ecs-cookie", withOpt(1232, false, 0, &mdns.EDNS0_SUBNET{Code: mdns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: net.IPv4(198, 51, 100, 0).To4()},
		&mdns.EDNS0_COOKIE{Code: mdns.EDNS0COOKIE, Cookie: "0102030405060708"})},
	// raw client subnet options as clients may send them: fewer address
	// bytes than the prefix covers, host bits set, and malformed ones
	// (scope set, family 0, too many address bytes) that get FORMERR
	{"ecs-short", rawECS(0, 1, 24, 0, 198, 51)},
	{"ecs-hostbits", rawECS(0, 1, 20, 0, 198, 51, 100, 7)},
	{"ecs-v6-long", rawECS(0, 2, 33, 0, 0x20, 1, 0xd, 0xb8, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5, 6, 7, 8)},
	{"ecs-scope", rawECS(0, 1, 24, 8, 198, 51, 100)},
	{"ecs-family0", rawECS(0, 0, 0, 0)},
	{"ecs-toolong", rawECS(0, 1, 8, 0, 1, 2, 3, 4, 5)},
	{"ecs-v4-33", rawECS(0, 1, 33, 0, 1, 2, 3, 4)},
}

// rawECS is an OPT record carrying data as a client subnet option as is.
func rawECS(data ...byte) func(m *mdns.Msg) {
	return withOpt(1232, false, 0, &mdns.EDNS0_LOCAL{Code: mdns.EDNS0SUBNET, Data: data})
}

// TestFastPathMatchesSlowPath sends every owner name of both zones, and
// names that do not exist, match a wildcard, sit below a delegation or lie
// outside every zone, in three spellings, with every common query type, with
// and without EDNS (DO, small and large sizes, other versions, client subnet,
// cookies) and with RD/CD set or not, through the fast path and through the
// handler chain. Whenever the fast path answers, its reply must be byte for
// byte the chain's; the bench harness's queries must all take the fast path.
func TestFastPathMatchesSlowPath(t *testing.T) {
	s := fastSlowServer(t)
	tab := s.table.Load()
	names := map[string]bool{}
	for _, z := range tab.zones {
		for n := range z.nodes {
			names[n] = true
		}
	}
	for _, n := range []string{
		"nope.example.com.", "x.img.example.com.", "y.x.img.example.com.", "img.example.com.",
		"b.c.example.com.", "c.example.com.", "deep.sub.example.com.", "off.example.com.",
		"nope123.example.test.", "a.b.www.example.test.", "other.test.", "example.org.", ".",
		"_acme-challenge.www.example.com.",
	} {
		names[n] = true
	}
	qtypes := []uint16{mdns.TypeA, mdns.TypeAAAA, mdns.TypeMX, mdns.TypeTXT, mdns.TypeCNAME, mdns.TypeNS,
		mdns.TypeSOA, mdns.TypeSRV, mdns.TypeCAA, mdns.TypePTR, mdns.TypeHTTPS, mdns.TypeDS, mdns.TypeNULL,
		mdns.TypeANY, 65280}
	from := netip.MustParseAddrPort("192.0.2.200:5353")
	out, key, slowBuf := make([]byte, udpBufSize), make([]byte, keySize), make([]byte, udpBufSize)
	var total, fast int
	for name := range names {
		for _, spelled := range spellings(name) {
			for _, qt := range qtypes {
				for vi, ev := range ednsVariants {
					m := new(mdns.Msg).SetQuestion(spelled, qt)
					m.Id = uint16(total)
					m.RecursionDesired = vi%2 == 0
					m.CheckingDisabled = vi%3 == 0
					if ev.set != nil {
						ev.set(m)
					}
					in, err := m.Pack()
					if err != nil {
						t.Fatal(err)
					}
					total++
					slow := s.slowUDP(slowBuf, in, from)
					if slow == nil {
						t.Fatalf("%s %s %s: no reply from the chain", spelled, mdns.TypeToString[qt], ev.name)
					}
					n := tab.fastReply(out, in, key)
					if n == 0 {
						continue
					}
					fast++
					if !sameReply(out[:n], slow, spelled == name) {
						got, want := new(mdns.Msg), new(mdns.Msg)
						_ = got.Unpack(out[:n])
						_ = want.Unpack(slow)
						t.Errorf("%s %s %s: fast reply differs\nfast (%d bytes):\n%v\nslow (%d bytes):\n%v",
							spelled, mdns.TypeToString[qt], ev.name, n, got, len(slow), want)
					}
				}
			}
		}
	}
	t.Logf("%d queries, %d answered by the fast path", total, fast)
	if fast < total/3 {
		t.Errorf("only %d of %d queries took the fast path", fast, total)
	}
}

// harnessQueries are the query kinds of ../shared/bench/dns.sh, in the
// spellings and with the EDNS shapes resolvers send.
func harnessQueries(tb testing.TB) [][]byte {
	var qs [][]byte
	for _, tc := range []struct {
		name  string
		qtype uint16
	}{
		{"h1.example.test.", mdns.TypeA}, {"WWW.example.test.", mdns.TypeA}, {"www.example.test.", mdns.TypeAAAA},
		{"alias.example.test.", mdns.TypeA}, {"cdn.Example.Test.", mdns.TypeA}, {"txt.example.test.", mdns.TypeTXT},
		{"example.test.", mdns.TypeMX}, {"api.example.test.", mdns.TypeA}, {"nope123.example.test.", mdns.TypeA},
		{"h1.example.test.", mdns.TypeAAAA},
	} {
		qs = append(qs, query(tb, tc.name, tc.qtype, false), query(tb, tc.name, tc.qtype, true))
	}
	for _, ev := range ednsVariants { // resolvers that send a client subnet
		if ev.name == "ecs-v4" || ev.name == "ecs-v6" {
			m := new(mdns.Msg).SetQuestion("h1.example.test.", mdns.TypeA)
			ev.set(m)
			wire, err := m.Pack()
			if err != nil {
				tb.Fatal(err)
			}
			qs = append(qs, wire)
		}
	}
	return qs
}

// BenchmarkFastReplyMix answers the harness's query kinds in turn; the
// per-packet work must allocate nothing.
func BenchmarkFastReplyMix(b *testing.B) {
	tab := benchTable(b)
	out, key := make([]byte, udpBufSize), make([]byte, keySize)
	qs := harnessQueries(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if tab.fastReply(out, qs[i%len(qs)], key) == 0 {
			b.Fatal("slow path")
		}
		i++
	}
}

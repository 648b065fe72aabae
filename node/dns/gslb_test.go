package dns

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	mdns "github.com/miekg/dns"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	dnsv1 "github.com/strata-edge/strata/gen/strata/dns/v1"
	"github.com/strata-edge/strata/node/geo"
	"github.com/strata-edge/strata/node/geo/geotest"
)

// Clusters of the GSLB tests: where they are and their one address.
var gslbClusters = map[string]struct {
	loc  *configv1.ClusterLocation
	addr string
}{
	"fra":  {&configv1.ClusterLocation{Country: "DE", Continent: "EU", Latitude: 50.11, Longitude: 8.68}, "192.0.2.1"},
	"fra2": {&configv1.ClusterLocation{Country: "DE", Continent: "EU", Latitude: 50.0, Longitude: 8.27}, "192.0.2.2"}, // ~32 km from fra
	"ams":  {&configv1.ClusterLocation{Country: "NL", Continent: "EU", Latitude: 52.37, Longitude: 4.9}, "192.0.2.3"},
	"nyc":  {&configv1.ClusterLocation{Country: "US", Continent: "NA", Latitude: 40.71, Longitude: -74.01}, "192.0.2.4"},
	"par":  {&configv1.ClusterLocation{Country: "FR", Continent: "EU"}, "192.0.2.5"}, // no coordinates
	"sgp":  {&configv1.ClusterLocation{Country: "SG", Continent: "AS"}, "192.0.2.6"}, // no coordinates
	"bare": {nil, "192.0.2.7"},                                                       // no location at all
}

// gslbRecord is an A record over the named clusters ("fra=3"), as a
// snapshot carries it.
func gslbRecord(targets ...string) *dnsv1.Record {
	r := &dnsv1.Record{Name: "www", Type: dnsv1.RecordType_RECORD_TYPE_A}
	for _, t := range targets {
		name, w, _ := strings.Cut(t, "=")
		c := gslbClusters[name]
		gt := &dnsv1.GatewayTarget{Cluster: name, Addresses: []string{c.addr}, Location: c.loc}
		if w != "" {
			gt.Weight = uint32(w[0] - '0')
		}
		r.GatewayTargets = append(r.GatewayTargets, gt)
	}
	return r
}

func openTestGeo(t testing.TB) geoSource {
	db, err := geo.Open(geotest.WriteDB(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return mmdb{db}
}

func answerAddrs(rrs []mdns.RR) string {
	var out []string
	for _, rr := range rrs {
		out = append(out, rr.(*mdns.A).A.String())
	}
	return strings.Join(out, ",")
}

// Clients of geotest.WriteDB: 203.0.113.0/24 Frankfurt, 198.51.100.0/24
// New York, 100.64.0.0/16 Tokyo, 100.66.0.0/16 France without
// coordinates; 10.0.0.1 is in no network of the file.
func TestGSLBChoose(t *testing.T) {
	src := openTestGeo(t)
	down := func(names ...string) map[string]Gateway {
		live := map[string]Gateway{}
		for name, c := range gslbClusters {
			live[name] = Gateway{Addresses: []string{c.addr}, All: []string{c.addr, strings.Replace(c.addr, "192.0.2.", "192.0.2.10", 1)}, Location: c.loc}
		}
		for _, n := range names {
			g := live[n]
			g.Addresses = []string{}
			live[n] = g
		}
		return live
	}
	tests := []struct {
		name    string
		rec     *dnsv1.Record
		live    map[string]Gateway
		client  string
		want    string
		anyOf   []string // when the choice is weighted: the possible answers
		comment string
	}{
		{name: "nearest by distance DE", rec: gslbRecord("fra", "nyc"), client: "203.0.113.9", want: "192.0.2.1"},
		{name: "nearest by distance US", rec: gslbRecord("fra", "nyc"), client: "198.51.100.9", want: "192.0.2.4"},
		{name: "nearest by distance JP (Frankfurt nearer than New York)", rec: gslbRecord("nyc", "fra"), client: "100.64.1.1", want: "192.0.2.1"},
		{name: "distance beats country", rec: gslbRecord("ams", "nyc"), client: "203.0.113.9", want: "192.0.2.3"},
		{name: "coordinates beat a country without them", rec: gslbRecord("par", "ams"), client: "203.0.113.9", want: "192.0.2.3"},
		{name: "same country without client coordinates", rec: gslbRecord("fra", "par", "nyc"), client: "100.66.1.1", want: "192.0.2.5"},
		{name: "same continent", rec: gslbRecord("nyc", "fra", "sgp"), client: "100.66.1.1", want: "192.0.2.1"},
		{name: "continent without coordinates", rec: gslbRecord("par", "sgp"), client: "100.64.1.1", want: "192.0.2.6"},
		{name: "unknown client: any", rec: gslbRecord("fra", "nyc"), client: "10.0.0.1", anyOf: []string{"192.0.2.1", "192.0.2.4"}},
		{name: "nothing in common: any", rec: gslbRecord("bare", "nyc"), client: "100.66.1.1", anyOf: []string{"192.0.2.7", "192.0.2.4"}},
		{name: "equally near share", rec: gslbRecord("fra", "fra2", "nyc"), client: "203.0.113.9", anyOf: []string{"192.0.2.1", "192.0.2.2"}},
		{name: "failover to the next nearest", rec: gslbRecord("fra", "ams", "nyc"), live: down("fra"), client: "203.0.113.9", want: "192.0.2.3"},
		{name: "failover across the ocean", rec: gslbRecord("fra", "ams", "nyc"), live: down("fra", "ams"), client: "203.0.113.9", want: "192.0.2.4"},
		{name: "none healthy: every address", rec: gslbRecord("fra", "nyc"), live: down("fra", "nyc"), client: "203.0.113.9", want: "192.0.2.1,192.0.2.101,192.0.2.4,192.0.2.104"},
		{name: "none healthy before live sets: snapshot addresses", rec: gslbRecord("fra", "nyc"), live: map[string]Gateway{"fra": {Addresses: []string{}}, "nyc": {Addresses: []string{}}}, client: "203.0.113.9", want: "192.0.2.1,192.0.2.4"},
		{name: "live location wins", rec: gslbRecord("fra", "nyc"), live: map[string]Gateway{"fra": {Addresses: []string{"192.0.2.1"}, Location: gslbClusters["nyc"].loc}, "nyc": {Addresses: []string{"192.0.2.4"}, Location: gslbClusters["fra"].loc}}, client: "203.0.113.9", want: "192.0.2.4"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, err := compileGSLB("www.example.com.", 60, tc.rec, tc.live)
			if err != nil {
				t.Fatal(err)
			}
			rnd := rand.New(rand.NewPCG(1, 2))
			seen := map[string]bool{}
			for range 200 {
				got := answerAddrs(g.choose(&clientInfo{addr: netip.MustParseAddr(tc.client), src: src, rnd: rnd}))
				seen[got] = true
				if tc.want != "" && got != tc.want {
					t.Fatalf("answer %s, want %s", got, tc.want)
				}
			}
			for _, a := range tc.anyOf {
				if !seen[a] {
					t.Errorf("never answered %s in 200 queries (got %v)", a, seen)
				}
			}
			if len(tc.anyOf) > 0 && len(seen) != len(tc.anyOf) {
				t.Errorf("answers %v, want only %v", seen, tc.anyOf)
			}
		})
	}
}

// Weights split the answers among equally near clusters: 3:1 over 20000
// queries from a seeded source lands within 2 points of 75%.
func TestGSLBWeights(t *testing.T) {
	src := openTestGeo(t)
	g, err := compileGSLB("www.example.com.", 60, gslbRecord("fra=3", "fra2=1", "nyc=9"), nil)
	if err != nil {
		t.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(7, 7))
	counts := map[string]int{}
	const n = 20000
	for range n {
		counts[answerAddrs(g.choose(&clientInfo{addr: netip.MustParseAddr("203.0.113.9"), src: src, rnd: rnd}))]++
	}
	if share := float64(counts["192.0.2.1"]) / n; share < 0.73 || share > 0.77 {
		t.Errorf("fra answered %.3f of the queries, want 0.75 (counts %v)", share, counts)
	}
	if counts["192.0.2.4"] != 0 {
		t.Errorf("nyc (far) answered %d queries", counts["192.0.2.4"])
	}
}

// Choosing allocates nothing (the client's geo lookup aside).
func TestGSLBChooseAllocs(t *testing.T) {
	g, err := compileGSLB("www.example.com.", 60, gslbRecord("fra=3", "fra2=1", "ams", "nyc", "par", "sgp"), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &clientInfo{addr: netip.MustParseAddr("203.0.113.9"), looked: true,
		info: geoInfo{country: "DE", continent: "EU", lat: 50.11, lon: 8.68, hasLoc: true}}
	if n := testing.AllocsPerRun(100, func() { _ = g.choose(c) }); n != 0 {
		t.Fatalf("choose allocates %.0f times", n)
	}
}

// A GSLB name is answered on the slow path (per client), with the ECS
// scope set, and its zone still compiles its other names to fast answers.
func TestGSLBInZone(t *testing.T) {
	src := openTestGeo(t)
	z := &dnsv1.Zone{Id: "z", Name: "example.com.", Records: []*dnsv1.Record{gslbRecord("fra", "nyc"),
		{Name: "static", Type: dnsv1.RecordType_RECORD_TYPE_A, Data: "192.0.2.50"}}}
	cz, err := compileZone(z, nil)
	if err != nil {
		t.Fatal(err)
	}
	for client, want := range map[string]string{"203.0.113.9": "192.0.2.1", "198.51.100.9": "192.0.2.4"} {
		m := new(mdns.Msg).SetQuestion("www.example.com.", mdns.TypeA)
		if !cz.answer(m, "www.example.com.", mdns.TypeA, &clientInfo{addr: netip.MustParseAddr(client), src: src}) {
			t.Errorf("%s: a GSLB answer does not count as geo", client)
		}
		if got := answerAddrs(m.Answer); got != want {
			t.Errorf("%s: answer %s, want %s", client, got, want)
		}
	}
	if wire, err := prepared(cz, "www.example.com.", mdns.TypeA); err != nil || wire != nil {
		t.Errorf("GSLB name prepared for the fast path: %v %v", wire, err)
	}
	if wire, err := prepared(cz, "static.example.com.", mdns.TypeA); err != nil || wire == nil {
		t.Errorf("static name not prepared: %v", err)
	}
}

// BenchmarkGSLBChoose is the selection of one answer for a client whose
// geo data is known (as after the first lookup of a query).
func BenchmarkGSLBChoose(b *testing.B) {
	g, err := compileGSLB("www.example.com.", 60, gslbRecord("fra=3", "fra2=1", "ams", "nyc", "par", "sgp"), nil)
	if err != nil {
		b.Fatal(err)
	}
	c := &clientInfo{addr: netip.MustParseAddr("203.0.113.9"), looked: true,
		info: geoInfo{country: "DE", continent: "EU", lat: 50.11, lon: 8.68, hasLoc: true}}
	b.ReportAllocs()
	for b.Loop() {
		_ = g.choose(c)
	}
}

// BenchmarkGSLBAnswer is a whole slow-path answer of a GSLB name with the
// MMDB lookup of the client.
func BenchmarkGSLBAnswer(b *testing.B) {
	src := openTestGeo(b)
	cz, err := compileZone(&dnsv1.Zone{Id: "z", Name: "example.com.", Records: []*dnsv1.Record{gslbRecord("fra", "fra2", "ams", "nyc")}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	addr := netip.MustParseAddr("203.0.113.9")
	q := new(mdns.Msg).SetQuestion("www.example.com.", mdns.TypeA)
	b.ReportAllocs()
	for b.Loop() {
		m := new(mdns.Msg).SetReply(q)
		cz.answer(m, "www.example.com.", mdns.TypeA, &clientInfo{addr: addr, src: src})
	}
}

// FuzzGSLBChoose: any targets (locations, weights, addresses healthy or
// not) and any client location give an answer from the targets' addresses
// and never panic; with a healthy address somewhere the answer is one
// target's healthy set.
func FuzzGSLBChoose(f *testing.F) {
	f.Add([]byte{3, 10, 50, 8, 1, 1, 40, 200, 0}, int8(50), int16(8), true)
	f.Add([]byte{0, 0, 0, 0, 0}, int8(0), int16(0), false)
	f.Fuzz(func(t *testing.T, spec []byte, lat int8, lon int16, hasLoc bool) {
		r := &dnsv1.Record{Name: "www", Type: dnsv1.RecordType_RECORD_TYPE_A}
		live := map[string]Gateway{}
		for i := 0; i+4 < len(spec) && len(r.GatewayTargets) < maxTargets; i += 5 {
			name := fmt.Sprintf("c%d", i)
			addr := fmt.Sprintf("192.0.2.%d", i%250+1)
			loc := &configv1.ClusterLocation{Latitude: float64(int8(spec[i+1])) * 90 / 128, Longitude: float64(int8(spec[i+2])) * 180 / 128,
				Country: []string{"", "DE", "US"}[spec[i+3]%3], Continent: []string{"", "EU", "NA"}[spec[i+4]%3]}
			r.GatewayTargets = append(r.GatewayTargets, &dnsv1.GatewayTarget{Cluster: name, Weight: uint32(spec[i]) % 1001, Addresses: []string{addr}})
			g := Gateway{Addresses: []string{}, All: []string{addr}, Location: loc}
			if spec[i]%2 == 0 {
				g.Addresses = []string{addr}
			}
			live[name] = g
		}
		g, err := compileGSLB("www.example.com.", 60, r, live)
		if err != nil {
			t.Fatal(err)
		}
		c := &clientInfo{addr: netip.MustParseAddr("203.0.113.9"), looked: true, rnd: rand.New(rand.NewPCG(1, 1)),
			info: geoInfo{country: "DE", continent: "EU", lat: float64(lat) * 90 / 128, lon: float64(lon) * 180 / 32768, hasLoc: hasLoc}}
		got := g.choose(c)
		healthy := false
		for _, t := range g.targets {
			healthy = healthy || len(t.rrs) > 0
		}
		if healthy && len(got) != 1 {
			t.Fatalf("answer %v: want one target's healthy address", got)
		}
		if !healthy && len(got) != len(g.fallback) {
			t.Fatalf("answer %v: want the fallback %v", got, g.fallback)
		}
	})
}

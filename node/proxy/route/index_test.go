package route

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
)

// bigApp has n domains (one wildcard among them) on ports 1..ports.
func bigApp(id string, domains, ports int) *configv1.App {
	names := make([]string, domains)
	for i := range names {
		names[i] = fmt.Sprintf("d%d.%s.example.com", i, id)
	}
	names[0] = "*." + id + ".example.com"
	a := app(id, names)
	for p := 1; p <= ports; p++ {
		a.HttpPorts = append(a.HttpPorts, uint32(p))
	}
	return a
}

func TestLookupByPort(t *testing.T) {
	anyPort := app("any", []string{"x.example.com", "*.example.com"})
	wild80 := app("wild80", []string{"*.example.com"})
	wild80.HttpPorts = []uint32{80, 8080}
	exact81 := app("exact81", []string{"x.example.com"})
	exact81.HttpPorts = []uint32{81}
	tls := app("tls", []string{"x.example.com"})
	tls.HttpsPorts = []uint32{443}
	rt := compile(t, anyPort, wild80, exact81, tls)
	tests := []struct {
		tls  bool
		port uint32
		host string
		want string
	}{
		{false, 80, "x.example.com", "wild80"}, // naming the port beats a more specific name on every port
		{false, 8080, "y.example.com", "wild80"},
		{false, 81, "x.example.com", "exact81"},
		{false, 81, "y.example.com", "any"},
		{false, 82, "x.example.com", "any"},
		{true, 443, "x.example.com", "tls"},
		{true, 444, "x.example.com", "any"},
		{true, 443, "y.example.com", "any"},
		{false, 80, "example.org", ""},
	}
	for _, tt := range tests {
		got := ""
		if a := rt.Lookup(tt.tls, tt.port, tt.host); a != nil {
			got = a.ID
		}
		if got != tt.want {
			t.Errorf("Lookup(tls %v, %d, %q) = %q, want %q", tt.tls, tt.port, tt.host, got, tt.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { rt.Lookup(false, 81, "y.example.com") }); n != 0 {
		t.Errorf("Lookup allocates %v times", n)
	}
}

func TestPortConflicts(t *testing.T) {
	a := app("a", []string{"x.example.com"})
	a.HttpPorts = []uint32{80, 8080, 9000}
	b := app("b", []string{"x.example.com"})
	b.HttpPorts = []uint32{81, 9000}
	_, err := Compile(&syncv1.Snapshot{Apps: []*configv1.App{a, b}}, nil, nil)
	if err == nil || !strings.Contains(err.Error(), `"x.example.com" on http port 9000 is already served by app "a"`) {
		t.Fatalf("err = %v", err)
	}
	b.HttpPorts = []uint32{81}
	b.HttpsPorts = []uint32{9000} // another kind of listener: no conflict
	compile(t, a, b)

	twice := app("t", []string{"x.example.com", "x.example.com"})
	twice.HttpPorts = []uint32{80}
	if _, err := Compile(&syncv1.Snapshot{Apps: []*configv1.App{twice}}, nil, nil); err == nil || !strings.Contains(err.Error(), "listed twice") {
		t.Fatalf("err = %v", err)
	}
}

// TestIndexCostIsNotDomainsTimesPorts: 1,000 domains x 1,000 ports built a
// million index entries (about 100 MB; issue 11 saw 2.5 GB at 10,000 x
// 10,000). The index is by host, with each app's ports beside it.
func TestIndexCostIsNotDomainsTimesPorts(t *testing.T) {
	snap := &syncv1.Snapshot{Version: 1, Apps: []*configv1.App{bigApp("big", 1000, 1000)}}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	rt, err := Compile(snap, nil, nil)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
		t.Fatalf("Compile allocated %d MB for 1,000 domains x 1,000 ports, want O(domains + ports)", alloc>>20)
	}
	if a := rt.Lookup(false, 777, "d5.big.example.com"); a == nil || a.ID != "big" {
		t.Fatalf("Lookup = %v", a)
	}
	if a := rt.Lookup(false, 1001, "d5.big.example.com"); a != nil {
		t.Fatalf("Lookup on a port the app does not name = %v", a.ID)
	}
}

// BenchmarkIndex measures Compile of one app with domains x ports
// (go test -bench Index -benchmem -benchtime 10x ./node/proxy/route/).
func BenchmarkIndex(b *testing.B) {
	for _, c := range []struct{ domains, ports int }{{10, 10}, {1000, 10}, {1000, 1000}, {10000, 100}} {
		snap := &syncv1.Snapshot{Version: 1, Apps: []*configv1.App{bigApp("big", c.domains, c.ports)}}
		b.Run(fmt.Sprintf("domains=%d/ports=%d", c.domains, c.ports), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rt, err := Compile(snap, nil, nil)
				if err != nil {
					b.Fatal(err)
				}
				rt.Close()
			}
		})
	}
}

// TestLookupMatchesReference compiles random apps (names from a small pool,
// wildcards included, random port sets) and checks Lookup against a direct
// reading of the rules: among the apps naming the listener's port, the most
// specific matching name (exact, then the longest wildcard); else the same
// among apps naming no port.
func TestLookupMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	names := []string{"a.example.com", "b.example.com", "*.example.com", "x.a.example.com", "*.a.example.com", "example.com", "*.example.org"}
	hosts := []string{"a.example.com", "b.example.com", "c.example.com", "x.a.example.com", "y.a.example.com", "example.com", "q.example.org", "example.net"}
	ports := []uint32{80, 81, 443, 8443}
	compiled := 0
	for round := 0; round < 500; round++ {
		var apps []*configv1.App
		for i := range 1 + r.IntN(4) {
			var doms []string
			for _, n := range names {
				if r.IntN(3) == 0 {
					doms = append(doms, n)
				}
			}
			if len(doms) == 0 {
				doms = []string{names[r.IntN(len(names))]}
			}
			a := app(fmt.Sprintf("app%d", i), doms)
			for _, p := range ports {
				switch r.IntN(4) {
				case 0:
					a.HttpPorts = append(a.HttpPorts, p)
				case 1:
					a.HttpsPorts = append(a.HttpsPorts, p)
				}
			}
			apps = append(apps, a)
		}
		rt, err := Compile(&syncv1.Snapshot{Version: 1, Apps: apps}, nil, nil)
		if err != nil {
			continue // a conflict: refused as a whole
		}
		compiled++
		for _, tls := range []bool{false, true} {
			for _, p := range ports {
				for _, h := range hosts {
					want := reference(apps, tls, p, h)
					got := ""
					if a := rt.Lookup(tls, p, h); a != nil {
						got = a.ID
					}
					if got != want {
						t.Fatalf("round %d: Lookup(tls %v, %d, %q) = %q, want %q\napps: %v", round, tls, p, h, got, want, apps)
					}
				}
			}
		}
		rt.Close()
	}
	t.Logf("%d of 500 random configs compiled", compiled)
	if compiled < 50 {
		t.Fatalf("only %d of 500 random configs compiled: the test checks too little", compiled)
	}
}

// reference is the routing rule written out directly.
func reference(apps []*configv1.App, tls bool, port uint32, host string) string {
	best := func(explicit bool) string {
		id, score := "", -1
		for _, a := range apps {
			ps := a.GetHttpPorts()
			if tls {
				ps = a.GetHttpsPorts()
			}
			none := len(a.GetHttpPorts()) == 0 && len(a.GetHttpsPorts()) == 0
			if explicit && !slices.Contains(ps, port) || !explicit && !none {
				continue
			}
			for _, d := range a.GetDomains() {
				s := -1
				switch {
				case d == host:
					s = 1 << 20 // exact beats every wildcard
				case strings.HasPrefix(d, "*.") && strings.HasSuffix(host, d[1:]) && len(host) > len(d)-1:
					s = len(d) // the longer suffix is the more specific
				}
				if s > score {
					id, score = a.GetId(), s
				}
			}
		}
		return id
	}
	if id := best(true); id != "" {
		return id
	}
	return best(false)
}

package route

import (
	"fmt"
	"runtime"
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

package route

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
)

var patchDomains = []string{"a.example.com", "b.example.com", "*.example.com", "x.a.example.com", "*.a.example.com", "c.example.net"}

// randomApp is an app with one or two domains of a small pool, random port
// sets and sometimes a second upstream, a stream role or a bad port.
func randomApp(r *rand.Rand, id string) *configv1.App {
	a := app(id, nil)
	if r.IntN(2) == 0 {
		a.Upstreams = a.Upstreams[:1]
	}
	for range 1 + r.IntN(2) {
		a.Domains = append(a.Domains, patchDomains[r.IntN(len(patchDomains))])
	}
	if r.IntN(2) == 0 {
		a.HttpPorts = []uint32{80 + uint32(r.IntN(3))}
	}
	if r.IntN(3) == 0 {
		a.HttpsPorts = []uint32{443}
	}
	switch r.IntN(20) {
	case 0:
		a.Role = &configv1.App_Stream{Stream: &configv1.StreamApp{}}
	case 1:
		a.HttpPorts = []uint32{70000}
	}
	return a
}

// TestPatchMatchesFullCompile applies random deltas (apps changed, added,
// deleted, sometimes out of id order) to a runtime and checks after each
// that the patched runtime answers every lookup like a full compile of the
// same snapshot, has the same apps and upstreams, and fails when it fails.
func TestPatchMatchesFullCompile(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	var prev *Runtime
	var apps []*configv1.App
	patched := 0
	for step := range 400 {
		next := slices.Clone(apps)
		for range 1 + r.IntN(3) {
			id := fmt.Sprintf("app%02d", r.IntN(24))
			i := slices.IndexFunc(next, func(a *configv1.App) bool { return a.Id == id })
			switch {
			case i >= 0 && r.IntN(3) == 0:
				next = slices.Delete(next, i, i+1)
			case i >= 0:
				next[i] = randomApp(r, id)
			default:
				next = append(next, randomApp(r, id))
			}
		}
		if r.IntN(4) != 0 {
			slices.SortFunc(next, func(a, b *configv1.App) int { return strings.Compare(a.Id, b.Id) })
		}
		snap := &syncv1.Snapshot{Version: uint64(step + 1), Apps: next}
		got, gerr := Compile(snap, prev, nil)
		want, werr := Compile(snap, nil, nil)
		if (gerr == nil) != (werr == nil) || (gerr != nil && gerr.Error() != werr.Error()) {
			t.Fatalf("step %d: patched error %v, full compile error %v", step, gerr, werr)
		}
		if gerr != nil {
			continue // prev and its snapshot stay, as on a node
		}
		if prev != nil && got.base == prev.id {
			patched++
		}
		sameRuntime(t, step, got, want)
		want.Close()
		if prev != nil {
			prev.Retire(got)
		}
		prev, apps = got, next
	}
	if prev != nil {
		prev.Close()
	}
	if patched < 100 {
		t.Fatalf("only %d of 400 steps were patched: the test does not exercise patch", patched)
	}
}

func sameRuntime(t *testing.T, step int, got, want *Runtime) {
	t.Helper()
	if g, w := slices.Sorted(slices.Values(got.Apps())), slices.Sorted(slices.Values(want.Apps())); !slices.Equal(g, w) {
		t.Fatalf("step %d: apps %v, want %v", step, g, w)
	}
	if g, w := slices.Sorted(maps.Keys(maps.Collect(got.upstreams.All()))), slices.Sorted(maps.Keys(maps.Collect(want.upstreams.All()))); !slices.Equal(g, w) {
		t.Fatalf("step %d: upstream keys %q, want %q", step, g, w)
	}
	if got.httpHosts.Len() != want.httpHosts.Len() || got.httpsHosts.Len() != want.httpsHosts.Len() {
		t.Fatalf("step %d: index sizes %d/%d, want %d/%d", step, got.httpHosts.Len(), got.httpsHosts.Len(), want.httpHosts.Len(), want.httpsHosts.Len())
	}
	hosts := []string{"a.example.com", "b.example.com", "z.example.com", "x.a.example.com", "y.a.example.com", "c.example.net", "example.com"}
	for _, tls := range []bool{false, true} {
		for _, port := range []uint32{80, 81, 82, 443, 8443} {
			for _, h := range hosts {
				g, w := got.Lookup(tls, port, h), want.Lookup(tls, port, h)
				if (g == nil) != (w == nil) || (g != nil && g.ID != w.ID) {
					t.Fatalf("step %d: Lookup(tls %v, %d, %s) = %v, full compile %v", step, tls, port, h, g, w)
				}
			}
		}
	}
}

package route

import (
	"fmt"
	"slices"
	"testing"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
)

// A set change compiles the runtime again on top of the running one: the
// upstreams of other apps are carried over, the changed one is new and
// has taken the pool of the server it kept.
func TestEndpointsChangeKeepsOtherUpstreams(t *testing.T) {
	dyn := app("dyn", []string{"dyn.example.com"}, &configv1.Rule{Name: "all", Actions: []*configv1.Action{proxyTo("a")}})
	dyn.Upstreams[0] = &configv1.Upstream{Id: "u1", Name: "a", Endpoints: "set"}
	static := app("static", []string{"static.example.com"})
	snap := func(v uint64, addrs ...string) *syncv1.Snapshot {
		s := &configv1.UpstreamEndpoints{Id: "set"}
		for _, a := range addrs {
			s.Endpoints = append(s.Endpoints, &configv1.Endpoint{Address: a, Weight: 1, Ready: true})
		}
		return &syncv1.Snapshot{Version: v, Apps: []*configv1.App{dyn, static}, UpstreamEndpoints: []*configv1.UpstreamEndpoints{s}}
	}
	one, err := Compile(snap(1, "10.1.0.1:80", "10.1.0.2:80"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	two, err := Compile(snap(2, "10.1.0.2:80", "10.1.0.3:80"), one, nil)
	if err != nil {
		t.Fatal(err)
	}
	if one.App("static") != two.App("static") || one.App("static").Upstream("a") != two.App("static").Upstream("a") {
		t.Errorf("another app (its config the same object) was compiled again")
	}
	if one.App("dyn") == two.App("dyn") {
		t.Errorf("the app naming the changed set was not compiled again")
	}
	before, after := one.App("dyn").Upstream("a"), two.App("dyn").Upstream("a")
	if before == after || len(after.Servers()) != 2 || after.Servers()[0].Addr != "10.1.0.2:80" {
		t.Fatalf("dynamic upstream after the change: %v", after.Servers())
	}
	if before.Servers()[1].Fast() != after.Servers()[0].Fast() {
		t.Errorf("the server that stayed has a new connection pool")
	}
	two.Start()
	one.Retire(two)
	two.Close()
}

// BenchmarkEndpointsChange is what a node does when one set changes: the
// runtime compiled again on top of the running one, with many apps; only
// the app naming the set is compiled, the others are carried over.
func BenchmarkEndpointsChange(b *testing.B) {
	for _, n := range []int{10, 1000} {
		var apps []*configv1.App
		for i := range n {
			a := app(fmt.Sprintf("app%d", i), []string{fmt.Sprintf("app%d.example.com", i)},
				&configv1.Rule{Name: "api", When: "PathPrefix(`/api`)", Actions: []*configv1.Action{proxyTo("b")}},
				&configv1.Rule{Name: "all", Actions: []*configv1.Action{proxyTo("a")}})
			a.Upstreams[0] = &configv1.Upstream{Id: "u1", Name: "a", Endpoints: fmt.Sprintf("set%d", i)}
			apps = append(apps, a)
		}
		// As the node's store does, objects a delta leaves alone are kept:
		// only set0 is a new object each time.
		sets := make([]*configv1.UpstreamEndpoints, n)
		for i := range n {
			sets[i] = &configv1.UpstreamEndpoints{Id: fmt.Sprintf("set%d", i),
				Endpoints: []*configv1.Endpoint{{Address: "10.2.0.1:80", Ready: true}, {Address: "10.3.0.1:80", Ready: true}}}
		}
		snap := func(v uint64) *syncv1.Snapshot {
			sets[0] = &configv1.UpstreamEndpoints{Id: "set0",
				Endpoints: []*configv1.Endpoint{{Address: "10.2.0.1:80", Ready: true}, {Address: fmt.Sprintf("10.3.0.%d:80", v%200+2), Ready: true}}}
			return &syncv1.Snapshot{Version: v, Apps: apps, UpstreamEndpoints: slices.Clone(sets)}
		}
		b.Run(fmt.Sprintf("apps=%d", n), func(b *testing.B) {
			cur, err := Compile(snap(0), nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			v := uint64(0)
			for b.Loop() {
				v++
				next, err := Compile(snap(v), cur, nil)
				if err != nil {
					b.Fatal(err)
				}
				next.Start()
				cur.Retire(next)
				cur = next
			}
			cur.Close()
		})
	}
}

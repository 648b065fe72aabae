package proxy_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
)

// A dynamic upstream (Upstream.endpoints): its servers are the ready
// endpoints of a server set; a change of the set alone swaps them, keeps
// the connections to servers that stay, and active health checks run on
// them; a missing set answers 502 naming it.
func TestDynamicEndpoints(t *testing.T) {
	a, b := newEcho(t, "a"), newEcho(t, "b")
	p := startProxy(t, proxyOpts())
	app := &configv1.App{Id: "d", Name: "d", Domains: []string{"d.example.com"},
		Upstreams: []*configv1.Upstream{{Id: "d-up", Name: "main", Endpoints: "k8s.east.shop.web.8080"}}}
	set := func(version uint64, eps ...*configv1.Endpoint) {
		t.Helper()
		s := &syncv1.Snapshot{Version: version, Apps: []*configv1.App{app}}
		if eps != nil {
			s.UpstreamEndpoints = []*configv1.UpstreamEndpoints{{Id: "k8s.east.shop.web.8080", Endpoints: eps}}
		}
		if err := p.Update(s); err != nil {
			t.Fatalf("Update(%d): %v", version, err)
		}
	}
	c := httpClient(t)

	set(1) // the set has not arrived yet
	r := do(t, c, "GET", httpBase(p), "d.example.com", "/", "")
	if r.status != http.StatusBadGateway || !strings.Contains(r.body, `endpoints set "k8s.east.shop.web.8080" has no ready endpoint`) {
		t.Fatalf("without the set: %d %q, want 502 naming the set", r.status, r.body)
	}

	set(2, &configv1.Endpoint{Address: a.addr(), Weight: 1, Ready: true}, &configv1.Endpoint{Address: b.addr(), Weight: 1, Ready: false})
	for range 4 {
		if r := do(t, c, "GET", httpBase(p), "d.example.com", "/", ""); r.echo.Server != "a" {
			t.Fatalf("served by %q (status %d), want a: b is not ready", r.echo.Server, r.status)
		}
	}
	connsA := a.conns.Load()

	// b becomes ready: both serve, and a's connections are kept.
	set(3, &configv1.Endpoint{Address: a.addr(), Weight: 1, Ready: true}, &configv1.Endpoint{Address: b.addr(), Weight: 1, Ready: true})
	seen := map[string]int{}
	for range 8 {
		seen[do(t, c, "GET", httpBase(p), "d.example.com", "/", "").echo.Server]++
	}
	if seen["a"] == 0 || seen["b"] == 0 {
		t.Fatalf("served %v after b became ready, want both", seen)
	}
	if n := a.conns.Load() - connsA; n > 0 {
		t.Fatalf("%d new connections to a after the set changed, want its pool kept", n)
	}

	// a leaves the set: no request reaches it any more.
	set(4, &configv1.Endpoint{Address: b.addr(), Weight: 1, Ready: true})
	before := a.reqs.Load()
	for range 6 {
		if r := do(t, c, "GET", httpBase(p), "d.example.com", "/", ""); r.echo.Server != "b" {
			t.Fatalf("served by %q after a left the set", r.echo.Server)
		}
	}
	if n := a.reqs.Load() - before; n != 0 {
		t.Fatalf("a got %d requests after leaving the set", n)
	}

	// Active checks run on dynamic servers: with b down the upstream has
	// no healthy server.
	app.Upstreams[0].HealthCheck = &configv1.HealthCheck{Enabled: true, Path: "/", IntervalMs: 50, UnhealthyThreshold: 1, HealthyThreshold: 1}
	set(5, &configv1.Endpoint{Address: b.addr(), Weight: 1, Ready: true})
	b.Close()
	checkFor(t, 3*time.Second, func() error {
		if r := do(t, c, "GET", httpBase(p), "d.example.com", "/", ""); r.status != http.StatusServiceUnavailable {
			return fmt.Errorf("status %d, want 503 once the check marks b down", r.status)
		}
		return nil
	})
}

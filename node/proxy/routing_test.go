package proxy_test

import (
	"net/http"
	"strings"
	"testing"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

func TestRoutingByHost(t *testing.T) {
	a, b := newEcho(t, "a"), newEcho(t, "b")
	p := startProxy(t, proxyOpts())
	appB := simpleApp("b", "*.b.example.com", b.addr())
	mustUpdate(t, p, 1, simpleApp("a", "a.example.com", a.addr()), appB)
	c := httpClient(t)
	both(t, p, func(t *testing.T, base string) {
		tests := []struct {
			name, host, want string
			status           int
		}{
			{"exact", "a.example.com", "a", 200},
			{"port and case ignored", "A.Example.COM:8080", "a", 200},
			{"wildcard", "x.y.b.example.com", "b", 200},
			{"wildcard does not match bare name", "b.example.com", "", 404},
			{"unknown host", "nope.example.com", "", 404},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := do(t, c, "GET", base, tt.host, "/x", "")
				if r.status != tt.status {
					t.Fatalf("status %d, want %d (body %q)", r.status, tt.status, r.body)
				}
				if tt.status == 200 && r.echo.Server != tt.want {
					t.Fatalf("served by %q, want %q", r.echo.Server, tt.want)
				}
				if tt.status == 404 && !strings.Contains(r.body, "no application for host") {
					t.Fatalf("404 body %q does not explain", r.body)
				}
			})
		}
	})
}

func TestUnknownHostBody(t *testing.T) {
	p := startProxy(t, proxyOpts())
	mustUpdate(t, p, 1, simpleApp("a", "a.example.com", newEcho(t, "a").addr()))
	r := do(t, httpClient(t), "GET", httpBase(p), "Other.example.com", "/", "")
	if r.status != 404 || r.body != "no application for host \"other.example.com\"\n" {
		t.Fatalf("got %d %q", r.status, r.body)
	}
}

func TestRoutingRestrictedToListenerPorts(t *testing.T) {
	a, b := newEcho(t, "a"), newEcho(t, "b")
	p := startProxy(t, proxyOpts())
	httpOnly := simpleApp("a", "a.example.com", a.addr())
	httpOnly.HttpPorts = []uint32{portOf(t, p.HTTPAddr())}
	tlsOnly := simpleApp("b", "b.example.com", b.addr())
	tlsOnly.HttpsPorts = []uint32{portOf(t, p.HTTPSAddr())}
	otherPort := simpleApp("c", "c.example.com", b.addr())
	otherPort.HttpPorts = []uint32{1}
	mustUpdate(t, p, 1, httpOnly, tlsOnly, otherPort)
	c := httpClient(t)
	for _, tt := range []struct {
		base, host string
		status     int
	}{
		{httpBase(p), "a.example.com", 200},
		{httpsBase(p), "a.example.com", 404},
		{httpBase(p), "b.example.com", 404},
		{httpsBase(p), "b.example.com", 200},
		{httpBase(p), "c.example.com", 404},
	} {
		if r := do(t, c, "GET", tt.base, tt.host, "/", ""); r.status != tt.status {
			t.Errorf("%s Host %s: status %d, want %d", tt.base, tt.host, r.status, tt.status)
		}
	}
}

func TestNoConfigYet(t *testing.T) {
	p := startProxy(t, proxyOpts())
	r := do(t, httpClient(t), "GET", httpBase(p), "a.example.com", "/", "")
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", r.status)
	}
}

func TestUpdateRejectsConflictsAndKeepsOld(t *testing.T) {
	a := newEcho(t, "a")
	p := startProxy(t, proxyOpts())
	mustUpdate(t, p, 1, simpleApp("a", "a.example.com", a.addr()))
	bad := simpleApp("b", "a.example.com", a.addr())
	err := p.Update(snap(2, simpleApp("a", "a.example.com", a.addr()), bad))
	if err == nil || !strings.Contains(err.Error(), `already served by app "a"`) {
		t.Fatalf("conflicting domains: err = %v", err)
	}
	badRule := simpleApp("a", "a.example.com", a.addr())
	badRule.Rules = []*configv1.Rule{{Name: "r", When: "PathPrefix(`nope`)"}}
	if err := p.Update(snap(3, badRule)); err == nil || !strings.Contains(err.Error(), "rules[0]") {
		t.Fatalf("bad rule: err = %v", err)
	}
	if p.Version() != 1 {
		t.Fatalf("version %d after failed updates, want 1", p.Version())
	}
	if r := do(t, httpClient(t), "GET", httpBase(p), "a.example.com", "/", ""); r.status != 200 {
		t.Fatalf("old config no longer served: %d", r.status)
	}
}

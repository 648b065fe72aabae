package proxy_test

import (
	"strings"
	"testing"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

func proxyTo(names ...string) *configv1.Action {
	pa := &configv1.ProxyAction{}
	for _, n := range names {
		pa.Upstreams = append(pa.Upstreams, &configv1.WeightedUpstream{Upstream: n, Weight: 1})
	}
	return &configv1.Action{Action: &configv1.Action_Proxy{Proxy: pa}}
}

func reqHeaders(h *configv1.HeaderOps) *configv1.Action {
	return &configv1.Action{Action: &configv1.Action_RequestHeaders{RequestHeaders: h}}
}

func respHeaders(h *configv1.HeaderOps) *configv1.Action {
	return &configv1.Action{Action: &configv1.Action_ResponseHeaders{ResponseHeaders: h}}
}

func rewrite(rw *configv1.RewriteAction) *configv1.Action {
	return &configv1.Action{Action: &configv1.Action_Rewrite{Rewrite: rw}}
}

// rulesApp has upstreams "a" and "b" and the given rules.
func rulesApp(a, b string, rules ...*configv1.Rule) *configv1.App {
	return &configv1.App{
		Id: "app", Name: "app", Domains: []string{"site.example.com"},
		Upstreams: []*configv1.Upstream{
			{Id: "ua", Name: "a", Servers: servers(a)},
			{Id: "ub", Name: "b", Servers: servers(b)},
		},
		Rules: rules,
	}
}

func TestRulesAndActions(t *testing.T) {
	ua, ub := newEcho(t, "a"), newEcho(t, "b")
	p := startProxy(t, proxyOpts())
	app := rulesApp(ua.addr(), ub.addr(),
		&configv1.Rule{Name: "tag-all", Actions: []*configv1.Action{
			reqHeaders(&configv1.HeaderOps{Set: map[string]string{"X-Tag": "one"}, Remove: []string{"X-Secret"}}),
			respHeaders(&configv1.HeaderOps{Add: []*configv1.Header{{Name: "X-Edge", Value: "strata"}}}),
		}},
		&configv1.Rule{Name: "old", When: "PathPrefix(`/old/`)", Actions: []*configv1.Action{{Action: &configv1.Action_Redirect{
			Redirect: &configv1.RedirectAction{Url: "https://$host/new$request_uri?from=$scheme", Status: 301}}}}},
		&configv1.Rule{Name: "blocked", When: "Path(`/admin`) && !ClientIP(`10.0.0.0/8`)", Actions: []*configv1.Action{{Action: &configv1.Action_Respond{
			Respond: &configv1.RespondAction{Status: 403, Body: "forbidden here", ContentType: "text/html"}}}}},
		&configv1.Rule{Name: "api", When: "PathPrefix(`/api/`)", Actions: []*configv1.Action{
			rewrite(&configv1.RewriteAction{PathRegex: "^/api/(.*)$", PathReplacement: "/v2/$1", QuerySet: map[string]string{"k": "v w"}, QueryRemove: []string{"drop"}}),
			reqHeaders(&configv1.HeaderOps{Add: []*configv1.Header{{Name: "X-Tag", Value: "two"}}}),
			proxyTo("b"),
		}},
		&configv1.Rule{Name: "stop", When: "PathPrefix(`/stop`)", Last: true, Actions: []*configv1.Action{
			reqHeaders(&configv1.HeaderOps{Set: map[string]string{"X-Stopped": "yes"}}),
		}},
		&configv1.Rule{Name: "to-a", When: "PathPrefix(`/a`) || PathPrefix(`/stop`)", Actions: []*configv1.Action{proxyTo("a")}},
	)
	mustUpdate(t, p, 1, app)
	c := httpClient(t)
	both(t, p, func(t *testing.T, base string) {
		t.Run("headers accumulate until the terminal rule", func(t *testing.T) {
			r := do(t, c, "GET", base, "site.example.com", "/api/users?drop=1&keep=2", "", "X-Secret", "s")
			if r.status != 200 || r.echo.Server != "b" {
				t.Fatalf("got %d from %q: %s", r.status, r.echo.Server, r.body)
			}
			if got := strings.Join(r.echo.Header["X-Tag"], ","); got != "one,two" {
				t.Errorf("X-Tag %q, want one,two", got)
			}
			if _, ok := r.echo.Header["X-Secret"]; ok {
				t.Errorf("X-Secret reached the upstream")
			}
			if !strings.HasPrefix(r.echo.URI, "/v2/users?") || strings.Contains(r.echo.URI, "drop=") ||
				!strings.Contains(r.echo.URI, "keep=2") || !strings.Contains(r.echo.URI, "k=v") {
				t.Errorf("upstream URI %q, want /v2/users with keep=2 and k set, drop removed", r.echo.URI)
			}
			if r.header.Get("X-Edge") != "strata" {
				t.Errorf("response header X-Edge missing: %v", r.header)
			}
		})
		t.Run("redirect expands variables", func(t *testing.T) {
			r := do(t, c, "GET", base, "site.example.com:99", "/old/x?q=1", "")
			want := "https://site.example.com/new/old/x?q=1?from=" + strings.SplitN(base, ":", 2)[0]
			if r.status != 301 || r.header.Get("Location") != want {
				t.Fatalf("got %d Location %q, want 301 %q", r.status, r.header.Get("Location"), want)
			}
			if r.header.Get("X-Edge") != "strata" {
				t.Errorf("response edits not applied to the redirect")
			}
		})
		t.Run("respond", func(t *testing.T) {
			r := do(t, c, "GET", base, "site.example.com", "/admin", "")
			if r.status != 403 || r.body != "forbidden here" || r.header.Get("Content-Type") != "text/html" {
				t.Fatalf("got %d %q %q", r.status, r.header.Get("Content-Type"), r.body)
			}
		})
		t.Run("last stops evaluation", func(t *testing.T) {
			r := do(t, c, "GET", base, "site.example.com", "/stop", "")
			// "stop" has no terminal action and the app has two upstreams.
			if r.status != 404 || r.body != "no rule matched\n" {
				t.Fatalf("got %d %q, want 404 no rule matched", r.status, r.body)
			}
		})
		t.Run("later rule proxies", func(t *testing.T) {
			r := do(t, c, "GET", base, "site.example.com", "/a/b", "")
			if r.status != 200 || r.echo.Server != "a" || r.echo.Header.Get("X-Tag") != "one" {
				t.Fatalf("got %d from %q tag %q", r.status, r.echo.Server, r.echo.Header.Get("X-Tag"))
			}
		})
		t.Run("no terminal action with two upstreams", func(t *testing.T) {
			if r := do(t, c, "GET", base, "site.example.com", "/other", ""); r.status != 404 || r.body != "no rule matched\n" {
				t.Fatalf("got %d %q", r.status, r.body)
			}
		})
	})
}

func TestSingleUpstreamIsTheDefault(t *testing.T) {
	u := newEcho(t, "only")
	p := startProxy(t, proxyOpts())
	app := simpleApp("a", "a.example.com", u.addr())
	app.Rules = []*configv1.Rule{{Name: "tag", Actions: []*configv1.Action{reqHeaders(&configv1.HeaderOps{Set: map[string]string{"X-T": "1"}})}}}
	mustUpdate(t, p, 1, app)
	both(t, p, func(t *testing.T, base string) {
		r := do(t, httpClient(t), "GET", base, "a.example.com", "/", "")
		if r.status != 200 || r.echo.Server != "only" || r.echo.Header.Get("X-T") != "1" {
			t.Fatalf("got %d %q %v", r.status, r.echo.Server, r.echo.Header)
		}
	})
}

func TestSplitByWeight(t *testing.T) {
	ua, ub := newEcho(t, "a"), newEcho(t, "b")
	p := startProxy(t, proxyOpts())
	app := rulesApp(ua.addr(), ub.addr(), &configv1.Rule{Name: "canary", Actions: []*configv1.Action{{Action: &configv1.Action_Proxy{Proxy: &configv1.ProxyAction{
		Upstreams: []*configv1.WeightedUpstream{{Upstream: "a", Weight: 3}, {Upstream: "b", Weight: 1}},
	}}}}})
	mustUpdate(t, p, 1, app)
	c := httpClient(t)
	const n = 2000
	counts := map[string]int{}
	for i := 0; i < n; i++ {
		counts[do(t, c, "GET", httpBase(p), "site.example.com", "/", "").echo.Server]++
	}
	// 3:1 -> expect 1500 on a; 5 standard deviations is about +-100.
	if counts["a"] < 1400 || counts["a"] > 1600 || counts["a"]+counts["b"] != n {
		t.Fatalf("split %v, want about 1500/500", counts)
	}
}

func TestPathRulesSeeNormalizedPath(t *testing.T) {
	u := newEcho(t, "u")
	p := startProxy(t, proxyOpts())
	app := simpleApp("a", "a.example.com", u.addr())
	app.Rules = []*configv1.Rule{{Name: "deny", When: "PathPrefix(`/admin`)", Actions: []*configv1.Action{{Action: &configv1.Action_Respond{
		Respond: &configv1.RespondAction{Status: 403}}}}}}
	mustUpdate(t, p, 1, app)
	both(t, p, func(t *testing.T, base string) {
		for _, uri := range []string{"/admin", "//admin", "/x/../admin", "/%61dmin"} {
			if r := do(t, httpClient(t), "GET", base, "a.example.com", uri, ""); r.status != 403 {
				t.Errorf("%s: status %d, want 403", uri, r.status)
			}
		}
	})
}

func TestRuleSetsUpstreamHost(t *testing.T) {
	u := newEcho(t, "u")
	p := startProxy(t, proxyOpts())
	app := simpleApp("a", "a.example.com", u.addr())
	app.Rules = []*configv1.Rule{{Name: "host", Actions: []*configv1.Action{reqHeaders(&configv1.HeaderOps{
		Set: map[string]string{"Host": "backend.internal", "X-Forwarded-Proto": "https"}})}}}
	mustUpdate(t, p, 1, app)
	both(t, p, func(t *testing.T, base string) {
		r := do(t, httpClient(t), "GET", base, "a.example.com", "/", "")
		if r.echo.Host != "backend.internal" || r.echo.Header.Get("X-Forwarded-Host") != "a.example.com" ||
			r.echo.Header.Get("X-Forwarded-Proto") != "https" {
			t.Fatalf("upstream saw Host %q, X-Forwarded-Host %q, X-Forwarded-Proto %q", r.echo.Host,
				r.echo.Header.Get("X-Forwarded-Host"), r.echo.Header.Get("X-Forwarded-Proto"))
		}
	})
}

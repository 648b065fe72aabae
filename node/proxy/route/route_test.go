package route

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/node/proxy/upstream"
)

// req is a fixed request view.
type req struct {
	method, host, path, uri string
	header                  map[string]string
	https                   bool
	port                    uint32
}

func (r *req) Method() string     { return r.method }
func (r *req) Host() string       { return r.host }
func (r *req) Path() string       { return r.path }
func (r *req) RequestURI() string { return r.uri }
func (r *req) Port() uint32       { return r.port }
func (r *req) Scheme() string {
	if r.https {
		return "https"
	}
	return "http"
}
func (r *req) Header(n string) (string, bool) {
	v, ok := r.header[n]
	return v, ok
}
func (r *req) Cookie(string) (string, bool) { return "", false }
func (r *req) Query(string) (string, bool)  { return "", false }
func (r *req) ClientIP() netip.Addr         { return netip.MustParseAddr("192.0.2.1") }

func app(id string, domains []string, rules ...*configv1.Rule) *configv1.App {
	return &configv1.App{
		Id: id, Name: id, Domains: domains,
		Upstreams: []*configv1.Upstream{
			{Id: "u1", Name: "a", Servers: []*configv1.Server{{Address: "10.0.0.1:80", Weight: 1}}},
			{Id: "u2", Name: "b", Servers: []*configv1.Server{{Address: "10.0.0.2:80", Weight: 1}}},
		},
		Rules: rules,
	}
}

func proxyTo(name string) *configv1.Action {
	return &configv1.Action{Action: &configv1.Action_Proxy{Proxy: &configv1.ProxyAction{
		Upstreams: []*configv1.WeightedUpstream{{Upstream: name, Weight: 1}}}}}
}

func compile(t testing.TB, apps ...*configv1.App) *Runtime {
	t.Helper()
	rt, err := Compile(&syncv1.Snapshot{Version: 1, Apps: apps}, nil, nil)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	t.Cleanup(rt.Close)
	return rt
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name string
		app  *configv1.App
		want string
	}{
		{"no domains", app("x", nil), "domains: at least one"},
		{"bad domain", app("x", []string{"a_b.example.com"}), "domains[0]"},
		{"bad rule", app("x", []string{"x.example.com"}, &configv1.Rule{Name: "r", When: "Nope()"}), `rules[0] ("r").when`},
		{"unknown upstream", app("x", []string{"x.example.com"}, &configv1.Rule{Actions: []*configv1.Action{proxyTo("zzz")}}), `no upstream named "zzz"`},
		{"two terminals", app("x", []string{"x.example.com"}, &configv1.Rule{Actions: []*configv1.Action{proxyTo("a"), proxyTo("b")}}), "this is the second"},
		{"bad redirect status", app("x", []string{"x.example.com"}, &configv1.Rule{Actions: []*configv1.Action{{Action: &configv1.Action_Redirect{Redirect: &configv1.RedirectAction{Url: "/", Status: 200}}}}}), "not a redirect status"},
		{"unknown redirect var", app("x", []string{"x.example.com"}, &configv1.Rule{Actions: []*configv1.Action{{Action: &configv1.Action_Redirect{Redirect: &configv1.RedirectAction{Url: "https://$hostname/"}}}}}), "unknown variable"},
		{"bad header name", app("x", []string{"x.example.com"}, &configv1.Rule{Actions: []*configv1.Action{{Action: &configv1.Action_RequestHeaders{RequestHeaders: &configv1.HeaderOps{Set: map[string]string{"Bad Name": "v"}}}}}}), `set["Bad Name"]`},
		{"header injection", app("x", []string{"x.example.com"}, &configv1.Rule{Actions: []*configv1.Action{{Action: &configv1.Action_ResponseHeaders{ResponseHeaders: &configv1.HeaderOps{Add: []*configv1.Header{{Name: "X", Value: "a\r\nB: c"}}}}}}}), "must not contain CR"},
		{"bad rewrite regex", app("x", []string{"x.example.com"}, &configv1.Rule{Actions: []*configv1.Action{{Action: &configv1.Action_Rewrite{Rewrite: &configv1.RewriteAction{PathRegex: "(", PathReplacement: "/"}}}}}), "path_regex"},
		{"missing group", app("x", []string{"x.example.com"}, &configv1.Rule{Actions: []*configv1.Action{{Action: &configv1.Action_Rewrite{Rewrite: &configv1.RewriteAction{PathRegex: "^/(a)", PathReplacement: "/$2"}}}}}), "$2 refers to a group"},
		{"split with no positive weight", app("x", []string{"x.example.com"}, &configv1.Rule{Actions: []*configv1.Action{{Action: &configv1.Action_Proxy{Proxy: &configv1.ProxyAction{
			Upstreams: []*configv1.WeightedUpstream{{Upstream: "a", Weight: 0}}}}}}}), "no upstream has a weight above 0"},
		{"upstream with no positive weight", func() *configv1.App {
			a := app("x", []string{"x.example.com"})
			a.Upstreams[1].Servers[0].Weight = 0
			return a
		}(), `upstreams[1]: upstream "b": servers: no non-backup server has a weight above 0`},
		{"bad port", func() *configv1.App {
			a := app("x", []string{"x.example.com"})
			a.HttpPorts = []uint32{70000}
			return a
		}(), "http_ports"},
		{"bad upstream", func() *configv1.App {
			a := app("x", []string{"x.example.com"})
			a.Upstreams[0].Servers[0].Address = "nope"
			return a
		}(), `upstreams[0]: upstream "a": servers[0].address`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(&syncv1.Snapshot{Apps: []*configv1.App{tt.app}}, nil, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// TestZeroWeightDrains: a split target with weight 0 never gets a request.
func TestZeroWeightDrains(t *testing.T) {
	rt := compile(t, app("x", []string{"x.example.com"}, &configv1.Rule{Actions: []*configv1.Action{{Action: &configv1.Action_Proxy{Proxy: &configv1.ProxyAction{
		Upstreams: []*configv1.WeightedUpstream{{Upstream: "a", Weight: 0}, {Upstream: "b", Weight: 1}}}}}}}))
	a := rt.Lookup(false, 80, "x.example.com")
	var p Plan
	for range 200 {
		a.Evaluate(&req{method: "GET", host: "x.example.com", path: "/", uri: "/"}, &p)
		if p.Kind != Proxy || p.Upstream != a.Upstream("b") {
			t.Fatalf("request went to %v (kind %d), want b only", p.Upstream, p.Kind)
		}
	}
}

func TestDuplicateDomainAcrossApps(t *testing.T) {
	a, b := app("a", []string{"x.example.com"}), app("b", []string{"X.example.com"})
	_, err := Compile(&syncv1.Snapshot{Apps: []*configv1.App{a, b}}, nil, nil)
	if err == nil || !strings.Contains(err.Error(), `"x.example.com" on every http port is already served by app "a"`) {
		t.Fatalf("err = %v", err)
	}
	// Different ports do not conflict.
	a.HttpPorts, b.HttpPorts = []uint32{80}, []uint32{8080}
	compile(t, a, b)
}

func TestLookupPrefersPortSpecificApps(t *testing.T) {
	anyPort := app("any", []string{"x.example.com"})
	on80 := app("p80", []string{"x.example.com"})
	on80.HttpPorts = []uint32{80}
	rt := compile(t, anyPort, on80)
	if a := rt.Lookup(false, 80, "x.example.com"); a == nil || a.ID != "p80" {
		t.Fatalf("port 80: %v", a)
	}
	if a := rt.Lookup(false, 81, "x.example.com"); a == nil || a.ID != "any" {
		t.Fatalf("port 81: %v", a)
	}
	if a := rt.Lookup(true, 443, "x.example.com"); a == nil || a.ID != "any" {
		t.Fatalf("https: %v", a)
	}
}

func TestEvaluate(t *testing.T) {
	hdr := func(k, v string) *configv1.Action {
		return &configv1.Action{Action: &configv1.Action_RequestHeaders{RequestHeaders: &configv1.HeaderOps{Set: map[string]string{k: v}}}}
	}
	rt := compile(t, app("x", []string{"x.example.com"},
		&configv1.Rule{Name: "all", Actions: []*configv1.Action{hdr("A", "1")}},
		&configv1.Rule{Name: "api", When: "PathPrefix(`/api`)", Actions: []*configv1.Action{hdr("B", "1"), proxyTo("b")}},
		&configv1.Rule{Name: "last", When: "PathPrefix(`/last`)", Last: true},
		&configv1.Rule{Name: "rest", Actions: []*configv1.Action{proxyTo("a")}},
	))
	a := rt.App("x")
	var p Plan
	tests := []struct {
		path    string
		kind    Terminal
		up      string
		matched []string
	}{
		{"/api/x", Proxy, "b", []string{"all", "api"}},
		{"/other", Proxy, "a", []string{"all", "rest"}},
		{"/last", NoRule, "", []string{"all", "last"}},
	}
	for _, tt := range tests {
		a.Evaluate(&req{method: "GET", host: "x.example.com", path: tt.path, uri: tt.path}, &p)
		var names []string
		for i := 0; i < p.n; i++ {
			names = append(names, p.rule(i).Name)
		}
		up := ""
		if p.Upstream != nil {
			up = p.Upstream.Name
		}
		if p.Kind != tt.kind || up != tt.up || fmt.Sprint(names) != fmt.Sprint(tt.matched) {
			t.Errorf("%s: kind %d upstream %q matched %v, want %d %q %v", tt.path, p.Kind, up, names, tt.kind, tt.up, tt.matched)
		}
	}
}

func TestManyMatchedRulesSpillOver(t *testing.T) {
	var rules []*configv1.Rule
	for i := 0; i < 12; i++ {
		rules = append(rules, &configv1.Rule{Name: fmt.Sprint(i), Actions: []*configv1.Action{{Action: &configv1.Action_ResponseHeaders{
			ResponseHeaders: &configv1.HeaderOps{Add: []*configv1.Header{{Name: "X-N", Value: fmt.Sprint(i)}}}}}}})
	}
	rt := compile(t, app("x", []string{"x.example.com"}, rules...))
	var p Plan
	rt.App("x").Evaluate(&req{method: "GET", path: "/"}, &p)
	h := headerRecorder{}
	p.ApplyResponse(h)
	if got := strings.Join(h["X-N"], ","); got != "0,1,2,3,4,5,6,7,8,9,10,11" {
		t.Fatalf("response edits %q, want all twelve in order", got)
	}
}

type headerRecorder map[string][]string

func (h headerRecorder) SetHeader(n, v string) { h[n] = []string{v} }
func (h headerRecorder) AddHeader(n, v string) { h[n] = append(h[n], v) }
func (h headerRecorder) DelHeader(n string)    { delete(h, n) }

func TestCarryOver(t *testing.T) {
	a := app("x", []string{"x.example.com"})
	rt1 := compile(t, a)
	b := app("x", []string{"x.example.com"}, &configv1.Rule{Name: "new"})
	b.Upstreams[1].Servers[0].Weight = 5
	rt2, err := Compile(&syncv1.Snapshot{Version: 2, Apps: []*configv1.App{b}}, rt1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rt2.App("x").Upstream("a") != rt1.App("x").Upstream("a") {
		t.Error("unchanged upstream was rebuilt")
	}
	if rt2.App("x").Upstream("b") == rt1.App("x").Upstream("b") {
		t.Error("changed upstream was carried over")
	}
	rt1.Retire(rt2)
	rt2.Close()
}

// BenchmarkEvaluate is the per-request work of the runtime without I/O:
// host lookup, rule evaluation and the balancer's pick.
func BenchmarkEvaluate(b *testing.B) {
	for _, n := range []int{0, 20} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			var rules []*configv1.Rule
			for i := 0; i < n; i++ {
				rules = append(rules, &configv1.Rule{Name: fmt.Sprint(i),
					When:    fmt.Sprintf("PathPrefix(`/never/%d/`) && Method(`POST`)", i),
					Actions: []*configv1.Action{{Action: &configv1.Action_Respond{Respond: &configv1.RespondAction{Status: 204}}}}})
			}
			rules = append(rules, &configv1.Rule{Name: "go", When: "Host(`*.example.com`) && PathPrefix(`/`)", Actions: []*configv1.Action{proxyTo("a")}})
			var apps []*configv1.App
			for i := 0; i < 100; i++ {
				apps = append(apps, app(fmt.Sprint("app", i), []string{fmt.Sprintf("www.site%d.example.com", i), fmt.Sprintf("*.site%d.example.com", i)}, rules...))
			}
			rt := compile(b, apps...)
			r := &req{method: "GET", host: "api.site42.example.com", path: "/v1/items", uri: "/v1/items?x=1"}
			var view Request = r
			var p Plan
			b.ReportAllocs()
			for b.Loop() {
				a := rt.Lookup(false, 80, view.Host())
				a.Evaluate(view, &p)
				if _, err := p.Upstream.Pick(view, upstream.Tried{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

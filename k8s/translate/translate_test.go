package translate

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/pkg/rules"
)

// endpoints is a Backends over a fixed table of Service ports
// "ns/name:port" (the servers are the nodes' business: the set's id is all
// a plan holds).
type endpoints map[string][]string

func (e endpoints) Endpoints(ns, name string, port PortRef) (string, error) {
	if _, ok := e[fmt.Sprintf("%s/%s:%s", ns, name, port)]; !ok {
		return "", &Error{Condition: CondResolvedRefs, Reason: ReasonBackendNotFound, Msg: fmt.Sprintf("Service %s/%s not found", ns, name)}
	}
	return "set." + ns + "." + name + "." + port.String(), nil
}

// annotations of the test Services, "ns/name" -> annotations.
var annotations = map[string]map[string]string{}

func (e endpoints) HealthCheck(ns, name string) (*configv1.HealthCheck, error) {
	return HealthCheckOf(annotations[ns+"/"+name])
}

func route(rules ...gwv1.HTTPRouteRule) *gwv1.HTTPRoute {
	return &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", Generation: 3},
		Spec: gwv1.HTTPRouteSpec{Rules: rules}}
}

func backend(name string, port int32, weight *int32) gwv1.HTTPBackendRef {
	return gwv1.HTTPBackendRef{BackendRef: gwv1.BackendRef{
		BackendObjectReference: gwv1.BackendObjectReference{Name: gwv1.ObjectName(name), Port: ptr.To(gwv1.PortNumber(port))},
		Weight:                 weight}}
}

func prefix(p string) gwv1.HTTPRouteMatch {
	return gwv1.HTTPRouteMatch{Path: &gwv1.HTTPPathMatch{Type: ptr.To(gwv1.PathMatchPathPrefix), Value: ptr.To(p)}}
}

var eps = endpoints{
	"shop/v1:8080":  {"10.0.0.2:8080", "10.0.0.1:8080", "10.0.0.1:8080"},
	"shop/v2:8080":  {"10.0.1.1:8080"},
	"shop/api:9000": {"10.0.2.1:9000"},
	"shop/none:80":  {},
	"other/db:5432": {"10.9.0.1:5432"},
}

func TestHTTPRoutePrecedenceWeightsAndMatches(t *testing.T) {
	exact := gwv1.HTTPRouteMatch{Path: &gwv1.HTTPPathMatch{Type: ptr.To(gwv1.PathMatchExact), Value: ptr.To("/login")}}
	hdr := prefix("/")
	hdr.Headers = []gwv1.HTTPHeaderMatch{{Name: "X-Canary", Value: "yes"}}
	hdr.Method = ptr.To(gwv1.HTTPMethodGet)
	r := route(
		gwv1.HTTPRouteRule{Matches: []gwv1.HTTPRouteMatch{prefix("/")}, BackendRefs: []gwv1.HTTPBackendRef{backend("v1", 8080, ptr.To[int32](90)), backend("v2", 8080, ptr.To[int32](10))}},
		gwv1.HTTPRouteRule{Matches: []gwv1.HTTPRouteMatch{prefix("/api/"), exact}, BackendRefs: []gwv1.HTTPBackendRef{backend("api", 9000, nil)}},
		gwv1.HTTPRouteRule{Matches: []gwv1.HTTPRouteMatch{hdr}, BackendRefs: []gwv1.HTTPBackendRef{backend("v2", 8080, nil)}},
	)
	p, err := HTTPRoute(HTTPRouteInput{Route: r, Hostnames: []string{"Shop.Example.com", "shop.example.com"}, HTTPPorts: []uint32{80}, Cluster: "east"}, eps)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(p.Domains, ","); got != "shop.example.com" {
		t.Errorf("domains = %q", got)
	}
	if got := p.Owner.AppName(); got != "k8s.east.httproute.shop.web" {
		t.Errorf("app name = %q", got)
	}
	// Exact first, then the longest prefix, then method+header over the bare "/".
	var order []string
	for _, r := range p.Rules {
		order = append(order, r.Name+" "+r.When)
		if err := rules.Validate(r.When); err != nil {
			t.Errorf("rule %s: %v", r.Name, err)
		}
	}
	want := []string{
		`rule1-match1 Path("/login")`,
		`rule1-match0 (Path("/api") || PathPrefix("/api/"))`,
		`rule2-match0 Method("GET") && Header("X-Canary", "yes")`,
		`rule0-match0 `,
	}
	if strings.Join(order, "\n") != strings.Join(want, "\n") {
		t.Errorf("rules:\n%s\nwant:\n%s", strings.Join(order, "\n"), strings.Join(want, "\n"))
	}
	split := p.Rules[3].Actions[0].GetProxy().GetUpstreams()
	if len(split) != 2 || split[0].Upstream != "shop.v1.8080" || split[0].Weight != 90 || split[1].Upstream != "shop.v2.8080" || split[1].Weight != 10 {
		t.Errorf("split = %v", split)
	}
	if len(p.Upstreams) != 3 {
		t.Fatalf("upstreams = %v", p.Upstreams)
	}
	if u := p.Upstreams[1]; u.Name != "shop.v1.8080" || u.Endpoints != "set.shop.v1.8080" || len(u.Servers) != 0 {
		t.Errorf("upstream %v: want the servers of set.shop.v1.8080", u)
	}
	if p.Labels[LabelCluster] != "east" || p.Labels[LabelKind] != "HTTPRoute" || p.Labels[LabelManagedBy] != ManagedBy {
		t.Errorf("labels = %v", p.Labels)
	}
}

// A backend without ready endpoints keeps its share in the plan (its set
// is empty: the nodes give it none, and the plan does not change when
// endpoints do); only weights all 0 answer 500.
func TestHTTPRouteBackendsWithoutEndpoints(t *testing.T) {
	r := route(gwv1.HTTPRouteRule{BackendRefs: []gwv1.HTTPBackendRef{backend("none", 80, ptr.To[int32](0))}},
		gwv1.HTTPRouteRule{Matches: []gwv1.HTTPRouteMatch{prefix("/x")}, BackendRefs: []gwv1.HTTPBackendRef{backend("none", 80, nil), backend("v2", 8080, ptr.To[int32](5))}})
	p, err := HTTPRoute(HTTPRouteInput{Route: r, Hostnames: []string{"a.example"}}, eps)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Rules[1].Actions[0].GetRespond().GetStatus(); got != 500 {
		t.Errorf("rule with every weight 0: %v, want respond 500", p.Rules[1].Actions)
	}
	if got := p.Rules[0].Actions[0].GetProxy().GetUpstreams(); len(got) != 2 || got[0].Upstream != "shop.none.80" || got[1].Weight != 5 {
		t.Errorf("split %v: want both backends with their weights", got)
	}
}

func TestHTTPRouteErrorsNameTheField(t *testing.T) {
	mirror := gwv1.HTTPRouteRule{Filters: []gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterRequestMirror}}}
	cross := backend("db", 5432, nil)
	cross.Namespace = ptr.To(gwv1.Namespace("other"))
	badRe := gwv1.HTTPRouteMatch{Path: &gwv1.HTTPPathMatch{Type: ptr.To(gwv1.PathMatchRegularExpression), Value: ptr.To("(")}}
	tests := []struct {
		name      string
		rule      gwv1.HTTPRouteRule
		hosts     []string
		allowed   func(string, string, string) bool
		cond, why string
		field     string
	}{
		{"no hostname", gwv1.HTTPRouteRule{}, nil, nil, CondAccepted, ReasonNoHostname, "spec.hostnames"},
		{"unsupported filter", mirror, []string{"a"}, nil, CondAccepted, ReasonUnsupportedValue, "spec.rules[0].filters[0].type"},
		{"missing service", gwv1.HTTPRouteRule{BackendRefs: []gwv1.HTTPBackendRef{backend("gone", 80, nil)}}, []string{"a"}, nil, CondResolvedRefs, ReasonBackendNotFound, "spec.rules[0].backendRefs[0]"},
		{"bad regexp", gwv1.HTTPRouteRule{Matches: []gwv1.HTTPRouteMatch{badRe}}, []string{"a"}, nil, CondAccepted, ReasonUnsupportedValue, "spec.rules[0].matches[0]"},
		{"timeouts", gwv1.HTTPRouteRule{Timeouts: &gwv1.HTTPRouteTimeouts{}}, []string{"a"}, nil, CondAccepted, ReasonUnsupportedValue, "spec.rules[0].timeouts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := HTTPRoute(HTTPRouteInput{Route: route(tt.rule), Hostnames: tt.hosts, RefAllowed: tt.allowed}, eps)
			var e *Error
			if !errors.As(err, &e) || p != nil {
				t.Fatalf("got plan %v, err %v; want an *Error and no plan", p, err)
			}
			if e.Condition != tt.cond || e.Reason != tt.why || e.Field != tt.field {
				t.Errorf("got %s/%s at %q (%v), want %s/%s at %q", e.Condition, e.Reason, e.Field, e, tt.cond, tt.why, tt.field)
			}
		})
	}
	// Without a ReferenceGrant the cross-namespace backend is left out (its
	// share answers 500) and the refusal is reported: a deleted grant
	// revokes access instead of leaving the old release serving.
	p, err := HTTPRoute(HTTPRouteInput{Route: route(gwv1.HTTPRouteRule{BackendRefs: []gwv1.HTTPBackendRef{cross, backend("v2", 8080, nil)}}), Hostnames: []string{"a"}}, eps)
	if err != nil || p.Refused == nil || p.Refused.Reason != ReasonRefNotPermitted || p.Refused.Field != "spec.rules[0].backendRefs[0]" {
		t.Fatalf("refused reference: plan %v, err %v", p, err)
	}
	if len(p.Upstreams) != 1 || p.Upstreams[0].Name != "shop.v2.8080" {
		t.Errorf("upstreams %v: want the permitted backend only", p.Upstreams)
	}
	p, _ = HTTPRoute(HTTPRouteInput{Route: route(gwv1.HTTPRouteRule{BackendRefs: []gwv1.HTTPBackendRef{cross}}), Hostnames: []string{"a"}}, eps)
	if a := p.Rules[0].Actions[0].GetRespond(); a == nil || a.Status != 500 {
		t.Errorf("only a refused backend: actions %v, want a 500", p.Rules[0].Actions)
	}
	// A ReferenceGrant makes the cross-namespace backend resolve.
	p, err = HTTPRoute(HTTPRouteInput{Route: route(gwv1.HTTPRouteRule{BackendRefs: []gwv1.HTTPBackendRef{cross}}), Hostnames: []string{"a"},
		RefAllowed: func(from, to, name string) bool { return from == "shop" && to == "other" && name == "db" }}, eps)
	if err != nil || p.Upstreams[0].Name != "other.db.5432" {
		t.Fatalf("granted reference: %v %v", p, err)
	}
}

func TestHTTPRouteFilters(t *testing.T) {
	r := route(
		gwv1.HTTPRouteRule{Matches: []gwv1.HTTPRouteMatch{prefix("/old")}, Filters: []gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterRequestRedirect,
			RequestRedirect: &gwv1.HTTPRequestRedirectFilter{Scheme: ptr.To("https"), StatusCode: ptr.To(301)}}}},
		gwv1.HTTPRouteRule{Filters: []gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterRequestHeaderModifier,
			RequestHeaderModifier: &gwv1.HTTPHeaderFilter{Set: []gwv1.HTTPHeader{{Name: "X-Env", Value: "k8s"}}, Remove: []string{"X-Debug"}}}},
			BackendRefs: []gwv1.HTTPBackendRef{backend("v1", 8080, nil)}},
	)
	p, err := HTTPRoute(HTTPRouteInput{Route: r, Hostnames: []string{"a"}}, eps)
	if err != nil {
		t.Fatal(err)
	}
	red := p.Rules[0].Actions[0].GetRedirect()
	if red.GetUrl() != "https://$host$request_uri" || red.GetStatus() != 301 {
		t.Errorf("redirect = %v", red)
	}
	acts := p.Rules[1].Actions
	if acts[0].GetRequestHeaders().GetSet()["X-Env"] != "k8s" || acts[0].GetRequestHeaders().GetRemove()[0] != "X-Debug" || acts[1].GetProxy() == nil {
		t.Errorf("actions = %v", acts)
	}
}

func TestIngress(t *testing.T) {
	pt := func(t networkingv1.PathType) *networkingv1.PathType { return &t }
	svc := func(name string, port int32, portName string) networkingv1.IngressBackend {
		return networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: name, Port: networkingv1.ServiceBackendPort{Number: port, Name: portName}}}
	}
	ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "site"}, Spec: networkingv1.IngressSpec{
		DefaultBackend: ptr.To(svc("v2", 8080, "")),
		TLS:            []networkingv1.IngressTLS{{Hosts: []string{"shop.example.com"}, SecretName: "shop-tls"}},
		Rules: []networkingv1.IngressRule{{Host: "shop.example.com", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{
			{Path: "/", PathType: pt(networkingv1.PathTypePrefix), Backend: svc("v1", 8080, "")},
			{Path: "/api", PathType: pt(networkingv1.PathTypePrefix), Backend: svc("api", 0, "grpc")},
			{Path: "/health", PathType: pt(networkingv1.PathTypeExact), Backend: svc("none", 80, "")},
		}}}}}}}
	b := endpoints{"shop/v1:8080": {"10.0.0.1:8080"}, "shop/v2:8080": {"10.0.1.1:8080"}, "shop/api:grpc": {"10.0.2.1:9000"}, "shop/none:80": nil}
	p, err := Ingress(IngressInput{Ingress: ing, HTTPPorts: []uint32{80}, HTTPSPorts: []uint32{443}, Cluster: "east"}, b)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range p.Rules {
		got = append(got, r.When+" -> "+target(r.Actions[0]))
	}
	want := []string{
		`Host("shop.example.com") && Path("/health") -> shop.none.80`,
		`Host("shop.example.com") && (Path("/api") || PathPrefix("/api/")) -> shop.api.grpc`,
		`Host("shop.example.com") -> shop.v1.8080`,
		` -> shop.v2.8080`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rules:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(p.TLS) != 1 || p.TLS[0].String() != "shop/shop-tls" || len(p.HTTPSPorts) != 1 {
		t.Errorf("tls = %v https ports %v", p.TLS, p.HTTPSPorts)
	}
	ing.Spec.Rules[0].Host = ""
	if _, err := Ingress(IngressInput{Ingress: ing}, b); err == nil || !strings.Contains(err.Error(), "spec.rules[0].host") {
		t.Errorf("no host: %v", err)
	}
}

func target(a *configv1.Action) string {
	if r := a.GetRespond(); r != nil {
		return fmt.Sprint(r.Status)
	}
	return a.GetProxy().GetUpstreams()[0].Upstream
}

func TestAppNameFitsAndStaysDistinct(t *testing.T) {
	long := strings.Repeat("n", 200)
	a := Owner{Cluster: "c", Kind: "HTTPRoute", Namespace: "ns", Name: long + "a"}.AppName()
	b := Owner{Cluster: "c", Kind: "HTTPRoute", Namespace: "ns", Name: long + "b"}.AppName()
	if len(a) > 64 || a == b || !strings.HasPrefix(a, "k8s.c.httproute.ns.") {
		t.Errorf("names %q %q", a, b)
	}
}

// FuzzMatchExpr: whatever a user writes in a match, the translation either
// refuses it with an error or yields a condition the rule language accepts.
func FuzzMatchExpr(f *testing.F) {
	f.Add("/api", "X-Env", "a\"b", "q", "1", uint8(0))
	f.Add("/a(b", "Host", "\x00", "", "", uint8(2))
	f.Fuzz(func(t *testing.T, path, hname, hval, qname, qval string, kind uint8) {
		types := []gwv1.PathMatchType{gwv1.PathMatchPathPrefix, gwv1.PathMatchExact, gwv1.PathMatchRegularExpression}
		m := gwv1.HTTPRouteMatch{Path: &gwv1.HTTPPathMatch{Type: &types[int(kind)%3], Value: &path},
			Headers:     []gwv1.HTTPHeaderMatch{{Name: gwv1.HTTPHeaderName(hname), Value: hval}},
			QueryParams: []gwv1.HTTPQueryParamMatch{{Name: gwv1.HTTPHeaderName(qname), Value: qval}}}
		expr, err := matchExpr("m", m)
		if err != nil {
			return
		}
		if err := rules.Validate(expr); err != nil {
			t.Fatalf("accepted %q: %v", expr, err)
		}
	})
}

func TestGRPCRoute(t *testing.T) {
	exact := gwv1.GRPCMethodMatchExact
	re := gwv1.GRPCMethodMatchRegularExpression
	g := &gwv1.GRPCRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "rpc"}, Spec: gwv1.GRPCRouteSpec{Rules: []gwv1.GRPCRouteRule{
		{Matches: []gwv1.GRPCRouteMatch{{Method: &gwv1.GRPCMethodMatch{Type: &exact, Service: ptr.To("shop.Cart")}}},
			BackendRefs: []gwv1.GRPCBackendRef{{BackendRef: gwv1.BackendRef{BackendObjectReference: gwv1.BackendObjectReference{Name: "v1", Port: ptr.To(gwv1.PortNumber(8080))}}}}},
		{Matches: []gwv1.GRPCRouteMatch{{Method: &gwv1.GRPCMethodMatch{Type: &exact, Service: ptr.To("shop.Cart"), Method: ptr.To("Add")},
			Headers: []gwv1.GRPCHeaderMatch{{Name: "x-tenant", Value: "a"}}}},
			BackendRefs: []gwv1.GRPCBackendRef{{BackendRef: gwv1.BackendRef{BackendObjectReference: gwv1.BackendObjectReference{Name: "v2", Port: ptr.To(gwv1.PortNumber(8080))}}}}},
		{Matches: []gwv1.GRPCRouteMatch{{Method: &gwv1.GRPCMethodMatch{Type: &re, Method: ptr.To("Get.*")}}},
			BackendRefs: []gwv1.GRPCBackendRef{{BackendRef: gwv1.BackendRef{BackendObjectReference: gwv1.BackendObjectReference{Name: "api", Port: ptr.To(gwv1.PortNumber(9000))}}}}},
	}}}
	p, err := GRPCRoute(GRPCRouteInput{Route: g, HTTPRouteInput: HTTPRouteInput{Hostnames: []string{"rpc.example.test"}, HTTPSPorts: []uint32{443}, Cluster: "east"}}, eps)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range p.Rules {
		got = append(got, r.When+" -> "+target(r.Actions[0]))
	}
	want := []string{
		`Path("/shop.Cart/Add") && Header("x-tenant", "a") -> shop.v2.8080`,
		`(Path("/shop.Cart") || PathPrefix("/shop.Cart/")) -> shop.v1.8080`,
		`PathRegexp("^(?:/(?:[^/]+)/(?:Get.*))$") -> shop.api.9000`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rules:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if p.Owner.AppName() != "k8s.east.grpcroute.shop.rpc" || p.Labels[LabelKind] != "GRPCRoute" {
		t.Errorf("owner %v labels %v", p.Owner, p.Labels)
	}
	g.Spec.Rules[0].Filters = []gwv1.GRPCRouteFilter{{Type: gwv1.GRPCRouteFilterRequestMirror}}
	if _, err := GRPCRoute(GRPCRouteInput{Route: g, HTTPRouteInput: HTTPRouteInput{Hostnames: []string{"a"}}}, eps); err == nil ||
		!strings.Contains(err.Error(), "spec.rules[0].filters[0].type") {
		t.Errorf("mirror filter: %v", err)
	}
}

// TestHTTPRouteUnmatchedIs404: a route whose matches do not cover every
// request ends with a 404 rule (a one-upstream Strata app would otherwise
// send unmatched requests to its upstream).
func TestHTTPRouteUnmatchedIs404(t *testing.T) {
	p, err := HTTPRoute(HTTPRouteInput{Route: route(gwv1.HTTPRouteRule{Matches: []gwv1.HTTPRouteMatch{prefix("/api")}, BackendRefs: []gwv1.HTTPBackendRef{backend("v1", 8080, nil)}}),
		Hostnames: []string{"a"}}, eps)
	if err != nil {
		t.Fatal(err)
	}
	last := p.Rules[len(p.Rules)-1]
	if len(p.Rules) != 2 || last.When != "" || last.Actions[0].GetRespond().GetStatus() != 404 {
		t.Errorf("rules %v: want the match, then a 404 for the rest", p.Rules)
	}
	p, _ = HTTPRoute(HTTPRouteInput{Route: route(gwv1.HTTPRouteRule{BackendRefs: []gwv1.HTTPBackendRef{backend("v1", 8080, nil)}}), Hostnames: []string{"a"}}, eps)
	if len(p.Rules) != 1 {
		t.Errorf("a route matching everything needs no 404 rule: %v", p.Rules)
	}
}

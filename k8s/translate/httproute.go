package translate

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/pkg/rules"
)

// Limits checked before anything is applied (the API has its own; these
// give an error naming the Kubernetes field instead).
const (
	maxRules     = 256 // Strata rules per app (one per HTTPRoute match)
	maxUpstreams = 64
)

// HTTPRouteInput is an HTTPRoute and what the controller resolved around it.
type HTTPRouteInput struct {
	Route *gwv1.HTTPRoute
	// Hostnames are the route's hostnames as its parent listeners accept
	// them (the intersection of spec.hostnames and the listener hostnames).
	Hostnames  []string
	HTTPPorts  []uint32
	HTTPSPorts []uint32
	TLS        []SecretRef
	Cluster    string
	Partitions []string
	// RefAllowed says whether a backendRef to another namespace is permitted
	// by a ReferenceGrant; nil permits none.
	RefAllowed func(fromNamespace, toNamespace, name string) bool
}

// HTTPRoute translates one HTTPRoute into the plan of its app.
func HTTPRoute(in HTTPRouteInput, b Backends) (*Plan, error) {
	r := in.Route
	owner := Owner{Cluster: in.Cluster, Kind: "HTTPRoute", Namespace: r.Namespace, Name: r.Name}
	if len(in.Hostnames) == 0 {
		return nil, &Error{Condition: CondAccepted, Reason: ReasonNoHostname, Field: "spec.hostnames",
			Msg: "Strata routes by host name: set spec.hostnames, or a hostname on the parent listener"}
	}
	p := &Plan{Owner: owner, Domains: sortedUnique(in.Hostnames), HTTPPorts: in.HTTPPorts, HTTPSPorts: in.HTTPSPorts,
		Partitions: in.Partitions, Labels: owner.Labels(), TLS: in.TLS, Generation: r.Generation}

	type entry struct {
		rule, match int
		m           gwv1.HTTPRouteMatch
	}
	var entries []entry
	ups := upstreamSet{}
	actions := make([][]*configv1.Action, len(r.Spec.Rules))
	for i, rule := range r.Spec.Rules {
		field := fmt.Sprintf("spec.rules[%d]", i)
		if rule.Timeouts != nil {
			return nil, unsupported(field+".timeouts", "request timeouts are not supported yet")
		}
		if rule.Retry != nil {
			return nil, unsupported(field+".retry", "retries are not supported yet (upstreams retry failed connects)")
		}
		if rule.SessionPersistence != nil {
			return nil, unsupported(field+".sessionPersistence", "session persistence is not supported yet")
		}
		acts, err := ruleActions(field, r.Namespace, rule, in.RefAllowed, b, ups, &p.Refused)
		if err != nil {
			return nil, err
		}
		actions[i] = acts
		matches := rule.Matches
		if len(matches) == 0 {
			matches = []gwv1.HTTPRouteMatch{{}}
		}
		for j, m := range matches {
			entries = append(entries, entry{i, j, m})
		}
	}
	if len(entries) > maxRules {
		return nil, unsupported("spec.rules", "%d matches in all, more than %d (Strata makes one rule per match)", len(entries), maxRules)
	}
	if len(ups) > maxUpstreams {
		return nil, unsupported("spec.rules", "%d distinct backends, more than %d", len(ups), maxUpstreams)
	}
	// Gateway API precedence: exact path, then the longest prefix, then a
	// method, then the most header matches, then the most query matches;
	// ties keep the order of the rules.
	sort.SliceStable(entries, func(a, c int) bool { return outranks(entries[a].m, entries[c].m) })
	for _, e := range entries {
		field := fmt.Sprintf("spec.rules[%d].matches[%d]", e.rule, e.match)
		when, err := matchExpr(field, e.m)
		if err != nil {
			return nil, err
		}
		p.Rules = append(p.Rules, &configv1.Rule{
			Name:    fmt.Sprintf("rule%d-match%d", e.rule, e.match),
			When:    when,
			Actions: actions[e.rule],
		})
	}
	p.Upstreams = ups.sorted()
	if len(p.Upstreams) == 1 && !slices.ContainsFunc(p.Rules, func(r *configv1.Rule) bool { return r.When == "" }) {
		// A Strata app with one upstream sends what no rule decides to it;
		// the Gateway API answers 404 for what no match covers.
		p.Rules = append(p.Rules, &configv1.Rule{Name: "no-match", Actions: []*configv1.Action{{Action: &configv1.Action_Respond{
			Respond: &configv1.RespondAction{Status: 404, Body: "no route matches\n", ContentType: "text/plain; charset=utf-8"}}}}})
	}
	return p, nil
}

// ruleActions are the Strata actions of one HTTPRoute rule: its filters,
// then the proxy to its backends (or a redirect, or a 500 without backends).
// A backend in another namespace that no ReferenceGrant permits is left
// out like one without endpoints (its share answers 500, as the Gateway API
// asks), and the first such refusal is kept in *refused: deleting a grant
// revokes the access it gave.
func ruleActions(field, ns string, rule gwv1.HTTPRouteRule, allowed func(string, string, string) bool, b Backends, ups upstreamSet, refused **Error) ([]*configv1.Action, error) {
	var acts []*configv1.Action
	terminal := false
	for k, f := range rule.Filters {
		ff := fmt.Sprintf("%s.filters[%d]", field, k)
		switch f.Type {
		case gwv1.HTTPRouteFilterRequestHeaderModifier:
			acts = append(acts, &configv1.Action{Action: &configv1.Action_RequestHeaders{RequestHeaders: headerOps(f.RequestHeaderModifier)}})
		case gwv1.HTTPRouteFilterResponseHeaderModifier:
			acts = append(acts, &configv1.Action{Action: &configv1.Action_ResponseHeaders{ResponseHeaders: headerOps(f.ResponseHeaderModifier)}})
		case gwv1.HTTPRouteFilterRequestRedirect:
			red, err := redirect(ff, f.RequestRedirect)
			if err != nil {
				return nil, err
			}
			acts = append(acts, red)
			terminal = true
		case gwv1.HTTPRouteFilterURLRewrite:
			rw := f.URLRewrite
			if rw == nil || rw.Hostname != nil || rw.Path == nil || rw.Path.Type != gwv1.FullPathHTTPPathModifier || rw.Path.ReplaceFullPath == nil {
				return nil, unsupported(ff+".urlRewrite", "only path.type ReplaceFullPath is supported yet")
			}
			acts = append(acts, &configv1.Action{Action: &configv1.Action_Rewrite{Rewrite: &configv1.RewriteAction{PathReplacement: *rw.Path.ReplaceFullPath}}})
		default:
			return nil, unsupported(ff+".type", "filter %s is not supported yet", f.Type)
		}
	}
	if terminal {
		if len(rule.BackendRefs) > 0 {
			return nil, unsupported(field+".backendRefs", "a rule with a RequestRedirect filter cannot also have backends")
		}
		return acts, nil
	}
	weights := map[string]uint32{}
	var order []string
	for k, br := range rule.BackendRefs {
		bf := fmt.Sprintf("%s.backendRefs[%d]", field, k)
		if len(br.Filters) > 0 {
			return nil, unsupported(bf+".filters", "filters on a backendRef are not supported yet")
		}
		w := uint32(1)
		if br.Weight != nil {
			w = uint32(*br.Weight)
		}
		up, err := ups.backend(b, bf, ns, br.BackendObjectReference, allowed)
		if e, ok := err.(*Error); ok && e.Reason == ReasonRefNotPermitted {
			if *refused == nil {
				*refused = e
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		if _, seen := weights[up]; !seen {
			order = append(order, up)
		}
		weights[up] += w
	}
	proxy := &configv1.ProxyAction{}
	total := uint32(0)
	for _, up := range order {
		proxy.Upstreams = append(proxy.Upstreams, &configv1.WeightedUpstream{Upstream: up, Weight: weights[up]})
		total += weights[up]
	}
	if total == 0 {
		// No backend or every weight 0: the Gateway API answers 500. (A
		// backend without a ready endpoint is the nodes' business: its set
		// is empty, and a split gives it no share.)
		return append(acts, &configv1.Action{Action: &configv1.Action_Respond{Respond: &configv1.RespondAction{
			Status: 500, Body: "no ready backend\n", ContentType: "text/plain; charset=utf-8"}}}), nil
	}
	return append(acts, &configv1.Action{Action: &configv1.Action_Proxy{Proxy: proxy}}), nil
}

func headerOps(m *gwv1.HTTPHeaderFilter) *configv1.HeaderOps {
	ops := &configv1.HeaderOps{}
	if m == nil {
		return ops
	}
	for _, h := range m.Set {
		if ops.Set == nil {
			ops.Set = map[string]string{}
		}
		ops.Set[string(h.Name)] = h.Value
	}
	for _, h := range m.Add {
		ops.Add = append(ops.Add, &configv1.Header{Name: string(h.Name), Value: h.Value})
	}
	ops.Remove = append(ops.Remove, m.Remove...)
	return ops
}

func redirect(field string, r *gwv1.HTTPRequestRedirectFilter) (*configv1.Action, error) {
	if r == nil {
		return nil, unsupported(field+".requestRedirect", "is required for a RequestRedirect filter")
	}
	scheme, host, port, path := "$scheme", "$host", "", "$request_uri"
	if r.Scheme != nil {
		scheme = *r.Scheme
	}
	if r.Hostname != nil {
		host = string(*r.Hostname)
	}
	if r.Port != nil {
		port = ":" + strconv.Itoa(int(*r.Port))
	}
	if r.Path != nil {
		if r.Path.Type != gwv1.FullPathHTTPPathModifier || r.Path.ReplaceFullPath == nil {
			return nil, unsupported(field+".requestRedirect.path", "only type ReplaceFullPath is supported yet")
		}
		path = *r.Path.ReplaceFullPath
	}
	status := uint32(302)
	if r.StatusCode != nil {
		status = uint32(*r.StatusCode)
	}
	return &configv1.Action{Action: &configv1.Action_Redirect{Redirect: &configv1.RedirectAction{
		Url: scheme + "://" + host + port + path, Status: status}}}, nil
}

// matchExpr is the Strata rule condition of one HTTPRoute match.
func matchExpr(field string, m gwv1.HTTPRouteMatch) (string, error) {
	var parts []string
	typ, value := pathOf(m)
	switch typ {
	case gwv1.PathMatchExact:
		parts = append(parts, "Path("+q(value)+")")
	case gwv1.PathMatchPathPrefix:
		// Gateway API prefixes match whole path elements: /foo matches /foo
		// and /foo/bar, never /foobar.
		if v := strings.TrimRight(value, "/"); v != "" {
			parts = append(parts, "(Path("+q(v)+") || PathPrefix("+q(v+"/")+"))")
		}
	case gwv1.PathMatchRegularExpression:
		parts = append(parts, "PathRegexp("+q("^(?:"+value+")$")+")")
	default:
		return "", unsupported(field+".path.type", "unknown path match type %q", typ)
	}
	if m.Method != nil {
		parts = append(parts, "Method("+q(string(*m.Method))+")")
	}
	for k, h := range m.Headers {
		switch t := headerType(h.Type); t {
		case gwv1.HeaderMatchExact:
			parts = append(parts, "Header("+q(string(h.Name))+", "+q(h.Value)+")")
		case gwv1.HeaderMatchRegularExpression:
			parts = append(parts, "HeaderRegexp("+q(string(h.Name))+", "+q(h.Value)+")")
		default:
			return "", unsupported(fmt.Sprintf("%s.headers[%d].type", field, k), "unknown header match type %q", t)
		}
	}
	for k, qp := range m.QueryParams {
		t := gwv1.QueryParamMatchExact
		if qp.Type != nil {
			t = *qp.Type
		}
		switch t {
		case gwv1.QueryParamMatchExact:
			parts = append(parts, "Query("+q(string(qp.Name))+", "+q(qp.Value)+")")
		case gwv1.QueryParamMatchRegularExpression:
			parts = append(parts, "QueryRegexp("+q(string(qp.Name))+", "+q(qp.Value)+")")
		default:
			return "", unsupported(fmt.Sprintf("%s.queryParams[%d].type", field, k), "unknown query match type %q", t)
		}
	}
	expr := strings.Join(parts, " && ")
	if err := rules.Validate(expr); err != nil {
		return "", unsupported(field, "cannot be expressed as a Strata rule: %v", err)
	}
	return expr, nil
}

func pathOf(m gwv1.HTTPRouteMatch) (gwv1.PathMatchType, string) {
	typ, value := gwv1.PathMatchPathPrefix, "/"
	if m.Path != nil {
		if m.Path.Type != nil {
			typ = *m.Path.Type
		}
		if m.Path.Value != nil {
			value = *m.Path.Value
		}
	}
	return typ, value
}

func headerType(t *gwv1.HeaderMatchType) gwv1.HeaderMatchType {
	if t == nil {
		return gwv1.HeaderMatchExact
	}
	return *t
}

// outranks says whether match a takes precedence over b (Gateway API
// "Rule precedence" of HTTPRouteRule).
func outranks(a, b gwv1.HTTPRouteMatch) bool {
	at, av := pathOf(a)
	bt, bv := pathOf(b)
	if (at == gwv1.PathMatchExact) != (bt == gwv1.PathMatchExact) {
		return at == gwv1.PathMatchExact
	}
	if at != gwv1.PathMatchRegularExpression && bt != gwv1.PathMatchRegularExpression && len(av) != len(bv) {
		return len(av) > len(bv)
	}
	if (at == gwv1.PathMatchRegularExpression) != (bt == gwv1.PathMatchRegularExpression) {
		return bt == gwv1.PathMatchRegularExpression
	}
	if (a.Method != nil) != (b.Method != nil) {
		return a.Method != nil
	}
	if len(a.Headers) != len(b.Headers) {
		return len(a.Headers) > len(b.Headers)
	}
	return len(a.QueryParams) > len(b.QueryParams)
}

// q quotes a rule argument (the rule language reads Go escapes).
func q(s string) string { return strconv.Quote(s) }

func sortedUnique(in []string) []string {
	out := append([]string(nil), in...)
	for i := range out {
		out[i] = strings.ToLower(out[i])
	}
	sort.Strings(out)
	return dedupe(out)
}

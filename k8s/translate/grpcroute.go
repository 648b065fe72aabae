package translate

import (
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// GRPCRouteInput is a GRPCRoute and what the controller resolved around it
// (the fields of HTTPRouteInput; its Route is unused).
type GRPCRouteInput struct {
	Route *gwv1.GRPCRoute
	HTTPRouteInput
}

// GRPCRoute translates a GRPCRoute into the plan of its app. gRPC calls are
// HTTP/2 POSTs to /<service>/<method>, so each method match becomes a path
// match (Exact service and method: Path; service alone: the /<service>/
// prefix; RegularExpression: PathRegexp) and the rest is the HTTPRoute
// translation, field names included (the two specs share their shape).
// The nodes serve gRPC on their TLS listener: the route needs an HTTPS
// listener.
func GRPCRoute(in GRPCRouteInput, b Backends) (*Plan, error) {
	g := in.Route
	hr := &gwv1.HTTPRoute{ObjectMeta: g.ObjectMeta, Spec: gwv1.HTTPRouteSpec{CommonRouteSpec: g.Spec.CommonRouteSpec, Hostnames: g.Spec.Hostnames}}
	for _, rule := range g.Spec.Rules {
		hrule := gwv1.HTTPRouteRule{Name: rule.Name, SessionPersistence: rule.SessionPersistence}
		for _, m := range rule.Matches {
			hm := gwv1.HTTPRouteMatch{Path: grpcPath(m.Method)}
			for _, h := range m.Headers {
				t := gwv1.HeaderMatchExact
				if h.Type != nil && *h.Type == gwv1.GRPCHeaderMatchRegularExpression {
					t = gwv1.HeaderMatchRegularExpression
				}
				hm.Headers = append(hm.Headers, gwv1.HTTPHeaderMatch{Type: &t, Name: gwv1.HTTPHeaderName(h.Name), Value: h.Value})
			}
			hrule.Matches = append(hrule.Matches, hm)
		}
		hrule.Filters = httpFilters(rule.Filters)
		for _, br := range rule.BackendRefs {
			hrule.BackendRefs = append(hrule.BackendRefs, gwv1.HTTPBackendRef{BackendRef: br.BackendRef, Filters: httpFilters(br.Filters)})
		}
		hr.Spec.Rules = append(hr.Spec.Rules, hrule)
	}
	hin := in.HTTPRouteInput
	hin.Route = hr
	p, err := HTTPRoute(hin, b)
	if err != nil {
		return nil, err
	}
	p.Owner.Kind = "GRPCRoute"
	p.Labels = p.Owner.Labels()
	return p, nil
}

func grpcPath(m *gwv1.GRPCMethodMatch) *gwv1.HTTPPathMatch {
	if m == nil || m.Service == nil && m.Method == nil {
		return nil // every call
	}
	svc, method := "", ""
	if m.Service != nil {
		svc = *m.Service
	}
	if m.Method != nil {
		method = *m.Method
	}
	regex := m.Type != nil && *m.Type == gwv1.GRPCMethodMatchRegularExpression
	typ, value := gwv1.PathMatchExact, "/"+svc+"/"+method
	switch {
	case regex:
		if svc == "" {
			svc = "[^/]+"
		}
		if method == "" {
			method = "[^/]+"
		}
		typ, value = gwv1.PathMatchRegularExpression, "/(?:"+svc+")/(?:"+method+")"
	case method == "":
		typ, value = gwv1.PathMatchPathPrefix, "/"+svc
	case svc == "":
		typ, value = gwv1.PathMatchRegularExpression, "/[^/]+/"+regexpQuote(method)
	}
	return &gwv1.HTTPPathMatch{Type: &typ, Value: &value}
}

// httpFilters maps gRPC filters to the HTTPRoute filters of the same type
// (the translation refuses those it does not support).
func httpFilters(fs []gwv1.GRPCRouteFilter) []gwv1.HTTPRouteFilter {
	var out []gwv1.HTTPRouteFilter
	for _, f := range fs {
		out = append(out, gwv1.HTTPRouteFilter{Type: gwv1.HTTPRouteFilterType(f.Type),
			RequestHeaderModifier: f.RequestHeaderModifier, ResponseHeaderModifier: f.ResponseHeaderModifier,
			RequestMirror: f.RequestMirror, ExtensionRef: f.ExtensionRef})
	}
	return out
}

package translate

import (
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

// StreamListenerInput is a Gateway listener of protocol TLS, TCP or UDP and
// the routes attached to it (TLSRoutes, TCPRoutes, UDPRoutes). A listener
// is one stream app: a port belongs to one app, so the routes of the
// listener share it.
type StreamListenerInput struct {
	Gateway  *gwv1.Gateway
	Listener gwv1.Listener
	Routes   []StreamRoute
	// TLS lists the certificate Secrets of a Terminate listener.
	TLS        []SecretRef
	Cluster    string
	Partitions []string
	// RefAllowed says whether a backendRef to another namespace is permitted
	// by a ReferenceGrant; nil permits none.
	RefAllowed func(fromNamespace, toNamespace, name string) bool
}

// StreamRoute is one route attached to a stream listener.
type StreamRoute struct {
	Kind string // TLSRoute, TCPRoute, UDPRoute
	metav1.ObjectMeta
	// Rules are the backendRefs of each of the route's rules.
	Rules [][]gwv1.BackendRef
	// Hostnames are, for a TLSRoute, the hostnames the listener accepts of
	// it (spec.hostnames intersected with the listener's).
	Hostnames []string
}

// RouteKey names a route in the errors of StreamListener.
func RouteKey(ns, name string) string { return ns + "/" + name }

// StreamListener translates a stream listener and its routes into the plan
// of its stream app.
//
// TLS: Passthrough reads the ClientHello's server name and forwards the
// untouched TLS bytes; Terminate ends TLS with the listener's certificates
// and forwards the plain bytes. Each TLSRoute hostname is an SNI route to
// the upstream of the route's backend; a name two routes claim is the
// older route's. TCP and UDP: the listener forwards to the backend of one
// route, the oldest (there is nothing to tell routes apart by).
//
// A route that cannot be translated is left out whole (the connections it
// would take are refused, as the Gateway API asks of a route with invalid
// backends) and its error is returned in errs, keyed by RouteKey; the other
// routes are planned. The plan is nil when no route is left (the app then
// goes).
func StreamListener(in StreamListenerInput, b Backends) (plan *Plan, errs map[string]*Error, err error) {
	gw, l := in.Gateway, in.Listener
	owner := Owner{Cluster: in.Cluster, Kind: "Gateway", Namespace: gw.Namespace, Name: gw.Name, Section: string(l.Name)}
	st := &configv1.StreamApp{Listeners: []*configv1.StreamListener{{Port: uint32(l.Port), Protocol: configv1.StreamProtocol_STREAM_PROTOCOL_TCP}}}
	switch {
	case l.Protocol == gwv1.UDPProtocolType:
		st.Listeners[0].Protocol = configv1.StreamProtocol_STREAM_PROTOCOL_UDP
	case l.Protocol != gwv1.TLSProtocolType:
	case l.TLS != nil && l.TLS.Mode != nil && *l.TLS.Mode == gwv1.TLSModeTerminate:
		st.TlsMode = configv1.StreamTlsMode_STREAM_TLS_MODE_TERMINATE
	default:
		st.TlsMode = configv1.StreamTlsMode_STREAM_TLS_MODE_PASSTHROUGH
	}
	sni := st.TlsMode != configv1.StreamTlsMode_STREAM_TLS_MODE_UNSPECIFIED
	errs = map[string]*Error{}
	ups := upstreamSet{}
	byName := map[string]string{} // server name -> upstream
	var names []string
	routes := append([]StreamRoute(nil), in.Routes...)
	// Gateway API conflict resolution: the oldest route (creation time,
	// then namespace/name) wins.
	sort.SliceStable(routes, func(i, j int) bool {
		a, c := routes[i], routes[j]
		if !a.CreationTimestamp.Equal(&c.CreationTimestamp) {
			return a.CreationTimestamp.Before(&c.CreationTimestamp)
		}
		return RouteKey(a.Namespace, a.Name) < RouteKey(c.Namespace, c.Name)
	})
	var winner string // TCP, UDP: the route the listener forwards for
	for _, rt := range routes {
		key := RouteKey(rt.Namespace, rt.Name)
		mine := upstreamSet{}
		up, terr := streamBackend(rt, in.RefAllowed, b, mine)
		if terr != nil {
			e, ok := terr.(*Error)
			if !ok {
				return nil, nil, terr // the cache, not the route
			}
			errs[key] = e
			continue
		}
		if sni && len(rt.Hostnames) == 0 {
			errs[key] = &Error{Condition: CondAccepted, Reason: ReasonNoHostname, Field: "spec.hostnames",
				Msg: "no hostname of the route matches the listener's hostname"}
			continue
		}
		if !sni && winner != "" {
			errs[key] = unsupported("spec.parentRefs", "listener %s already forwards for %s %s (the oldest route): one %s per listener",
				l.Name, rt.Kind, winner, rt.Kind)
			continue
		}
		for n, u := range mine {
			ups[n] = u
		}
		if !sni {
			winner, st.Upstream = key, up
			continue
		}
		for _, h := range sortedUnique(rt.Hostnames) {
			if _, taken := byName[h]; !taken {
				byName[h] = up
				names = append(names, h)
			}
		}
	}
	if sni && len(names) == 0 || !sni && st.Upstream == "" {
		return nil, errs, nil
	}
	sort.Strings(names)
	for _, n := range names {
		st.SniRoutes = append(st.SniRoutes, &configv1.SniRoute{ServerName: n, Upstream: byName[n]})
	}
	if st.TlsMode == configv1.StreamTlsMode_STREAM_TLS_MODE_TERMINATE {
		// Terminate needs an upstream for names no route matches; a name
		// that is no route's gets no certificate, so it never reaches it.
		st.Upstream = byName[names[0]]
	}
	return &Plan{Owner: owner, Domains: names, Partitions: in.Partitions, Labels: owner.Labels(),
		Upstreams: ups.sorted(), Stream: st, TLS: in.TLS, Generation: gw.Generation}, errs, nil
}

// streamBackend resolves the one backend of a stream route.
func streamBackend(r StreamRoute, allowed func(string, string, string) bool, b Backends, ups upstreamSet) (string, error) {
	if len(r.Rules) != 1 {
		return "", unsupported("spec.rules", "%d rules: one rule per %s is supported yet", len(r.Rules), r.Kind)
	}
	refs := r.Rules[0]
	if len(refs) != 1 {
		return "", unsupported("spec.rules[0].backendRefs", "%d backends: one backend per %s is supported yet", len(refs), r.Kind)
	}
	return ups.backend(b, "spec.rules[0].backendRefs[0]", r.Namespace, refs[0].BackendObjectReference, allowed)
}

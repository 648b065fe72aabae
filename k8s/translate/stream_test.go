package translate

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

func streamRoute(kind, name string, age time.Duration, hosts []string, refs ...gwv1.BackendObjectReference) StreamRoute {
	r := StreamRoute{Kind: kind, ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, CreationTimestamp: metav1.NewTime(time.Unix(1e9, 0).Add(-age))},
		Rules: [][]gwv1.BackendRef{nil}, Hostnames: hosts}
	for _, ref := range refs {
		r.Rules[0] = append(r.Rules[0], gwv1.BackendRef{BackendObjectReference: ref})
	}
	return r
}

func tlsRoute(name string, age time.Duration, hosts []string, refs ...gwv1.BackendObjectReference) StreamRoute {
	return streamRoute("TLSRoute", name, age, hosts, refs...)
}

func svc(ns, name string, port int32) gwv1.BackendObjectReference {
	ref := gwv1.BackendObjectReference{Name: gwv1.ObjectName(name), Port: ptr.To(gwv1.PortNumber(port))}
	if ns != "" {
		ref.Namespace = ptr.To(gwv1.Namespace(ns))
	}
	return ref
}

func tlsListener(mode gwv1.TLSModeType, routes ...StreamRoute) StreamListenerInput {
	return StreamListenerInput{
		Gateway:  &gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "edge", Generation: 2}},
		Listener: gwv1.Listener{Name: "tls", Protocol: gwv1.TLSProtocolType, Port: 8443, TLS: &gwv1.ListenerTLSConfig{Mode: &mode}},
		Routes:   routes, Cluster: "east", Partitions: []string{"default"},
	}
}

func sni(st *configv1.StreamApp) string {
	var out []string
	for _, r := range st.SniRoutes {
		out = append(out, r.ServerName+"="+r.Upstream)
	}
	return strings.Join(out, " ")
}

// TestTLSListenerPassthrough: every hostname of the listener's routes is an
// SNI route to its backend's upstream, on the listener's port; the app is
// the listener's; a name two routes claim is the older route's.
func TestTLSListenerPassthrough(t *testing.T) {
	in := tlsListener(gwv1.TLSModePassthrough,
		tlsRoute("db", time.Hour, []string{"db.example.com", "*.db.example.com"}, svc("", "v1", 8080)),
		tlsRoute("late", time.Minute, []string{"db.example.com", "api.example.com"}, svc("", "api", 9000)),
	)
	p, errs, err := StreamListener(in, eps)
	if err != nil || len(errs) != 0 {
		t.Fatalf("err %v, route errors %v", err, errs)
	}
	if got := p.Owner.AppName(); got != "k8s.east.gateway.shop.edge.tls" {
		t.Errorf("app name %q", got)
	}
	if p.Labels[LabelKind] != "Gateway" || p.Labels[LabelSection] != "tls" {
		t.Errorf("labels %v", p.Labels)
	}
	st := p.Stream
	if st.TlsMode != configv1.StreamTlsMode_STREAM_TLS_MODE_PASSTHROUGH || st.Upstream != "" ||
		len(st.Listeners) != 1 || st.Listeners[0].Port != 8443 || st.Listeners[0].Protocol != configv1.StreamProtocol_STREAM_PROTOCOL_TCP {
		t.Errorf("stream %v", st)
	}
	if got, want := sni(st), "*.db.example.com=shop.v1.8080 api.example.com=shop.api.9000 db.example.com=shop.v1.8080"; got != want {
		t.Errorf("sni routes %q, want %q", got, want)
	}
	if got := strings.Join(p.Domains, ","); got != "*.db.example.com,api.example.com,db.example.com" {
		t.Errorf("domains %q", got)
	}
	if len(p.Upstreams) != 2 || len(p.HTTPPorts)+len(p.HTTPSPorts)+len(p.Rules) != 0 {
		t.Errorf("upstreams %v, http ports %v %v, rules %v", p.Upstreams, p.HTTPPorts, p.HTTPSPorts, p.Rules)
	}
}

// TestTLSListenerTerminate: the node terminates with the listener's
// certificates; names no route has go to an upstream the API requires and
// never reach it (they get no certificate).
func TestTLSListenerTerminate(t *testing.T) {
	in := tlsListener(gwv1.TLSModeTerminate, tlsRoute("db", time.Hour, []string{"db.example.com"}, svc("", "v2", 8080)))
	in.TLS = []SecretRef{{Namespace: "shop", Name: "db-tls"}}
	p, errs, err := StreamListener(in, eps)
	if err != nil || len(errs) != 0 {
		t.Fatalf("err %v, route errors %v", err, errs)
	}
	if p.Stream.TlsMode != configv1.StreamTlsMode_STREAM_TLS_MODE_TERMINATE || p.Stream.Upstream != "shop.v2.8080" || len(p.TLS) != 1 {
		t.Errorf("stream %v, tls %v", p.Stream, p.TLS)
	}
}

// TestTLSListenerRouteErrors: a route that cannot be translated is left
// out whole with an error naming the field and a Gateway API reason; the
// others are planned; no route left: no plan.
func TestTLSListenerRouteErrors(t *testing.T) {
	good := tlsRoute("good", time.Hour, []string{"good.example.com"}, svc("", "v1", 8080))
	cases := []struct {
		route          StreamRoute
		reason, field  string
		allowOtherNSes bool
	}{
		{tlsRoute("missing", 0, []string{"a.example.com"}, svc("", "gone", 80)), ReasonBackendNotFound, "spec.rules[0].backendRefs[0]", false},
		{tlsRoute("cross", 0, []string{"a.example.com"}, svc("other", "db", 5432)), ReasonRefNotPermitted, "spec.rules[0].backendRefs[0]", false},
		{tlsRoute("two", 0, []string{"a.example.com"}, svc("", "v1", 8080), svc("", "v2", 8080)), ReasonUnsupportedValue, "spec.rules[0].backendRefs", false},
		{tlsRoute("nohost", 0, nil, svc("", "v1", 8080)), ReasonNoHostname, "spec.hostnames", false},
	}
	for _, c := range cases {
		p, errs, err := StreamListener(tlsListener(gwv1.TLSModePassthrough, good, c.route), eps)
		if err != nil {
			t.Fatal(err)
		}
		e := errs["shop/"+c.route.Name]
		if e == nil || e.Reason != c.reason || e.Field != c.field {
			t.Errorf("%s: error %+v, want %s at %s", c.route.Name, e, c.reason, c.field)
		}
		if p == nil || sni(p.Stream) != "good.example.com=shop.v1.8080" || len(p.Upstreams) != 1 {
			t.Errorf("%s: the good route must be planned alone: %v", c.route.Name, p)
		}
	}
	// With a grant, the other namespace's Service is the backend.
	in := tlsListener(gwv1.TLSModePassthrough, tlsRoute("cross", 0, []string{"a.example.com"}, svc("other", "db", 5432)))
	in.RefAllowed = func(from, to, name string) bool { return from == "shop" && to == "other" && name == "db" }
	p, errs, err := StreamListener(in, eps)
	if err != nil || len(errs) != 0 || sni(p.Stream) != "a.example.com=other.db.5432" {
		t.Errorf("granted: %v %v %v", p, errs, err)
	}
	p, errs, _ = StreamListener(tlsListener(gwv1.TLSModePassthrough, tlsRoute("missing", 0, []string{"a.example.com"}, svc("", "gone", 80))), eps)
	if p != nil || len(errs) != 1 {
		t.Errorf("no route left: plan %v, errors %v", p, errs)
	}
	// No ready endpoint yet: the name is routed to the Service's (empty)
	// endpoint set, which the nodes fill as endpoints come, without a release.
	p, errs, _ = StreamListener(tlsListener(gwv1.TLSModePassthrough, good, tlsRoute("idle", 0, []string{"idle.example.com"}, svc("", "none", 80))), eps)
	if len(errs) != 0 || p == nil || sni(p.Stream) != "good.example.com=shop.v1.8080 idle.example.com=shop.none.80" {
		t.Errorf("no endpoints: plan %v, errors %v", p, errs)
	}
}

// TestTCPAndUDPListeners: a TCP or UDP listener forwards to the backend of
// its oldest route; a younger route is refused naming the one that holds
// the listener.
func TestTCPAndUDPListeners(t *testing.T) {
	for _, proto := range []gwv1.ProtocolType{gwv1.TCPProtocolType, gwv1.UDPProtocolType} {
		kind := map[gwv1.ProtocolType]string{gwv1.TCPProtocolType: "TCPRoute", gwv1.UDPProtocolType: "UDPRoute"}[proto]
		in := tlsListener("", streamRoute(kind, "young", time.Minute, nil, svc("", "v2", 8080)), streamRoute(kind, "old", time.Hour, nil, svc("", "api", 9000)))
		in.Listener = gwv1.Listener{Name: "raw", Protocol: proto, Port: 5000}
		p, errs, err := StreamListener(in, eps)
		if err != nil || p == nil {
			t.Fatalf("%s: %v %v", proto, p, err)
		}
		want := configv1.StreamProtocol_STREAM_PROTOCOL_TCP
		if proto == gwv1.UDPProtocolType {
			want = configv1.StreamProtocol_STREAM_PROTOCOL_UDP
		}
		st := p.Stream
		if st.Upstream != "shop.api.9000" || st.TlsMode != configv1.StreamTlsMode_STREAM_TLS_MODE_UNSPECIFIED || len(st.SniRoutes) != 0 ||
			st.Listeners[0].Protocol != want || st.Listeners[0].Port != 5000 || len(p.Domains) != 0 || len(p.Upstreams) != 1 {
			t.Errorf("%s: stream %v, domains %v, upstreams %v", proto, st, p.Domains, p.Upstreams)
		}
		if e := errs["shop/young"]; len(errs) != 1 || e == nil || e.Reason != ReasonUnsupportedValue || !strings.Contains(e.Msg, "shop/old") {
			t.Errorf("%s: errors %v", proto, errs)
		}
	}
}

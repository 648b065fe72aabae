package controller_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"

	"connectrpc.com/connect"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/gen/strata/config/v1/configv1connect"
	"github.com/strata-edge/strata/k8s/controller"
	"github.com/strata-edge/strata/k8s/internal/kubetest"
	"github.com/strata-edge/strata/pkg/certtest"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// parentCondition is condition typ of the first parent of route (an
// HTTPRoute, GRPCRoute or TLSRoute) for its current generation, or nil.
func parentCondition(t *testing.T, k client.Client, route client.Object, typ string) *metav1.Condition {
	t.Helper()
	mustGet(t, k, route.GetNamespace(), route.GetName(), route)
	var st gwv1.RouteStatus
	switch r := route.(type) {
	case *gwv1.HTTPRoute:
		st = r.Status.RouteStatus
	case *gwv1.GRPCRoute:
		st = r.Status.RouteStatus
	case *gwv1.TLSRoute:
		st = r.Status.RouteStatus
	case *gwv1.TCPRoute:
		st = r.Status.RouteStatus
	case *gwv1.UDPRoute:
		st = r.Status.RouteStatus
	default:
		t.Fatalf("no route status in %T", route)
	}
	for _, p := range st.Parents {
		if c := meta.FindStatusCondition(p.Conditions, typ); c != nil && c.ObservedGeneration == route.GetGeneration() {
			return c
		}
	}
	return nil
}

func waitParent(t *testing.T, k client.Client, route client.Object, typ string, want metav1.ConditionStatus, reason string) *metav1.Condition {
	t.Helper()
	var c *metav1.Condition
	natstest.CheckFor(t, 60*time.Second, 100*time.Millisecond, func() error {
		c = parentCondition(t, k, route, typ)
		if c == nil || c.Status != want || reason != "" && c.Reason != reason {
			return fmt.Errorf("%T %s (generation %d) condition %s = %+v, want %s %s", route, route.GetName(), route.GetGeneration(), typ, c, want, reason)
		}
		return nil
	})
	return c
}

// waitListener waits for condition typ of Gateway listener name.
func waitListener(t *testing.T, k client.Client, ns, gw, name, typ string, want metav1.ConditionStatus, reason string) *metav1.Condition {
	t.Helper()
	var c *metav1.Condition
	natstest.CheckFor(t, 60*time.Second, 100*time.Millisecond, func() error {
		var g gwv1.Gateway
		mustGet(t, k, ns, gw, &g)
		for _, l := range g.Status.Listeners {
			if string(l.Name) == name {
				c = meta.FindStatusCondition(l.Conditions, typ)
			}
		}
		if c == nil || c.Status != want || reason != "" && c.Reason != reason {
			return fmt.Errorf("listener %s condition %s = %+v, want %s %s", name, typ, c, want, reason)
		}
		return nil
	})
	return c
}

// tlsBackend is a TLS server with a certificate of its own for name: it
// answers every connection with its name and closes it.
func tlsBackend(t *testing.T, set *certtest.Set, name string) net.Listener {
	leaf, chain := set.Leaf(t, certtest.Options{DNSNames: []string{name}})
	cert, err := tls.X509KeyPair([]byte(chain), []byte(leaf.KeyPEM(t)))
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", net.JoinHostPort(kubetest.BackendIP, "0"), &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				_, _ = io.WriteString(c, "backend "+name+"\n")
			}()
		}
	}()
	return l
}

// udpBackend answers each datagram with "echo " and the datagram.
func udpBackend(t *testing.T) *net.UDPConn {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(kubetest.BackendIP)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			_, _ = c.WriteToUDP(append([]byte("echo "), buf[:n]...), from)
		}
	}()
	return c
}

// dialTLS makes a TLS connection to addr naming sni, trusting roots, and
// returns what the server sends and the certificate it showed.
func dialTLS(addr, sni string, roots *x509.CertPool) (string, *x509.Certificate, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{ServerName: sni, RootCAs: roots})
	if err != nil {
		return "", nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	return string(b), c.ConnectionState().PeerCertificates[0], err
}

// rpcBackend is a gRPC server (Connect's handler speaks the gRPC protocol)
// over h2c: GetApp answers with the name it was asked for; ListApps
// answers too, so that only the route can keep a call from it.
type rpcBackend struct {
	configv1connect.UnimplementedConfigServiceHandler
}

func (rpcBackend) ListApps(context.Context, *configv1.ListAppsRequest) (*configv1.ListAppsResponse, error) {
	return &configv1.ListAppsResponse{}, nil
}

func (rpcBackend) GetApp(_ context.Context, req *configv1.GetAppRequest) (*configv1.GetAppResponse, error) {
	return &configv1.GetAppResponse{App: &configv1.App{Name: "from the gRPC backend: " + req.AppId}}, nil
}

// TestTLSRouteGRPCAndGrants: TLSRoutes on a Passthrough listener reach a
// TLS backend by SNI through a real node, with the backend's own
// certificate; a Terminate listener serves a certificate from a Secret in
// another namespace only while a ReferenceGrant permits it; an HTTPRoute's
// backend in another namespace answers only while a grant permits it; a
// GRPCRoute with a method match carries a real gRPC call; a TCPRoute and a
// UDPRoute forward their listeners to their backends.
func TestTLSRouteGRPCAndGrants(t *testing.T) {
	if !kubetest.InNetns(t) {
		return
	}
	s := startStack(t)
	ctx := context.Background()
	const ns = "vault"
	for _, n := range []string{ns, "certs", "backends"} {
		s.create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}})
	}
	nodeHost, _, _ := net.SplitHostPort(strings.TrimPrefix(s.plain, "http://"))

	backendSet := certtest.NewSet(t)
	s.register(t, ns, "vault", tlsBackend(t, backendSet, "vault.example.test").Addr())
	s.backend(t, ns, "plain")
	s.backend(t, "backends", "shared")

	gwSet := certtest.NewSet(t)
	leaf, chain := gwSet.Leaf(t, certtest.Options{DNSNames: []string{"term.example.test", "rpc.example.test"}})
	secret := func(ns, name string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{corev1.TLSCertKey: []byte(chain), corev1.TLSPrivateKeyKey: []byte(leaf.KeyPEM(t))}}
	}
	const passPort, termPort, tcpPort, udpPort = 9443, 9444, 9445, 9446
	s.create(t, secret("certs", "term-tls"), secret(ns, "rpc-tls"),
		&gwv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "strata"}, Spec: gwv1.GatewayClassSpec{ControllerName: controller.DefaultControllerName}},
		&gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "edge"}, Spec: gwv1.GatewaySpec{GatewayClassName: "strata",
			Listeners: []gwv1.Listener{
				{Name: "pass", Protocol: gwv1.TLSProtocolType, Port: passPort, TLS: &gwv1.ListenerTLSConfig{Mode: ptr.To(gwv1.TLSModePassthrough)}},
				{Name: "term", Protocol: gwv1.TLSProtocolType, Port: termPort, TLS: &gwv1.ListenerTLSConfig{Mode: ptr.To(gwv1.TLSModeTerminate),
					CertificateRefs: []gwv1.SecretObjectReference{{Namespace: ptr.To(gwv1.Namespace("certs")), Name: "term-tls"}}}},
				{Name: "tcp", Protocol: gwv1.TCPProtocolType, Port: tcpPort},
				{Name: "udp", Protocol: gwv1.UDPProtocolType, Port: udpPort},
				{Name: "http", Protocol: gwv1.HTTPProtocolType, Port: 80},
				{Name: "https", Protocol: gwv1.HTTPSProtocolType, Port: 443,
					TLS: &gwv1.ListenerTLSConfig{CertificateRefs: []gwv1.SecretObjectReference{{Name: "rpc-tls"}}}},
			}}},
	)
	tlsRoute := func(name, listener, host, svc string, port gwv1.PortNumber) *gwv1.TLSRoute {
		return &gwv1.TLSRoute{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: gwv1.TLSRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "edge", SectionName: ptr.To(gwv1.SectionName(listener))}}},
			Hostnames:       []gwv1.Hostname{gwv1.Hostname(host)},
			Rules: []gwv1.TLSRouteRule{{BackendRefs: []gwv1.BackendRef{{BackendObjectReference: gwv1.BackendObjectReference{
				Name: gwv1.ObjectName(svc), Port: ptr.To(port)}}}}}}}
	}
	pass := tlsRoute("vault", "pass", "vault.example.test", "vault", 8080)
	term := tlsRoute("term", "term", "term.example.test", "plain", 8080)
	backendRefs := func(svc string) []gwv1.BackendRef {
		return []gwv1.BackendRef{{BackendObjectReference: gwv1.BackendObjectReference{Name: gwv1.ObjectName(svc), Port: ptr.To(gwv1.PortNumber(8080))}}}
	}
	parent := func(listener string) gwv1.CommonRouteSpec {
		return gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "edge", SectionName: ptr.To(gwv1.SectionName(listener))}}}
	}
	tcp := &gwv1.TCPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "raw"}, Spec: gwv1.TCPRouteSpec{
		CommonRouteSpec: parent("tcp"), Rules: []gwv1.TCPRouteRule{{BackendRefs: backendRefs("plain")}}}}
	udpEcho := udpBackend(t)
	s.register(t, ns, "echo", udpEcho.LocalAddr())
	udp := &gwv1.UDPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "dgram"}, Spec: gwv1.UDPRouteSpec{
		CommonRouteSpec: parent("udp"), Rules: []gwv1.UDPRouteRule{{BackendRefs: backendRefs("echo")}}}}
	s.create(t, pass, term, tcp, udp)
	s.run(t)

	// Passthrough: the client sees the backend's own certificate.
	waitParent(t, s.kube, pass, "Programmed", metav1.ConditionTrue, "")
	backendRoots := x509.NewCertPool()
	backendRoots.AddCert(backendSet.Root.Cert)
	passAddr := net.JoinHostPort(nodeHost, fmt.Sprint(passPort))
	started := time.Now()
	natstest.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		got, cert, err := dialTLS(passAddr, "vault.example.test", backendRoots)
		if err != nil || got != "backend vault.example.test\n" {
			return fmt.Errorf("passthrough: %q %v", got, err)
		}
		if cert.Subject.CommonName != "vault.example.test" || cert.Issuer.CommonName != "Test Intermediate" {
			return fmt.Errorf("passthrough served %s issued by %s", cert.Subject, cert.Issuer)
		}
		return nil
	})
	t.Logf("a TLSRoute served through the node %s after its Programmed=True", time.Since(started))
	if _, _, err := dialTLS(passAddr, "unknown.example.test", backendRoots); err == nil {
		t.Error("a name no TLSRoute has was forwarded")
	}
	if out := s.admin.OK("app", "get", "k8s.east.gateway.vault.edge.pass", "-o", "json"); !strings.Contains(out, "PASSTHROUGH") || !strings.Contains(out, "vault.example.test") {
		t.Errorf("listener app:\n%s", out)
	}

	// TCPRoute and UDPRoute: the listener forwards to the route's backend.
	waitParent(t, s.kube, tcp, "Programmed", metav1.ConditionTrue, "")
	natstest.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(nodeHost, fmt.Sprint(tcpPort)), 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "GET / HTTP/1.0\r\nHost: any\r\n\r\n")
		b, _ := io.ReadAll(c)
		if !strings.HasSuffix(string(b), "\r\n\r\nplain") {
			return fmt.Errorf("TCPRoute answered %q", b)
		}
		return nil
	})
	waitParent(t, s.kube, udp, "Programmed", metav1.ConditionTrue, "")
	natstest.CheckFor(t, 30*time.Second, 200*time.Millisecond, func() error {
		c, err := net.Dial("udp", net.JoinHostPort(nodeHost, fmt.Sprint(udpPort)))
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(time.Second))
		if _, err := c.Write([]byte("ping")); err != nil {
			return err
		}
		buf := make([]byte, 64)
		n, err := c.Read(buf)
		if err != nil || string(buf[:n]) != "echo ping" {
			return fmt.Errorf("UDPRoute answered %q %v", buf[:n], err)
		}
		return nil
	})
	// A second TCPRoute on the listener is refused, naming the first.
	tcp2 := tcp.DeepCopy()
	tcp2.ObjectMeta = metav1.ObjectMeta{Namespace: ns, Name: "raw2"}
	s.create(t, tcp2)
	if c := waitParent(t, s.kube, tcp2, "Accepted", metav1.ConditionFalse, "UnsupportedValue"); !strings.Contains(c.Message, "vault/raw (the oldest route)") {
		t.Errorf("second TCPRoute: %+v", c)
	}

	// Terminate with a Secret in another namespace: refused without a grant.
	waitListener(t, s.kube, ns, "edge", "term", "ResolvedRefs", metav1.ConditionFalse, "RefNotPermitted")
	gwRoots := x509.NewCertPool()
	gwRoots.AddCert(gwSet.Root.Cert)
	termAddr := net.JoinHostPort(nodeHost, fmt.Sprint(termPort))
	grant := &gwv1beta1.ReferenceGrant{ObjectMeta: metav1.ObjectMeta{Namespace: "certs", Name: "gateways"}, Spec: gwv1beta1.ReferenceGrantSpec{
		From: []gwv1beta1.ReferenceGrantFrom{{Group: gwv1.GroupName, Kind: "Gateway", Namespace: ns}},
		To:   []gwv1beta1.ReferenceGrantTo{{Group: "", Kind: "Secret"}}}}
	s.create(t, grant)
	waitListener(t, s.kube, ns, "edge", "term", "ResolvedRefs", metav1.ConditionTrue, "")
	terminated := func() error {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", termAddr, &tls.Config{ServerName: "term.example.test", RootCAs: gwRoots})
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "GET / HTTP/1.0\r\nHost: term.example.test\r\n\r\n")
		b, _ := io.ReadAll(c)
		if !strings.HasSuffix(string(b), "\r\n\r\nplain") {
			return fmt.Errorf("terminated TLS to the plain backend answered %q", b)
		}
		return nil
	}
	natstest.CheckFor(t, 30*time.Second, 100*time.Millisecond, terminated)
	// Deleting the grant revokes the certificate.
	if err := s.kube.Delete(ctx, grant); err != nil {
		t.Fatal(err)
	}
	waitListener(t, s.kube, ns, "edge", "term", "ResolvedRefs", metav1.ConditionFalse, "RefNotPermitted")
	natstest.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		if err := terminated(); err == nil {
			return fmt.Errorf("the certificate is still served after its ReferenceGrant was deleted")
		}
		return nil
	})

	// An HTTPRoute to a Service in another namespace: 500 until a grant
	// permits it, and again once the grant is gone.
	web := &http.Client{Timeout: 5 * time.Second}
	xns := &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shared"}, Spec: gwv1.HTTPRouteSpec{
		CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "edge", SectionName: ptr.To(gwv1.SectionName("http"))}}},
		Hostnames:       []gwv1.Hostname{"shared.example.test"},
		Rules: []gwv1.HTTPRouteRule{{BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: gwv1.BackendRef{BackendObjectReference: gwv1.BackendObjectReference{
			Namespace: ptr.To(gwv1.Namespace("backends")), Name: "shared", Port: ptr.To(gwv1.PortNumber(8080))}}}}}}}}
	s.create(t, xns)
	answers := func(code int, body string) func() error {
		return func() error {
			if c, b := get(t, web, s.plain, "shared.example.test", "/"); c != code || code == 200 && b != body {
				return fmt.Errorf("cross-namespace backend answered %d %q, want %d %q", c, b, code, body)
			}
			return nil
		}
	}
	waitParent(t, s.kube, xns, "ResolvedRefs", metav1.ConditionFalse, "RefNotPermitted")
	natstest.CheckFor(t, 30*time.Second, 100*time.Millisecond, answers(500, ""))
	svcGrant := &gwv1beta1.ReferenceGrant{ObjectMeta: metav1.ObjectMeta{Namespace: "backends", Name: "routes"}, Spec: gwv1beta1.ReferenceGrantSpec{
		From: []gwv1beta1.ReferenceGrantFrom{{Group: gwv1.GroupName, Kind: "HTTPRoute", Namespace: ns}},
		To:   []gwv1beta1.ReferenceGrantTo{{Group: "", Kind: "Service", Name: ptr.To(gwv1.ObjectName("shared"))}}}}
	s.create(t, svcGrant)
	waitParent(t, s.kube, xns, "ResolvedRefs", metav1.ConditionTrue, "")
	natstest.CheckFor(t, 30*time.Second, 100*time.Millisecond, answers(200, "shared"))
	if err := s.kube.Delete(ctx, svcGrant); err != nil {
		t.Fatal(err)
	}
	waitParent(t, s.kube, xns, "ResolvedRefs", metav1.ConditionFalse, "RefNotPermitted")
	natstest.CheckFor(t, 30*time.Second, 100*time.Millisecond, answers(500, ""))

	// A TLSRoute to another namespace's Service without a grant: not
	// routed, reported.
	cross := tlsRoute("cross", "pass", "cross.example.test", "shared", 8080)
	cross.Spec.Rules[0].BackendRefs[0].Namespace = ptr.To(gwv1.Namespace("backends"))
	s.create(t, cross)
	if c := waitParent(t, s.kube, cross, "ResolvedRefs", metav1.ConditionFalse, "RefNotPermitted"); !strings.Contains(c.Message, "ReferenceGrant") {
		t.Errorf("ResolvedRefs message %q", c.Message)
	}
	if c := parentCondition(t, s.kube, cross, "Programmed"); c == nil || c.Status != metav1.ConditionFalse {
		t.Errorf("Programmed of a route refused its backend: %+v", c)
	}

	// A real gRPC call through the node's TLS listener (HTTP/2) to an h2c
	// backend, for the method the GRPCRoute matches only.
	rpcSrv := &http.Server{Handler: http.NewServeMux(), Protocols: new(http.Protocols)}
	rpcSrv.Protocols.SetHTTP1(true)
	rpcSrv.Protocols.SetUnencryptedHTTP2(true)
	path, h := configv1connect.NewConfigServiceHandler(rpcBackend{})
	rpcSrv.Handler.(*http.ServeMux).Handle(path, h)
	rl, err := net.Listen("tcp", net.JoinHostPort(kubetest.BackendIP, "0"))
	if err != nil {
		t.Fatal(err)
	}
	go rpcSrv.Serve(rl)
	t.Cleanup(func() { rpcSrv.Close() })
	s.register(t, ns, "rpc", rl.Addr())
	rpc := &gwv1.GRPCRoute{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rpc"}, Spec: gwv1.GRPCRouteSpec{
		CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "edge", SectionName: ptr.To(gwv1.SectionName("https"))}}},
		Hostnames:       []gwv1.Hostname{"rpc.example.test"},
		Rules: []gwv1.GRPCRouteRule{{
			Matches: []gwv1.GRPCRouteMatch{{Method: &gwv1.GRPCMethodMatch{Service: ptr.To(configv1connect.ConfigServiceName), Method: ptr.To("GetApp")}}},
			BackendRefs: []gwv1.GRPCBackendRef{{BackendRef: gwv1.BackendRef{BackendObjectReference: gwv1.BackendObjectReference{
				Name: "rpc", Port: ptr.To(gwv1.PortNumber(8080))}}}}}}}}
	s.create(t, rpc)
	waitParent(t, s.kube, rpc, "Programmed", metav1.ConditionTrue, "")
	secure := strings.TrimPrefix(s.secure, "https://")
	h2 := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		ForceAttemptHTTP2: true,
		TLSClientConfig:   &tls.Config{ServerName: "rpc.example.test", RootCAs: gwRoots},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, secure)
		}}}
	cfg := configv1connect.NewConfigServiceClient(h2, "https://rpc.example.test", connect.WithGRPC())
	natstest.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		res, err := cfg.GetApp(ctx, &configv1.GetAppRequest{AppId: "cart"})
		if err != nil || res.App.GetName() != "from the gRPC backend: cart" {
			return fmt.Errorf("gRPC GetApp through the node: %v %v", res, err)
		}
		return nil
	})
	if _, err := cfg.ListApps(ctx, &configv1.ListAppsRequest{}); err == nil {
		t.Error("a gRPC method the GRPCRoute does not match reached the backend")
	} else {
		t.Logf("unmatched method: %v", err)
	}
}

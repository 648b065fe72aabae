package controller_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"connectrpc.com/connect"
	"golang.org/x/net/websocket"

	"github.com/strata-edge/strata/e2e/e2etest"
	"github.com/strata-edge/strata/gen/strata/cert/v1/certv1connect"
	"github.com/strata-edge/strata/gen/strata/config/v1/configv1connect"
	"github.com/strata-edge/strata/k8s/apply"
	"github.com/strata-edge/strata/k8s/controller"
	"github.com/strata-edge/strata/k8s/internal/kubetest"
	"github.com/strata-edge/strata/pkg/apiauth"
	"github.com/strata-edge/strata/pkg/certtest"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

func TestMain(m *testing.M) { e2etest.Main(m, "k8s") }

// stack is a kube-apiserver, a `strata dev` (control plane and one node)
// and the controller's service account.
type stack struct {
	kube          client.Client
	cfg           *rest.Config
	api, token    string
	plain, secure string
	admin         e2etest.CLI
}

func startStack(t *testing.T) *stack {
	cfg := kubetest.Start(t)
	data := filepath.Join(t.TempDir(), "dev")
	dev := e2etest.Start(t, e2etest.DevArgs(data, "--http-port", "80", "--https-port", "443")...)
	s := &stack{cfg: cfg, api: dev.Value(t, "api"), plain: dev.Value(t, "http"), secure: dev.Value(t, "https")}
	tok, err := os.ReadFile(filepath.Join(data, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	s.admin = e2etest.CLI{T: t, Env: []string{"STRATA_API=" + s.api, "STRATA_TOKEN=" + strings.TrimSpace(string(tok))}}
	// The controller's own identity: every event it causes names it.
	s.admin.OK("user", "create", "k8s-controller", "--service-account")
	s.admin.OK("grant", "create", "--user", "k8s-controller", "--role", "admin", "--all")
	s.token = s.admin.OK("token", "create", "--user", "k8s-controller", "--description", "envtest")
	s.kube, err = client.New(cfg, client.Options{Scheme: controller.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// run starts a controller until the returned stop is called (or the test ends).
func (s *stack) run(t *testing.T) (stop func()) {
	auth := connect.WithInterceptors(apiauth.BearerToken(s.token))
	a := &apply.Applier{Config: configv1connect.NewConfigServiceClient(http.DefaultClient, s.api, auth),
		Cert: certv1connect.NewCertServiceClient(http.DefaultClient, s.api, auth)}
	c, err := controller.New(s.cfg, a, controller.Options{Cluster: "east", Addresses: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Start(ctx) }()
	var once bool
	stop = func() {
		if once {
			return
		}
		once = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("controller: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("controller still running 30s after its context ended")
		}
	}
	t.Cleanup(stop)
	return stop
}

func (s *stack) create(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := s.kube.Create(context.Background(), o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
}

// backend is a test server answering its name, registered in Kubernetes as
// Service ns/name (port 8080, "http") with an EndpointSlice of
// kubetest.BackendIP, in the test's own network namespace.
func (s *stack) backend(t *testing.T, ns, name string) *httptest.Server {
	echo := websocket.Handler(func(c *websocket.Conn) { _, _ = io.Copy(c, c) })
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" {
			echo.ServeHTTP(w, r)
			return
		}
		io.WriteString(w, name)
	}))
	l, err := net.Listen("tcp", net.JoinHostPort(kubetest.BackendIP, "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	s.register(t, ns, name, srv.Listener.Addr())
	return srv
}

// register makes Service ns/name (port 8080, "http") whose EndpointSlice
// is the test server at addr.
func (s *stack) register(t *testing.T, ns, name string, addr net.Addr) {
	_, port, _ := net.SplitHostPort(addr.String())
	p, _ := strconv.Atoi(port)
	s.create(t,
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 8080}}}},
		&discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-1", Labels: map[string]string{discoveryv1.LabelServiceName: name}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{kubetest.BackendIP}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
			Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(int32(p))}}},
	)
}

func get(t *testing.T, c *http.Client, base, host, path string, hdr ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	req.Host = host
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func (s *stack) releases(t *testing.T, app string) []map[string]any {
	out := s.admin.OK("release", "list", "--app", app, "-o", "json")
	var res struct {
		Releases []map[string]any `json:"releases"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("release list: %v\n%s", err, out)
	}
	return res.Releases
}

func routeCondition(t *testing.T, k client.Client, ns, name, typ string) *metav1.Condition {
	var r gwv1.HTTPRoute
	if err := k.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &r); err != nil {
		t.Fatal(err)
	}
	for _, p := range r.Status.Parents {
		if c := meta.FindStatusCondition(p.Conditions, typ); c != nil && c.ObservedGeneration == r.Generation {
			return c
		}
	}
	return nil
}

func waitCondition(t *testing.T, k client.Client, ns, name, typ string, want metav1.ConditionStatus) *metav1.Condition {
	t.Helper()
	var c *metav1.Condition
	natstest.CheckFor(t, 60*time.Second, 100*time.Millisecond, func() error {
		c = routeCondition(t, k, ns, name, typ)
		if c == nil || c.Status != want {
			var r gwv1.HTTPRoute
			_ = k.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &r)
			return fmt.Errorf("HTTPRoute %s/%s (generation %d) condition %s = %+v, want %s; status %+v", ns, name, r.Generation, typ, c, want, r.Status.Parents)
		}
		return nil
	})
	return c
}

// TestHTTPRoute: an HTTPRoute with path and header matches and weights,
// translated by the controller against a real kube-apiserver, serves
// through a real Strata node to backends registered as endpoints; the
// releases name the controller; a route that cannot be translated is
// reported and not applied; a restarted controller releases nothing; TLS
// comes from a Secret; an Ingress serves too.
func TestHTTPRoute(t *testing.T) {
	if !kubetest.InNetns(t) {
		return
	}
	s := startStack(t)
	ctx := context.Background()
	const ns, host = "shop", "shop.example.test"
	s.create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	s.backend(t, ns, "v1")
	s.backend(t, ns, "v2")

	set := certtest.NewSet(t)
	leaf, chain := set.Leaf(t, certtest.Options{DNSNames: []string{host}})
	s.create(t,
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shop-tls"}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{corev1.TLSCertKey: []byte(chain), corev1.TLSPrivateKeyKey: []byte(leaf.KeyPEM(t))}},
		&gwv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "strata"}, Spec: gwv1.GatewayClassSpec{ControllerName: controller.DefaultControllerName}},
		&gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "edge"}, Spec: gwv1.GatewaySpec{GatewayClassName: "strata",
			Listeners: []gwv1.Listener{
				{Name: "http", Protocol: gwv1.HTTPProtocolType, Port: 80, Hostname: ptr.To(gwv1.Hostname("*.example.test"))},
				{Name: "https", Protocol: gwv1.HTTPSProtocolType, Port: 443, Hostname: ptr.To(gwv1.Hostname("*.example.test")),
					TLS: &gwv1.ListenerTLSConfig{CertificateRefs: []gwv1.SecretObjectReference{{Name: "shop-tls"}}}},
			}}},
	)
	canary := gwv1.HTTPRouteMatch{Path: &gwv1.HTTPPathMatch{Type: ptr.To(gwv1.PathMatchPathPrefix), Value: ptr.To("/api")},
		Headers: []gwv1.HTTPHeaderMatch{{Name: "X-Canary", Value: "yes"}}}
	ref := func(name string, w int32) gwv1.HTTPBackendRef {
		return gwv1.HTTPBackendRef{BackendRef: gwv1.BackendRef{BackendObjectReference: gwv1.BackendObjectReference{
			Name: gwv1.ObjectName(name), Port: ptr.To(gwv1.PortNumber(8080))}, Weight: ptr.To(w)}}
	}
	route := &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"}, Spec: gwv1.HTTPRouteSpec{
		CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "edge"}}},
		Hostnames:       []gwv1.Hostname{host},
		Rules: []gwv1.HTTPRouteRule{
			{BackendRefs: []gwv1.HTTPBackendRef{ref("v1", 3), ref("v2", 1)}},
			{Matches: []gwv1.HTTPRouteMatch{canary}, BackendRefs: []gwv1.HTTPBackendRef{ref("v2", 1)}},
		}}}
	s.create(t, route)
	stop := s.run(t)
	started := time.Now()

	prog := waitCondition(t, s.kube, ns, "web", "Programmed", metav1.ConditionTrue)
	for _, typ := range []string{"Accepted", "ResolvedRefs"} {
		if c := routeCondition(t, s.kube, ns, "web", typ); c == nil || c.Status != metav1.ConditionTrue {
			t.Errorf("condition %s = %+v", typ, c)
		}
	}
	t.Logf("Programmed %s after the controller started: %s", time.Since(started), prog.Message)
	web := &http.Client{Timeout: 5 * time.Second}
	natstest.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		if code, body := get(t, web, s.plain, host, "/api/x", "X-Canary", "yes"); code != 200 || body != "v2" {
			return fmt.Errorf("canary request: %d %q", code, body)
		}
		return nil
	})
	// Header and path-element matches: /api/x with the header always goes
	// to v2; /apix does not match the /api prefix and takes the 3:1 split.
	counts := map[string]int{}
	for i := 0; i < 400; i++ {
		code, body := get(t, web, s.plain, host, "/apix", "X-Canary", "yes")
		if code != 200 {
			t.Fatalf("split request %d: %d %q", i, code, body)
		}
		counts[body]++
		if code, body := get(t, web, s.plain, host, "/api/x", "X-Canary", "yes"); i%20 == 0 && (code != 200 || body != "v2") {
			t.Fatalf("canary request: %d %q", code, body)
		}
	}
	if share := float64(counts["v1"]) / 400; share < 0.6 || share > 0.9 || counts["v1"]+counts["v2"] != 400 {
		t.Errorf("weights 3:1: got %v", counts)
	}

	// A WebSocket opened before a route update stays open across it.
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.plain, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	wsCfg, _ := websocket.NewConfig("ws://"+host+"/ws", "http://"+host)
	ws, err := websocket.NewClient(wsCfg, conn)
	if err != nil {
		t.Fatalf("websocket through the node: %v", err)
	}
	echo := func(msg string) {
		t.Helper()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		if err := websocket.Message.Send(ws, msg); err != nil {
			t.Fatalf("websocket send: %v", err)
		}
		var got string
		if err := websocket.Message.Receive(ws, &got); err != nil || got != msg {
			t.Fatalf("websocket echo: %q %v, want %q", got, err, msg)
		}
	}
	echo("before")
	app := "k8s.east.httproute.shop.web"
	beforeUpdate := len(s.releases(t, app))
	var cur gwv1.HTTPRoute
	mustGet(t, s.kube, ns, "web", &cur)
	cur.Spec.Rules[0].BackendRefs = []gwv1.HTTPBackendRef{ref("v1", 3), ref("v2", 2)}
	if err := s.kube.Update(ctx, &cur); err != nil {
		t.Fatal(err)
	}
	natstest.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		if n := len(s.releases(t, app)); n != beforeUpdate+1 {
			return fmt.Errorf("%d releases, want %d after the update", n, beforeUpdate+1)
		}
		return nil
	})
	s.waitInSync(t)
	echo("after the route update")

	rels := s.releases(t, app)
	if len(rels) == 0 {
		t.Fatal("no release")
	}
	for _, r := range rels {
		if r["actor"] != "k8s-controller" {
			t.Errorf("release %v: actor %v, want k8s-controller", r["number"], r["actor"])
		}
	}

	// TLS from the Secret, served by the node for the route's host.
	roots := x509.NewCertPool()
	roots.AddCert(set.Root.Cert)
	tlsClient := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		ServerName: host, RootCAs: roots}}}
	natstest.CheckFor(t, 30*time.Second, 200*time.Millisecond, func() error {
		code, body := get(t, tlsClient, s.secure, host, "/api/x", "X-Canary", "yes")
		if code != 200 || body != "v2" {
			return fmt.Errorf("https: %d %q", code, body)
		}
		return nil
	})

	// An untranslatable change is reported on the route and not applied.
	before := len(s.releases(t, app))
	mustGet(t, s.kube, ns, "web", &cur)
	cur.Spec.Rules[0].Filters = []gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterRequestMirror, RequestMirror: &gwv1.HTTPRequestMirrorFilter{
		BackendRef: gwv1.BackendObjectReference{Name: "v2", Port: ptr.To(gwv1.PortNumber(8080))}}}}
	cur.Spec.Rules[1].BackendRefs = []gwv1.HTTPBackendRef{ref("v1", 1)} // would change the canary target
	if err := s.kube.Update(ctx, &cur); err != nil {
		t.Fatal(err)
	}
	acc := waitCondition(t, s.kube, ns, "web", "Accepted", metav1.ConditionFalse)
	if acc.Reason != "UnsupportedValue" || !strings.Contains(acc.Message, "spec.rules[0].filters[0].type") {
		t.Errorf("Accepted = %+v: want UnsupportedValue naming the filter", acc)
	}
	if code, body := get(t, web, s.plain, host, "/api/x", "X-Canary", "yes"); code != 200 || body != "v2" {
		t.Errorf("after the refused change the canary answers %d %q: the old release must keep serving whole", code, body)
	}
	if n := len(s.releases(t, app)); n != before {
		t.Errorf("releases %d -> %d after a refused change", before, n)
	}
	// Back to the released content: accepted again, nothing to release.
	mustGet(t, s.kube, ns, "web", &cur)
	cur.Spec.Rules[0].Filters = nil
	cur.Spec.Rules[0].BackendRefs = []gwv1.HTTPBackendRef{ref("v1", 3), ref("v2", 2)}
	cur.Spec.Rules[1].BackendRefs = []gwv1.HTTPBackendRef{ref("v2", 1)}
	if err := s.kube.Update(ctx, &cur); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, s.kube, ns, "web", "Programmed", metav1.ConditionTrue)

	// Restart: the new controller converges on what runs, releasing nothing.
	stop()
	stop = s.run(t)
	other := route.DeepCopy()
	other.ObjectMeta = metav1.ObjectMeta{Namespace: ns, Name: "other"}
	other.Spec.Hostnames = []gwv1.Hostname{"other.example.test"}
	s.create(t, other)
	waitCondition(t, s.kube, ns, "other", "Programmed", metav1.ConditionTrue)
	if n := len(s.releases(t, app)); n != before {
		t.Errorf("releases of %s: %d before the restart, %d after", app, before, n)
	}

	// Endpoint churn: each EndpointSlice change becomes the Service port's
	// server set (one event, actor k8s-controller), never a release, and
	// the node follows within a second.
	before = len(s.releases(t, app))
	for i, step := range []struct {
		ready, remove bool
	}{{ready: false}, {ready: true}, {ready: false}, {ready: true}, {remove: true}} {
		var slice discoveryv1.EndpointSlice
		mustGet(t, s.kube, ns, "v2-1", &slice)
		want := "v2"
		switch {
		case step.remove:
			slice.Endpoints = nil // the pod is gone
			want = ""
		default:
			slice.Endpoints[0].Conditions.Ready = ptr.To(step.ready)
			if !step.ready {
				want = ""
			}
		}
		if err := s.kube.Update(ctx, &slice); err != nil {
			t.Fatal(err)
		}
		changed := time.Now()
		natstest.CheckFor(t, time.Second, 10*time.Millisecond, func() error {
			code, body := get(t, web, s.plain, host, "/api/x", "X-Canary", "yes")
			if want == "" && (code != 502 || !strings.Contains(body, "no ready endpoint")) {
				return fmt.Errorf("change %d: canary without ready endpoints answers %d %q, want 502 naming its set", i, code, body)
			}
			if want != "" && (code != 200 || body != want) {
				return fmt.Errorf("change %d: canary answers %d %q, want 200 %q", i, code, body, want)
			}
			return nil
		})
		t.Logf("change %d (ready=%v removed=%v): traffic followed %s after the EndpointSlice update", i, step.ready, step.remove, time.Since(changed))
	}
	// v2 has no endpoint: the split of the first rule gives it no share.
	for i := 0; i < 50; i++ {
		if code, body := get(t, web, s.plain, host, "/"); code != 200 || body != "v1" {
			t.Fatalf("request %d after v2 left its endpoints: %d %q", i, code, body)
		}
	}
	if n := len(s.releases(t, app)); n != before {
		t.Errorf("releases of %s: %d before endpoint churn, %d after: endpoints must not make releases", app, before, n)
	}
	var v2set struct {
		Endpoints struct {
			ID        string `json:"id"`
			UpdatedBy string `json:"updated_by"`
			Endpoints []any  `json:"endpoints"`
		} `json:"endpoints"`
	}
	out := s.admin.OK("upstream", "endpoints", "show", "k8s.east.shop.v2.8080", "-o", "json")
	if err := json.Unmarshal([]byte(out), &v2set); err != nil || v2set.Endpoints.UpdatedBy != "k8s-controller" || len(v2set.Endpoints.Endpoints) != 0 {
		t.Errorf("set of v2 after churn (%v):\n%s", err, out)
	}

	// A restarted controller writes no event for sets that are current.
	version := func() string {
		var v struct {
			Endpoints struct {
				Version string `json:"version"`
			} `json:"endpoints"`
		}
		out := s.admin.OK("upstream", "endpoints", "show", "k8s.east.shop.v2.8080", "-o", "json")
		if err := json.Unmarshal([]byte(out), &v); err != nil || v.Endpoints.Version == "" {
			t.Fatalf("endpoints show: %v\n%s", err, out)
		}
		return v.Endpoints.Version
	}
	v0 := version()
	stop()
	s.run(t)
	time.Sleep(3 * time.Second) // the new reconcilers go over every Service once their caches sync
	if v := version(); v != v0 {
		t.Errorf("restart rewrote a current set: version %s -> %s", v0, v)
	}

	// Deleting the route deletes its app (released).
	if err := s.kube.Delete(ctx, other); err != nil {
		t.Fatal(err)
	}
	natstest.CheckFor(t, 30*time.Second, 200*time.Millisecond, func() error {
		if code, body := get(t, web, s.plain, "other.example.test", "/"); code != 404 {
			return fmt.Errorf("deleted route still answers %d %q", code, body)
		}
		return nil
	})

	// A GRPCRoute becomes an app whose rules match the gRPC method paths.
	svc := "shop.Cart"
	s.create(t, &gwv1.GRPCRoute{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rpc"}, Spec: gwv1.GRPCRouteSpec{
		CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "edge", SectionName: ptr.To(gwv1.SectionName("https"))}}},
		Hostnames:       []gwv1.Hostname{"rpc.example.test"},
		Rules: []gwv1.GRPCRouteRule{{Matches: []gwv1.GRPCRouteMatch{{Method: &gwv1.GRPCMethodMatch{Service: &svc}}},
			BackendRefs: []gwv1.GRPCBackendRef{{BackendRef: ref("v1", 1).BackendRef}}}}}})
	natstest.CheckFor(t, 60*time.Second, 100*time.Millisecond, func() error {
		var g gwv1.GRPCRoute
		mustGet(t, s.kube, ns, "rpc", &g)
		for _, p := range g.Status.Parents {
			if c := meta.FindStatusCondition(p.Conditions, "Programmed"); c != nil && c.Status == metav1.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("GRPCRoute status %+v", g.Status.Parents)
	})
	if out := s.admin.OK("app", "get", "k8s.east.grpcroute.shop.rpc", "-o", "json"); !strings.Contains(out, "/shop.Cart/") || !strings.Contains(out, "443") {
		t.Errorf("GRPCRoute app:\n%s", out)
	}

	// An Ingress of class strata.
	pt := networkingv1.PathTypePrefix
	s.create(t, &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "site"}, Spec: networkingv1.IngressSpec{
		IngressClassName: ptr.To("strata"),
		Rules: []networkingv1.IngressRule{{Host: "site.example.test", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
			Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &pt, Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
				Name: "v1", Port: networkingv1.ServiceBackendPort{Name: "http"}}}}}}}}}}})
	natstest.CheckFor(t, 30*time.Second, 200*time.Millisecond, func() error {
		if code, body := get(t, web, s.plain, "site.example.test", "/"); code != 200 || body != "v1" {
			return fmt.Errorf("ingress: %d %q", code, body)
		}
		return nil
	})
}

// waitInSync waits until every node runs the newest config.
func (s *stack) waitInSync(t *testing.T) {
	t.Helper()
	natstest.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		out := s.admin.OK("node", "list", "-o", "json")
		var res struct {
			Nodes []struct {
				InSync bool `json:"in_sync"`
			} `json:"nodes"`
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			return err
		}
		for _, n := range res.Nodes {
			if !n.InSync {
				return fmt.Errorf("a node is not in sync: %s", out)
			}
		}
		if len(res.Nodes) == 0 {
			return fmt.Errorf("no node: %s", out)
		}
		return nil
	})
}

func mustGet(t *testing.T, k client.Client, ns, name string, o client.Object) {
	t.Helper()
	if err := k.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, o); err != nil {
		t.Fatal(err)
	}
}

package stack_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	certv1 "github.com/strata-edge/strata/gen/strata/cert/v1"
	"github.com/strata-edge/strata/gen/strata/cert/v1/certv1connect"
	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/internal/edge"
	"github.com/strata-edge/strata/node/join"
	"github.com/strata-edge/strata/pkg/certtest"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// TestDevServesUploadedCertificate: in strata dev, a certificate uploaded
// through the API and attached to a released app is served by the dev
// node for the app's domain (SNI), the request reaching the app's upstream;
// the control KEK was generated into the data dir with mode 0600.
func TestDevServesUploadedCertificate(t *testing.T) {
	dev := runDev(t)
	api := dev.api
	token := dev.token
	if fi, err := os.Stat(dev.value(t, "data") + "/kek.key"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("kek.key: %v %v", fi, err)
	}
	httpsURL, port := dev.value(t, "https"), dev.port(t, "https")

	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "shop") }))
	t.Cleanup(upstream.Close)
	ctx := context.Background()
	c := clientsFor(api, token)
	app := must[*configv1.CreateAppResponse](t)(c.config.CreateApp(ctx, &configv1.CreateAppRequest{
		Name: "shop", Domains: []string{"shop.example.com"}, HttpsPorts: []uint32{uint32(port)}})).App
	must[*configv1.CreateUpstreamResponse](t)(c.config.CreateUpstream(ctx, &configv1.CreateUpstreamRequest{AppId: app.Id,
		Upstream: &configv1.Upstream{Name: "web", Servers: []*configv1.Server{{Address: upstream.Listener.Addr().String(), Weight: 1}}}}))
	must[*configv1.CreateRuleResponse](t)(c.config.CreateRule(ctx, &configv1.CreateRuleRequest{AppId: app.Id, Rule: &configv1.Rule{
		Name: "all", When: `PathPrefix("/")`, Actions: []*configv1.Action{{Action: &configv1.Action_Proxy{Proxy: &configv1.ProxyAction{
			Upstreams: []*configv1.WeightedUpstream{{Upstream: "web", Weight: 1}}}}}}}}))
	must[*configv1.CreateReleaseResponse](t)(c.config.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: app.Id}))

	set := certtest.NewSet(t)
	leaf, chain := set.Leaf(t, certtest.Options{DNSNames: []string{"shop.example.com"}})
	certs := c.certs
	must[*certv1.UploadCertificateResponse](t)(certs.UploadCertificate(ctx, &certv1.UploadCertificateRequest{
		ChainPem: chain, KeyPem: leaf.KeyPEM(t), AppIds: []string{app.Id}}))

	natstest.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		_, err := getSNI(httpsURL, "shop.example.com", set.Root.Cert, "shop")
		return err
	})

	// The API's /metrics shows the certificate's expiry, without a token.
	resp, err := http.Get(api + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `strata_cert_certificates{state="active"} 1`) || !strings.Contains(string(b), "strata_cert_expiry_seconds{certificate_id=") {
		t.Fatalf("/metrics of strata dev: status %d\n%s", resp.StatusCode, b)
	}
}

// TestRemoteNodeGetsKEKAtJoin: a node in its own data dir, with no
// STRATA_NODE_KEK, joins through the API, receives its partition's node
// KEK sealed to it, keeps it in node.kek (0600) and serves an uploaded
// certificate by SNI; restarted without the control plane's help (no join
// token), it serves it again from what it stored.
func TestRemoteNodeGetsKEKAtJoin(t *testing.T) {
	t.Setenv("STRATA_NODE_KEK", "")
	dev := runDev(t)
	api := dev.api
	token := dev.token
	ctx := context.Background()
	c := clientsFor(api, token)
	const port = 8443 // the HTTPS port the app names; the node binds a free one
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "remote") }))
	t.Cleanup(upstream.Close)
	app := must[*configv1.CreateAppResponse](t)(c.config.CreateApp(ctx, &configv1.CreateAppRequest{
		Name: "remote", Domains: []string{"remote.example.com"}, HttpsPorts: []uint32{port}})).App
	must[*configv1.CreateUpstreamResponse](t)(c.config.CreateUpstream(ctx, &configv1.CreateUpstreamRequest{AppId: app.Id,
		Upstream: &configv1.Upstream{Name: "web", Servers: []*configv1.Server{{Address: upstream.Listener.Addr().String(), Weight: 1}}}}))
	must[*configv1.CreateRuleResponse](t)(c.config.CreateRule(ctx, &configv1.CreateRuleRequest{AppId: app.Id, Rule: &configv1.Rule{
		Name: "all", When: `PathPrefix("/")`, Actions: []*configv1.Action{{Action: &configv1.Action_Proxy{Proxy: &configv1.ProxyAction{
			Upstreams: []*configv1.WeightedUpstream{{Upstream: "web", Weight: 1}}}}}}}}))
	must[*configv1.CreateReleaseResponse](t)(c.config.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: app.Id}))
	set := certtest.NewSet(t)
	leaf, chain := set.Leaf(t, certtest.Options{DNSNames: []string{"remote.example.com"}})
	certs := c.certs
	must[*certv1.UploadCertificateResponse](t)(certs.UploadCertificate(ctx, &certv1.UploadCertificateRequest{
		ChainPem: chain, KeyPem: leaf.KeyPEM(t), AppIds: []string{app.Id}}))

	jt := must[*configv1.CreateJoinTokenResponse](t)(c.nodes.CreateJoinToken(ctx, &configv1.CreateJoinTokenRequest{Cluster: "default", AutoApprove: true}))
	dir := t.TempDir()
	start := func(joinToken string) *edge.Edge {
		t.Helper()
		o := edge.Options{Options: join.Options{DataDir: dir, Name: "remote-1", Logger: slog.New(slog.DiscardHandler)},
			HTTPSAddr: "127.0.0.1:0", HTTPSPort: port}
		if joinToken != "" {
			o.JoinToken, o.Joiner = joinToken, clientsFor(api, "").nodes
		}
		e, err := edge.Start(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	stop := func(e *edge.Edge) {
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := e.Stop(sctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	}
	edge := start(jt.Token)
	fi, err := os.Stat(filepath.Join(dir, join.KEKFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("node.kek: %v %v", fi, err)
	}
	get := func(addr string) error {
		_, err := getSNI("https://"+addr, "remote.example.com", set.Root.Cert, "remote")
		return err
	}
	natstest.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error { return get(edge.HTTPSAddr()) })
	stop(edge)

	again := start("") // no join: identity, config and KEK from the data dir
	defer stop(again)
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error { return get(again.HTTPSAddr()) })
}

// getSNI requests / of host from base (https://HOST:PORT) with SNI host,
// trusting root, and fails unless the answer is 200 with body want; it
// returns the TLS state of that answer.
func getSNI(base, host string, root *x509.Certificate, want string) (*tls.ConnectionState, error) {
	roots := x509.NewCertPool()
	roots.AddCert(root)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: host}}}
	req, _ := http.NewRequest("GET", base+"/", nil)
	req.Host = host
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != want {
		return nil, fmt.Errorf("status %d body %q", resp.StatusCode, b)
	}
	return resp.TLS, nil
}

// waitActive polls until certificate id is active with a serial other than
// old ("": any) and returns it.
func waitActive(t *testing.T, certs certv1connect.CertServiceClient, id, old string) *certv1.Certificate {
	t.Helper()
	var c *certv1.Certificate
	natstest.CheckFor(t, 60*time.Second, 50*time.Millisecond, func() error {
		got, err := certs.GetCertificate(context.Background(), &certv1.GetCertificateRequest{Certificate: id})
		if err != nil {
			return err
		}
		if c = got.Certificate; c.State != certv1.CertificateState_CERTIFICATE_STATE_ACTIVE || (old != "" && c.Serial == old) {
			return fmt.Errorf("state %v serial %s (old %q), last error %q", c.State, c.Serial, old, c.LastError)
		}
		return nil
	})
	return c
}

package stack_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"

	certv1 "github.com/strata-edge/strata/gen/strata/cert/v1"
	"github.com/strata-edge/strata/gen/strata/cert/v1/certv1connect"
	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/internal/cli"
	"github.com/strata-edge/strata/internal/cli/clientx/clitest"
	"github.com/strata-edge/strata/pkg/apiauth"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
	"google.golang.org/protobuf/encoding/protojson"
)

// TestDevIssuesACMECertificate: strata dev requests a certificate from
// Pebble (a real ACME server, in-process); Pebble validates HTTP-01 against
// the dev edge node's plain listener, which answers from the challenge
// bucket; the issued certificate then reaches the node and is served by SNI.
func TestDevIssuesACMECertificate(t *testing.T) {
	banner := runDev(t)
	api := bannerValue(t, banner, nil, "api")
	tokenBytes, err := os.ReadFile(bannerValue(t, banner, nil, "token-file"))
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(tokenBytes))
	portOf := func(key string) int {
		u, _ := url.Parse(bannerValue(t, banner, nil, key))
		_, p, _ := net.SplitHostPort(u.Host)
		n, _ := strconv.Atoi(p)
		return n
	}
	httpsURL := bannerValue(t, banner, nil, "https")

	// Pebble, validating against the dev node's HTTP port; lego trusts its
	// API certificate through LEGO_CA_CERTIFICATES.
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	logger := log.New(io.Discard, "", 0)
	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {Description: "test"}})
	front := wfe.New(logger, store, va.New(logger, portOf("http"), 0, false, answerLocalhost(t), store), authority,
		[]string{"pebble.letsencrypt.org"}, false, false, 0, 0)
	pebble := httptest.NewTLSServer(front.Handler())
	t.Cleanup(pebble.Close)
	caFile := filepath.Join(t.TempDir(), "pebble-api.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pebble.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("LEGO_CA_CERTIFICATES", caFile)

	ctx := context.Background()
	c := clientsFor(api, token)
	app := must[*configv1.CreateAppResponse](t)(c.config.CreateApp(ctx, &configv1.CreateAppRequest{
		Name: "acme", Domains: []string{"acme.example.com"}, HttpsPorts: []uint32{uint32(portOf("https"))}})).App
	must[*configv1.CreateRuleResponse](t)(c.config.CreateRule(ctx, &configv1.CreateRuleRequest{AppId: app.Id, Rule: &configv1.Rule{
		Name: "hello", When: `PathPrefix("/")`, Actions: []*configv1.Action{{Action: &configv1.Action_Respond{Respond: &configv1.RespondAction{Status: 200, Body: "issued"}}}}}}))
	must[*configv1.CreateReleaseResponse](t)(c.config.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: app.Id}))

	certs := certv1connect.NewCertServiceClient(&http.Client{Timeout: 15 * time.Second}, api, connect.WithInterceptors(apiauth.BearerToken(token)))
	req := must[*certv1.RequestCertificateResponse](t)(certs.RequestCertificate(ctx, &certv1.RequestCertificateRequest{
		AppId: app.Id, Domains: []string{"acme.example.com"}, AcmeDirectory: pebble.URL + wfe.DirectoryPath}))
	natstest.CheckFor(t, 60*time.Second, 50*time.Millisecond, func() error {
		got, err := certs.GetCertificate(ctx, &certv1.GetCertificateRequest{Certificate: req.Certificate.Id})
		if err != nil {
			return err
		}
		if got.Certificate.State != certv1.CertificateState_CERTIFICATE_STATE_ACTIVE {
			return fmt.Errorf("state %v, last error %q", got.Certificate.State, got.Certificate.LastError)
		}
		return nil
	})

	roots := x509.NewCertPool()
	roots.AddCert(authority.GetRootCert(0).Cert)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "acme.example.com"}}}
	natstest.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		r, _ := http.NewRequest("GET", httpsURL+"/", nil)
		r.Host = "acme.example.com"
		resp, err := client.Do(r)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(b) != "issued" {
			return fmt.Errorf("status %d body %q", resp.StatusCode, b)
		}
		return nil
	})

	// strata cert revoke: revoked at Pebble, then a new certificate is
	// issued in its place (-o json pinned in testdata/json).
	var out, errs bytes.Buffer
	env := map[string]string{"STRATA_API": api, "STRATA_TOKEN": token}
	if code := cli.Execute(ctx, cli.BuildInfo{Version: "test"}, []string{"cert", "revoke", req.Certificate.Id, "--reason", "4", "-o", "json"},
		&out, &errs, func(k string) string { return env[k] }); code != 0 {
		t.Fatalf("strata cert revoke: exit %d\n%s", code, errs.String())
	}
	clitest.Golden(t, "cert-revoke", out.Bytes())
	revoked := &certv1.Certificate{}
	if err := protojson.Unmarshal(out.Bytes(), revoked); err != nil {
		t.Fatal(err)
	}
	natstest.CheckFor(t, 60*time.Second, 50*time.Millisecond, func() error {
		got, err := certs.GetCertificate(ctx, &certv1.GetCertificateRequest{Certificate: req.Certificate.Id})
		if err != nil {
			return err
		}
		if c := got.Certificate; c.State != certv1.CertificateState_CERTIFICATE_STATE_ACTIVE || c.Serial == revoked.GetSerial() {
			return fmt.Errorf("state %v serial %s (revoked %s), last error %q", c.State, c.Serial, revoked.GetSerial(), c.LastError)
		}
		return nil
	})
}

// answerLocalhost runs a DNS server (TCP, as Pebble asks) answering A
// 127.0.0.1 for every name, and returns its address.
func answerLocalhost(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{Listener: ln, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		if q := r.Question[0]; q.Qtype == dns.TypeA {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1}, A: net.IPv4(127, 0, 0, 1)})
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return ln.Addr().String()
}

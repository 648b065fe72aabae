package stack_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"

	certv1 "github.com/strata-edge/strata/gen/strata/cert/v1"
	"github.com/strata-edge/strata/gen/strata/cert/v1/certv1connect"
	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	dnsv1 "github.com/strata-edge/strata/gen/strata/dns/v1"
	"github.com/strata-edge/strata/gen/strata/dns/v1/dnsv1connect"
	"github.com/strata-edge/strata/internal/stack"
	"github.com/strata-edge/strata/pkg/apiauth"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// TestDevIssuesWildcardThroughDNS01: strata dev serves the zone
// example.com; a certificate for *.example.com and example.com is requested
// without naming a challenge, so DNS-01 is used: the cert service puts both
// values in the hub bucket, the dev node's DNS answers them, Pebble (a real
// ACME server, resolving through the node's DNS server; HTTP-01 cannot
// succeed, its port is closed) validates and issues, and the node serves
// the certificate by SNI for foo.example.com. A DNS-01 request for a domain
// outside every served zone is refused naming the field.
func TestDevIssuesWildcardThroughDNS01(t *testing.T) {
	t.Setenv("LEGO_DISABLE_CNAME_SUPPORT", "true") // no lookups on the machine's resolver
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	t.Setenv("PEBBLE_AUTHZREUSE", "0")
	// No STRATA_ACME_DNS01_WAIT: dev checks its node answers each value
	// before the CA asks (the order is placed right after start).

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	banner := &syncBuffer{}
	go func() {
		done <- stack.RunDev(ctx, stack.DevOptions{
			DataDir: t.TempDir(), APIAddr: "127.0.0.1:0", NATSAddr: "127.0.0.1:0", LeafAddr: "127.0.0.1:0",
			HTTPAddr: "127.0.0.1:0", HTTPSAddr: "127.0.0.1:0", DNSAddr: "127.0.0.1:0",
			Logger: slog.New(slog.DiscardHandler), Banner: banner,
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("RunDev did not return after cancel")
		}
	})
	dnsAddr := bannerValue(t, banner, done, "dns")
	api := bannerValue(t, banner, done, "api")
	httpsURL := bannerValue(t, banner, done, "https")
	tokenBytes, err := os.ReadFile(bannerValue(t, banner, done, "token-file"))
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(tokenBytes))
	u, _ := url.Parse(httpsURL)
	_, p, _ := net.SplitHostPort(u.Host)
	httpsPort, _ := strconv.Atoi(p)

	// Pebble resolves through the node's DNS (over TCP, as its VA does).
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := closed.Addr().(*net.TCPAddr).Port
	closed.Close()
	logger := log.New(io.Discard, "", 0)
	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {Description: "test"}})
	front := wfe.New(logger, store, va.New(logger, closedPort, closedPort, false, dnsAddr, store), authority,
		[]string{"pebble.letsencrypt.org"}, false, false, 0, 0)
	pebble := httptest.NewTLSServer(front.Handler())
	t.Cleanup(pebble.Close)
	caFile := filepath.Join(t.TempDir(), "pebble-api.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pebble.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("LEGO_CA_CERTIFICATES", caFile)
	directory := pebble.URL + wfe.DirectoryPath

	bg := context.Background()
	hc := &http.Client{Timeout: 15 * time.Second}
	auth := connect.WithInterceptors(apiauth.BearerToken(token))
	zones := dnsv1connect.NewDnsServiceClient(hc, api, auth)
	certs := certv1connect.NewCertServiceClient(hc, api, auth)
	c := clientsFor(api, token)

	// Outside every served zone: refused before the zone exists.
	_, err = certs.RequestCertificate(bg, &certv1.RequestCertificateRequest{AppId: "any", Domains: []string{"*.example.com"},
		AcmeDirectory: directory})
	if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "not inside a DNS zone") {
		t.Fatalf("request outside any zone: %v", err)
	}

	must[*dnsv1.CreateZoneResponse](t)(zones.CreateZone(bg, &dnsv1.CreateZoneRequest{Name: "example.com", Nameservers: []string{"ns1.example.com."}}))
	must[*dnsv1.AddRecordResponse](t)(zones.AddRecord(bg, &dnsv1.AddRecordRequest{Zone: "example.com", Record: &dnsv1.Record{
		Name: "@", Type: dnsv1.RecordType_RECORD_TYPE_A, Data: "127.0.0.1"}}))
	must[*dnsv1.CreateReleaseResponse](t)(zones.CreateRelease(bg, &dnsv1.CreateReleaseRequest{Zone: "example.com"}))

	app := must[*configv1.CreateAppResponse](t)(c.config.CreateApp(bg, &configv1.CreateAppRequest{
		Name: "wild", Domains: []string{"foo.example.com"}, HttpsPorts: []uint32{uint32(httpsPort)}})).App
	must[*configv1.CreateRuleResponse](t)(c.config.CreateRule(bg, &configv1.CreateRuleRequest{AppId: app.Id, Rule: &configv1.Rule{
		Name: "hello", When: `PathPrefix("/")`, Actions: []*configv1.Action{{Action: &configv1.Action_Respond{Respond: &configv1.RespondAction{Status: 200, Body: "wildcard"}}}}}}))
	must[*configv1.CreateReleaseResponse](t)(c.config.CreateRelease(bg, &configv1.CreateReleaseRequest{AppId: app.Id}))

	// A domain of a zone that is not served still fails, naming it.
	_, err = certs.RequestCertificate(bg, &certv1.RequestCertificateRequest{AppId: app.Id, Domains: []string{"example.com", "www.example.net"},
		AcmeDirectory: directory, Challenge: certv1.ChallengeType_CHALLENGE_TYPE_DNS_01})
	if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "domains[1]") {
		t.Fatalf("request with a domain outside the zones: %v", err)
	}

	req := must[*certv1.RequestCertificateResponse](t)(certs.RequestCertificate(bg, &certv1.RequestCertificateRequest{
		AppId: app.Id, Domains: []string{"*.example.com", "example.com"}, AcmeDirectory: directory})).Certificate
	if req.Challenge != certv1.ChallengeType_CHALLENGE_TYPE_DNS_01 {
		t.Fatalf("challenge %v, want DNS-01", req.Challenge)
	}
	natstest.CheckFor(t, 60*time.Second, 50*time.Millisecond, func() error {
		got, err := certs.GetCertificate(bg, &certv1.GetCertificateRequest{Certificate: req.Id})
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
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "foo.example.com"}}}
	natstest.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		r, _ := http.NewRequest("GET", httpsURL+"/", nil)
		r.Host = "foo.example.com"
		resp, err := client.Do(r)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(b) != "wildcard" {
			return fmt.Errorf("status %d body %q", resp.StatusCode, b)
		}
		if sans := resp.TLS.PeerCertificates[0].DNSNames; !slices.Contains(sans, "*.example.com") || !slices.Contains(sans, "example.com") {
			return fmt.Errorf("served certificate for %v", sans)
		}
		return nil
	})
}

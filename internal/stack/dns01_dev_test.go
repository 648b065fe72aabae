package stack_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	certv1 "github.com/strata-edge/strata/gen/strata/cert/v1"
	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	dnsv1 "github.com/strata-edge/strata/gen/strata/dns/v1"
	"github.com/strata-edge/strata/pkg/acmetest"
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

	dev := runDev(t, withDNS)
	dnsAddr := dev.value(t, "dns")
	api := dev.api
	httpsURL := dev.value(t, "https")
	token := dev.token
	httpsPort := dev.port(t, "https")

	// Pebble resolves through the node's DNS (over TCP, as its VA does).
	closed := acmetest.ClosedPort(t)
	pebble := acmetest.Start(t, acmetest.Options{HTTPPort: closed, TLSPort: closed, DNS: dnsAddr})
	pebble.TrustForLego(t)
	directory := pebble.Directory

	bg := context.Background()
	c := clientsFor(api, token)
	zones, certs := c.dns, c.certs

	// Outside every served zone: refused before the zone exists.
	_, err := certs.RequestCertificate(bg, &certv1.RequestCertificateRequest{AppId: "any", Domains: []string{"*.example.com"},
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
	waitActive(t, certs, req.Id, "")
	natstest.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		state, err := getSNI(httpsURL, "foo.example.com", pebble.Root(), "wildcard")
		if err != nil {
			return err
		}
		if sans := state.PeerCertificates[0].DNSNames; !slices.Contains(sans, "*.example.com") || !slices.Contains(sans, "example.com") {
			return fmt.Errorf("served certificate for %v", sans)
		}
		return nil
	})
}

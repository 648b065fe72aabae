package stack_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	certv1 "github.com/strata-edge/strata/gen/strata/cert/v1"
	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/internal/cli"
	"github.com/strata-edge/strata/internal/cli/clientx/clitest"
	"github.com/strata-edge/strata/pkg/acmetest"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
	"google.golang.org/protobuf/encoding/protojson"
)

// TestDevIssuesACMECertificate: strata dev requests a certificate from
// Pebble (a real ACME server, in-process); Pebble validates HTTP-01 against
// the dev edge node's plain listener, which answers from the challenge
// bucket; the issued certificate then reaches the node and is served by SNI.
func TestDevIssuesACMECertificate(t *testing.T) {
	dev := runDev(t)
	api := dev.api
	token := dev.token
	httpsURL := dev.value(t, "https")

	// Pebble, validating against the dev node's HTTP port; lego trusts its
	// API certificate through LEGO_CA_CERTIFICATES.
	pebble := acmetest.Start(t, acmetest.Options{HTTPPort: dev.port(t, "http")})
	pebble.TrustForLego(t)

	ctx := context.Background()
	c := clientsFor(api, token)
	app := must[*configv1.CreateAppResponse](t)(c.config.CreateApp(ctx, &configv1.CreateAppRequest{
		Name: "acme", Domains: []string{"acme.example.com"}, HttpsPorts: []uint32{uint32(dev.port(t, "https"))}})).App
	must[*configv1.CreateRuleResponse](t)(c.config.CreateRule(ctx, &configv1.CreateRuleRequest{AppId: app.Id, Rule: &configv1.Rule{
		Name: "hello", When: `PathPrefix("/")`, Actions: []*configv1.Action{{Action: &configv1.Action_Respond{Respond: &configv1.RespondAction{Status: 200, Body: "issued"}}}}}}))
	must[*configv1.CreateReleaseResponse](t)(c.config.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: app.Id}))

	certs := c.certs
	req := must[*certv1.RequestCertificateResponse](t)(certs.RequestCertificate(ctx, &certv1.RequestCertificateRequest{
		AppId: app.Id, Domains: []string{"acme.example.com"}, AcmeDirectory: pebble.Directory}))
	waitActive(t, certs, req.Certificate.Id, "")
	natstest.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		_, err := getSNI(httpsURL, "acme.example.com", pebble.Root(), "issued")
		return err
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
	waitActive(t, certs, req.Certificate.Id, revoked.GetSerial())
}

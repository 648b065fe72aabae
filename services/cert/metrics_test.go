package cert

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	certv1 "github.com/strata-edge/strata/gen/strata/cert/v1"
	"github.com/strata-edge/strata/gen/strata/cert/v1/certv1connect"
	"github.com/strata-edge/strata/pkg/certtest"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// TestMetricsAfterFailedIssuance: an ACME directory that refuses
// connections makes issuance fail; the API shows the error, the attempt
// and the next attempt time, and /metrics (scraped over HTTP) counts the
// failure by reason, the certificates by state and each one's expiry.
func TestMetricsAfterFailedIssuance(t *testing.T) {
	e := newEnv(t)
	// A port nothing listens on: connections are refused at once.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "https://" + ln.Addr().String() + "/dir"
	ln.Close()
	svc, err := New(Options{Store: e.store, JetStream: e.js, KEK: e.kek, ACME: &ACMEOptions{
		Directory: dead, Interval: 50 * time.Millisecond, RetryBase: time.Hour, LeaseTTL: 3 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(e.ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Stop(context.Background()) })
	reg := prometheus.NewRegistry()
	reg.MustRegister(svc.Collector())
	mux := http.NewServeMux()
	mux.Handle(svc.Handler())
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	client := certv1connect.NewCertServiceClient(srv.Client(), srv.URL)

	set := certtest.NewSet(t)
	leaf, chain := set.Leaf(t, certtest.Options{DNSNames: []string{"up.example.com"}})
	up, err := client.UploadCertificate(e.ctx, &certv1.UploadCertificateRequest{Name: "up", ChainPem: chain, KeyPem: leaf.KeyPEM(t)})
	if err != nil {
		t.Fatal(err)
	}
	req, err := client.RequestCertificate(e.ctx, &certv1.RequestCertificateRequest{AppId: "app_a", Domains: []string{"shop.example.com"}, Name: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	var c *certv1.Certificate
	natstest.CheckFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		got, err := client.GetCertificate(e.ctx, &certv1.GetCertificateRequest{Certificate: "shop"})
		if err != nil {
			return err
		}
		c = got.Certificate
		if c.State != certv1.CertificateState_CERTIFICATE_STATE_FAILED {
			return fmt.Errorf("state %s", c.State)
		}
		return nil
	})
	if c.LastError == "" || c.FailedAttempts != 1 || c.NextAttemptAt == nil || c.NextAttemptAt.AsTime().Before(time.Now().Add(50*time.Minute)) {
		t.Fatalf("failure not shown: last_error %q attempts %d next %v", c.LastError, c.FailedAttempts, c.NextAttemptAt)
	}

	t.Logf("last_error: %s", c.LastError)
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(body)
	for _, want := range []string{
		`strata_cert_renewal_failures_total{reason="connection"} 1`,
		`strata_cert_certificates{state="failed"} 1`,
		`strata_cert_certificates{state="active"} 1`,
		`strata_cert_certificates{state="pending"} 0`,
		`strata_cert_expiry_seconds{certificate_id="` + up.Certificate.Id + `",name="up"}`,
		`strata_cert_last_issuance_timestamp_seconds 0`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, text)
		}
	}
	if strings.Contains(text, req.Certificate.Id+`",name="shop"`) {
		t.Errorf("a certificate never issued has an expiry:\n%s", text)
	}
}

func TestFailureReason(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("obtain: %w", &net.OpError{Op: "dial", Err: fmt.Errorf("refused")}), "connection"},
		{context.DeadlineExceeded, "timeout"},
		{fmt.Errorf("acme: error: 403 :: POST :: urn:ietf:params:acme:error:unauthorized :: bad"), "unauthorized"},
		{fmt.Errorf("something else"), "other"},
	} {
		if got := failureReason(tc.err); got != tc.want {
			t.Errorf("failureReason(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

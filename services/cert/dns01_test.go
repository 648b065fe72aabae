package cert

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/nats-io/nats.go/jetstream"

	certv1 "github.com/strata-edge/strata/gen/strata/cert/v1"
	"github.com/strata-edge/strata/pkg/acmetest"
	"github.com/strata-edge/strata/pkg/natsutil"
)

// staticZones serves a fixed list of zones.
type staticZones []string

func (z staticZones) ServedZones(context.Context) ([]string, error) { return z, nil }

// txtResponder stands in for the edge nodes' DNS (node/dns answers the
// same way from its watched copy): TXT for _acme-challenge names from the
// challenge bucket, over UDP and TCP. answer=false hides every value.
type txtResponder struct {
	addr   string
	answer atomic.Bool
	served atomic.Int32 // TXT replies with at least one value
}

func startTXTResponder(t *testing.T, js jetstream.JetStream) *txtResponder {
	t.Helper()
	r := &txtResponder{}
	r.answer.Store(true)
	h := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg).SetReply(req)
		m.Authoritative = true
		q := req.Question[0]
		if q.Qtype == dns.TypeTXT && r.answer.Load() {
			owner := strings.TrimSuffix(strings.ToLower(q.Name), ".")
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if kv, err := js.KeyValue(ctx, natsutil.ACMEDNS01Bucket); err == nil {
				if keys, err := kv.ListKeysFiltered(ctx, owner+".*"); err == nil {
					for k := range keys.Keys() {
						if e, err := kv.Get(ctx, k); err == nil {
							m.Answer = append(m.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 1}, Txt: []string{string(e.Value())}})
						}
					}
				}
			}
			if len(m.Answer) > 0 {
				r.served.Add(1)
			}
		}
		_ = w.WriteMsg(m)
	})
	pc, ln := listenUDPAndTCP(t)
	r.addr = pc.LocalAddr().String()
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		go func() { _ = srv.ActivateAndServe() }()
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return r
}

// listenUDPAndTCP binds UDP and TCP on one loopback port. Port 0 picks a
// free UDP port whose TCP twin another test's socket may hold: then both
// are bound again on a new port.
func listenUDPAndTCP(t *testing.T) (net.PacketConn, net.Listener) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln
		}
		pc.Close()
		if attempt == 16 || !errors.Is(err, syscall.EADDRINUSE) {
			t.Fatal(err)
		}
	}
}

// newDNS01Env runs Pebble validating through the TXT responder (HTTP-01
// cannot succeed: its port is closed) and a service that serves the zone
// example.com and checks the responder before asking Pebble to validate.
func newDNS01Env(t *testing.T, modify ...func(*ACMEOptions)) (*env, *txtResponder, *clock) {
	t.Helper()
	t.Setenv("LEGO_DISABLE_CNAME_SUPPORT", "true") // no lookups on the machine's resolver
	e := newEnv(t)
	r := startTXTResponder(t, e.js)
	closed := acmetest.ClosedPort(t)
	p := acmetest.Start(t, acmetest.Options{HTTPPort: closed, TLSPort: closed, DNS: r.addr, ValidityPeriod: 3600})

	e.svc.Stop(e.ctx)
	o := &ACMEOptions{
		Directory: p.Directory, HTTPClient: p.Client, Interval: 50 * time.Millisecond,
		RetryBase: time.Hour, LeaseTTL: 3 * time.Second,
		Zones: staticZones{"example.com."}, DNS01Nameservers: []string{r.addr},
	}
	for _, f := range modify {
		f(o)
	}
	clk := &clock{}
	clk.ns.Store(time.Now().UnixNano())
	svc, err := New(Options{Store: e.store, JetStream: e.js, KEK: e.kek, ACME: o, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(e.ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Stop(context.Background()) })
	e.svc = svc
	return e, r, clk
}

// dns01Keys lists the values pending in the challenge bucket.
func dns01Keys(t *testing.T, e *env) []string {
	t.Helper()
	kv, err := e.js.KeyValue(e.ctx, natsutil.ACMEDNS01Bucket)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := kv.Keys(e.ctx)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestDNS01WildcardAndApex: a wildcard and its apex are issued in one
// certificate through DNS-01 (chosen because of the wildcard), both values
// served at once on one name; the bucket is empty afterwards.
func TestDNS01WildcardAndApex(t *testing.T) {
	e, r, _ := newDNS01Env(t)
	req, _, err := e.svc.Request(e.ctx, &certv1.RequestCertificateRequest{AppId: "app_web", Domains: []string{"*.example.com", "example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if req.Challenge != certv1.ChallengeType_CHALLENGE_TYPE_DNS_01 {
		t.Fatalf("challenge = %v, want DNS-01 for a wildcard", req.Challenge)
	}
	issued := waitCert(t, e, req.Id, func(c *certv1.Certificate) error {
		if c.State != certv1.CertificateState_CERTIFICATE_STATE_ACTIVE {
			return fmt.Errorf("state %v, last error %q", c.State, c.LastError)
		}
		return nil
	})
	got := slices.Sorted(slices.Values(issued.Domains))
	if !slices.Equal(got, []string{"*.example.com", "example.com"}) {
		t.Fatalf("issued for %v", got)
	}
	if r.served.Load() < 2 {
		t.Fatalf("responder served %d TXT answers, want one per authorization", r.served.Load())
	}
	if keys := dns01Keys(t, e); len(keys) != 0 {
		t.Fatalf("values left in the bucket: %v", keys)
	}
}

// TestDNS01OnRequest: a plain name asked for DNS-01 is validated that way
// (HTTP-01 would fail here), and keeps DNS-01 for its renewal.
func TestDNS01OnRequest(t *testing.T) {
	e, r, clk := newDNS01Env(t)
	req, _, err := e.svc.Request(e.ctx, &certv1.RequestCertificateRequest{AppId: "app", Domains: []string{"www.example.com"},
		Challenge: certv1.ChallengeType_CHALLENGE_TYPE_DNS_01})
	if err != nil {
		t.Fatal(err)
	}
	issued := waitCert(t, e, req.Id, func(c *certv1.Certificate) error {
		if c.State != certv1.CertificateState_CERTIFICATE_STATE_ACTIVE {
			return fmt.Errorf("state %v, last error %q", c.State, c.LastError)
		}
		return nil
	})
	served := r.served.Load()
	if served < 1 {
		t.Fatal("no TXT answer served")
	}

	// Pebble reuses a valid authorization 1% of the time even with
	// PEBBLE_AUTHZREUSE=0 (it draws rand.Intn(100) > 0), and a renewal on a
	// reused authorization validates nothing. So renew up to three times: one
	// of them must validate, and through DNS-01.
	validated := false
	for attempt := 0; attempt < 3 && !validated; attempt++ {
		clk.Advance(50 * time.Minute) // past two thirds of Pebble's one-hour lifetime
		e.svc.issuer.Kick()
		issued = waitCert(t, e, req.Id, func(c *certv1.Certificate) error {
			if c.Serial == issued.Serial {
				return errors.New("not renewed yet")
			}
			return nil
		})
		validated = r.served.Load() > served
	}
	if !validated {
		t.Fatal("renewed three times without a DNS-01 answer")
	}
	if keys := dns01Keys(t, e); len(keys) != 0 {
		t.Fatalf("values left in the bucket: %v", keys)
	}
}

// TestDNS01ValueAbsent: when the nodes do not answer the value, the order
// fails, the failure shows on the certificate, and the value is removed.
func TestDNS01ValueAbsent(t *testing.T) {
	e, r, _ := newDNS01Env(t, func(o *ACMEOptions) {
		o.DNS01Nameservers, o.DNS01Wait = nil, time.Millisecond // do not wait for what never comes
	})
	r.answer.Store(false)
	req, _, err := e.svc.Request(e.ctx, &certv1.RequestCertificateRequest{AppId: "app", Domains: []string{"*.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	failed := waitCert(t, e, req.Id, func(c *certv1.Certificate) error {
		if c.FailedAttempts == 0 {
			return errors.New("no failure yet")
		}
		return nil
	})
	if failed.State != certv1.CertificateState_CERTIFICATE_STATE_FAILED || !strings.Contains(failed.LastError, "TXT") {
		t.Fatalf("failure not visible: state %v, last error %q", failed.State, failed.LastError)
	}
	if keys := dns01Keys(t, e); len(keys) != 0 {
		t.Fatalf("values left in the bucket after the failure: %v", keys)
	}
}

// TestDNS01RequestValidation: DNS-01 outside the served zones, and a
// wildcard with HTTP-01, are rejected naming the field; nothing is stored.
func TestDNS01RequestValidation(t *testing.T) {
	e, _, _ := newDNS01Env(t)
	tests := []struct {
		name string
		req  *certv1.RequestCertificateRequest
		want []string
	}{
		{"outside any zone", &certv1.RequestCertificateRequest{AppId: "a", Domains: []string{"www.example.com", "shop.example.net"},
			Challenge: certv1.ChallengeType_CHALLENGE_TYPE_DNS_01}, []string{"domains[1]", "shop.example.net", "not inside a DNS zone"}},
		{"wildcard outside any zone", &certv1.RequestCertificateRequest{AppId: "a", Domains: []string{"*.example.org"}},
			[]string{"domains[0]", "not inside a DNS zone"}},
		{"zone suffix is not a zone", &certv1.RequestCertificateRequest{AppId: "a", Domains: []string{"badexample.com"},
			Challenge: certv1.ChallengeType_CHALLENGE_TYPE_DNS_01}, []string{"domains[0]"}},
		{"wildcard with http-01", &certv1.RequestCertificateRequest{AppId: "a", Domains: []string{"example.com", "*.example.com"},
			Challenge: certv1.ChallengeType_CHALLENGE_TYPE_HTTP_01}, []string{"domains[1]", "DNS-01"}},
		{"unknown challenge", &certv1.RequestCertificateRequest{AppId: "a", Domains: []string{"example.com"}, Challenge: 9},
			[]string{"challenge"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := e.svc.Request(e.ctx, tt.req)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("err = %v, want %q", err, w)
				}
			}
		})
	}
	if list, err := e.svc.List(e.ctx, ""); err != nil || len(list) != 0 {
		t.Fatalf("stored after rejections: %v %v", list, err)
	}
}

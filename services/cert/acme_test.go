package cert

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	certv1 "github.com/strata-edge/strata/gen/strata/cert/v1"
	"github.com/strata-edge/strata/pkg/acmetest"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// startPebble runs Pebble validating HTTP-01 against httpPort, every name
// resolving to 127.0.0.1.
func startPebble(t *testing.T, httpPort int) *acmetest.Pebble {
	t.Helper()
	return startPebbleEAB(t, httpPort, "", "")
}

// startPebbleEAB is startPebble requiring external account binding with
// key id kid and HMAC key hmac (base64url) when kid is set.
func startPebbleEAB(t *testing.T, httpPort int, kid, hmac string) *acmetest.Pebble {
	t.Helper()
	return acmetest.Start(t, acmetest.Options{HTTPPort: httpPort, EABKeyID: kid, EABHMAC: hmac, ValidityPeriod: 3600})
}

// responder stands in for the edge nodes: it answers
// /.well-known/acme-challenge/<token> from the challenge bucket, the way
// node/acme does, and counts what it served.
type responder struct {
	port   int
	served atomic.Int32
}

func startResponder(t *testing.T, js jetstream.JetStream) *responder {
	t.Helper()
	r := &responder{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.port = ln.Addr().(*net.TCPAddr).Port
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		token, ok := strings.CutPrefix(req.URL.Path, "/.well-known/acme-challenge/")
		if !ok {
			http.NotFound(w, req)
			return
		}
		kv, err := js.KeyValue(req.Context(), natsutil.ACMEHTTP01Bucket)
		if err != nil {
			http.Error(w, err.Error(), 503)
			return
		}
		e, err := kv.Get(req.Context(), token)
		if err != nil {
			http.NotFound(w, req)
			return
		}
		r.served.Add(1)
		w.Write(e.Value())
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return r
}

// clock is a settable time source for the service.
type clock struct{ ns atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func newACMEEnv(t *testing.T) (*env, *acmetest.Pebble, *responder, *clock) {
	t.Helper()
	e := newEnv(t)
	r := startResponder(t, e.js)
	p := startPebble(t, r.port)
	clk := &clock{}
	clk.ns.Store(time.Now().UnixNano())
	e.svc.Stop(e.ctx)
	svc, err := New(Options{Store: e.store, JetStream: e.js, KEK: e.kek, Now: clk.Now, ACME: &ACMEOptions{
		Directory: p.Directory, HTTPClient: p.Client, Interval: 50 * time.Millisecond,
		RetryBase: time.Hour, LeaseTTL: 3 * time.Second,
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(e.ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Stop(context.Background()) })
	e.svc = svc
	return e, p, r, clk
}

func waitCert(t *testing.T, e *env, id string, ok func(*certv1.Certificate) error) *certv1.Certificate {
	t.Helper()
	var c *certv1.Certificate
	natstest.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		var err error
		if c, _, err = e.svc.Get(e.ctx, id); err != nil {
			return err
		}
		return ok(c)
	})
	return c
}

// TestACMEIssueRenewRevoke: a requested certificate is issued by Pebble
// after it validated HTTP-01 against the responder, renews at two thirds of
// its lifetime (or the CA's ARI window), and is re-issued after a
// revocation. The ACME account is registered once and reused.
func TestACMEIssueRenewRevoke(t *testing.T) {
	e, _, resp, clk := newACMEEnv(t)
	req, _, err := e.svc.Request(e.ctx, &certv1.RequestCertificateRequest{AppId: "app_web", Domains: []string{"www.example.com", "example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if req.State != certv1.CertificateState_CERTIFICATE_STATE_PENDING || !req.Managed {
		t.Fatalf("requested: %v", req)
	}
	issued := waitCert(t, e, req.Id, func(c *certv1.Certificate) error {
		if c.State != certv1.CertificateState_CERTIFICATE_STATE_ACTIVE {
			return fmt.Errorf("state %v, last error %q", c.State, c.LastError)
		}
		return nil
	})
	if resp.served.Load() < 2 {
		t.Fatalf("responder served %d challenges, want one per domain", resp.served.Load())
	}
	if got := strings.Join(issued.Domains, ","); got != "www.example.com,example.com" && got != "example.com,www.example.com" {
		t.Fatalf("issued for %s", got)
	}
	// Nodes get it with a key they can open.
	synced, err := e.svc.Synced("p1", []string{"app_web"})
	if err != nil || len(synced) != 1 {
		t.Fatalf("synced: %v %v", synced, err)
	}
	p1, _ := NodeKeyring(e.kek, "p1")
	if _, err := p1.Open(FromProto(synced[0].Key), req.Id, synced[0].Key.KeyVersion); err != nil {
		t.Fatal(err)
	}

	// Renewal: nothing before the renewal time, a new leaf after it.
	clk.Advance(30 * time.Minute) // half of Pebble's one-hour lifetime
	e.svc.issuer.Kick()
	if c, _, _ := e.svc.Get(e.ctx, req.Id); c.Serial != issued.Serial {
		t.Fatalf("renewed before two thirds of the lifetime")
	}
	clk.Advance(20 * time.Minute)
	e.svc.issuer.Kick()
	renewed := waitCert(t, e, req.Id, func(c *certv1.Certificate) error {
		if c.Serial == issued.Serial {
			return errors.New("not renewed yet")
		}
		return nil
	})

	// Revocation: the CA revokes, the service issues a new leaf.
	if _, _, err := e.svc.Revoke(e.ctx, req.Id, 4); err != nil {
		t.Fatal(err)
	}
	waitCert(t, e, req.Id, func(c *certv1.Certificate) error {
		if c.Serial == renewed.Serial {
			return errors.New("not re-issued after revocation")
		}
		return nil
	})
	events, _ := e.store.ReadStream(e.ctx, accountStream(e.svc.acmeO.Directory), 0)
	if len(events) != 1 {
		t.Fatalf("%d account events, want one registration", len(events))
	}
}

// TestACMEFailureIsVisibleAndRetried: a challenge the nodes cannot answer
// fails; the failure, attempt count and next attempt show in the API, and
// the next attempt waits for the backoff.
func TestACMEFailureIsVisibleAndRetried(t *testing.T) {
	e, _, _, clk := newACMEEnv(t)
	// Break the challenge bucket's content: every token answers garbage.
	kv, err := e.js.KeyValue(e.ctx, natsutil.ACMEHTTP01Bucket)
	if err != nil {
		t.Fatal(err)
	}
	w, err := kv.WatchAll(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	go func() {
		for u := range w.Updates() {
			if u != nil && u.Operation() == jetstream.KeyValuePut && string(u.Value()) != "wrong" {
				kv.Put(context.Background(), u.Key(), []byte("wrong"))
			}
		}
	}()
	req, _, err := e.svc.Request(e.ctx, &certv1.RequestCertificateRequest{AppId: "app", Domains: []string{"fail.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	failed := waitCert(t, e, req.Id, func(c *certv1.Certificate) error {
		if c.FailedAttempts == 0 {
			return errors.New("no failure yet")
		}
		return nil
	})
	if failed.State != certv1.CertificateState_CERTIFICATE_STATE_FAILED || failed.LastError == "" {
		t.Fatalf("failure not visible: %v", failed)
	}
	if next := failed.NextAttemptAt.AsTime(); next.Sub(clk.Now()) < 59*time.Minute {
		t.Fatalf("next attempt at %v, want the one-hour backoff", next)
	}
	// No retry before the backoff elapsed, even when kicked.
	e.svc.issuer.Kick()
	for range 5 {
		e.svc.issuer.Kick()
	}
	if c, _, _ := e.svc.Get(e.ctx, req.Id); c.FailedAttempts != 1 {
		t.Fatalf("retried early: %d attempts", c.FailedAttempts)
	}
	clk.Advance(time.Hour)
	e.svc.issuer.Kick()
	second := waitCert(t, e, req.Id, func(c *certv1.Certificate) error {
		if c.FailedAttempts < 2 {
			return errors.New("no second attempt yet")
		}
		return nil
	})
	if d := second.NextAttemptAt.AsTime().Sub(clk.Now()); d < 119*time.Minute {
		t.Fatalf("second backoff %v, want doubled", d)
	}
}

// TestRequestValidation: bad requests name the field.
func TestRequestValidation(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name string
		req  *certv1.RequestCertificateRequest
		want string
	}{
		{"no app", &certv1.RequestCertificateRequest{Domains: []string{"a.example.com"}}, "app_id"},
		{"no domains", &certv1.RequestCertificateRequest{AppId: "a"}, "domains"},
		{"bad domain", &certv1.RequestCertificateRequest{AppId: "a", Domains: []string{"a..b"}}, "domains[0]"},
		{"wildcard", &certv1.RequestCertificateRequest{AppId: "a", Domains: []string{"*.example.com"}}, "DNS-01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := e.svc.Request(e.ctx, tt.req)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	// Without ACME configured, revocation is refused clearly.
	if _, _, err := e.svc.Revoke(e.ctx, "nope", 0); err == nil {
		t.Fatal("revoke of an unknown certificate succeeded")
	}
}

// TestACMEExternalAccountBinding: a CA that requires EAB (like ZeroSSL)
// refuses the account without it, and issues with it.
func TestACMEExternalAccountBinding(t *testing.T) {
	e := newEnv(t)
	r := startResponder(t, e.js)
	const kid, hmac = "kid-1", "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"
	p := startPebbleEAB(t, r.port, kid, hmac)
	run := func(o ACMEOptions) (*Service, string) {
		o.Directory, o.HTTPClient, o.Interval, o.RetryBase = p.Directory, p.Client, 50*time.Millisecond, time.Hour
		o.Holder = o.EABKeyID + "-holder"
		svc, err := New(Options{Store: e.store, JetStream: e.js, KEK: e.kek, ACME: &o})
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.Start(e.ctx); err != nil {
			t.Fatal(err)
		}
		c, _, err := svc.Request(e.ctx, &certv1.RequestCertificateRequest{AppId: "app", Domains: []string{"eab.example.com"}, Name: "eab-" + o.EABKeyID})
		if err != nil {
			t.Fatal(err)
		}
		return svc, c.Id
	}
	e.svc.Stop(e.ctx)
	without, id := run(ACMEOptions{})
	e.svc = without
	failed := waitCert(t, e, id, func(c *certv1.Certificate) error {
		if c.FailedAttempts == 0 {
			return errors.New("no failure yet")
		}
		return nil
	})
	if !strings.Contains(failed.LastError, "register ACME account") {
		t.Fatalf("last error %q, want the refused registration", failed.LastError)
	}
	without.Stop(e.ctx) // hands the lease over
	with, id := run(ACMEOptions{EABKeyID: kid, EABHMACKey: hmac})
	t.Cleanup(func() { with.Stop(context.Background()) })
	e.svc = with
	waitCert(t, e, id, func(c *certv1.Certificate) error {
		if c.State != certv1.CertificateState_CERTIFICATE_STATE_ACTIVE {
			return fmt.Errorf("state %v, last error %q", c.State, c.LastError)
		}
		return nil
	})
}

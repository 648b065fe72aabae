package certs

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	certv1 "github.com/strata-edge/strata/gen/strata/cert/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/pkg/certtest"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"

	"github.com/strata-edge/strata/node/internal/nettest"
)

// responder is a real OCSP responder over HTTP signing with the issuer's
// key; fail makes it answer 500, status sets the certificate status.
type responder struct {
	srv    *httptest.Server
	mu     sync.Mutex
	fail   bool
	status int
	valid  time.Duration // NextUpdate - ThisUpdate
	served atomic.Int32  // responses sent
	failed atomic.Int32  // requests refused while fail is set
}

func newResponder(t *testing.T, issuer *certtest.Cert) *responder {
	r := &responder{status: ocsp.Good, valid: time.Hour}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		oreq, err := ocsp.ParseRequest(body)
		r.mu.Lock()
		fail, status, valid := r.fail, r.status, r.valid
		r.mu.Unlock()
		if err != nil || fail {
			r.failed.Add(1)
			http.Error(w, "responder down", http.StatusInternalServerError)
			return
		}
		now := time.Now().Truncate(time.Second)
		der, err := ocsp.CreateResponse(issuer.Cert, issuer.Cert, ocsp.Response{
			Status: status, SerialNumber: oreq.SerialNumber, ThisUpdate: now, NextUpdate: now.Add(valid),
			RevokedAt: now, RevocationReason: ocsp.KeyCompromise,
		}, issuer.Key)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		r.served.Add(1)
		w.Header().Set("Content-Type", "application/ocsp-response")
		w.Write(der)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *responder) set(f func(r *responder)) {
	r.mu.Lock()
	f(r)
	r.mu.Unlock()
}

// tlsServer serves tbl's certificates and returns its address.
func tlsServer(t *testing.T, tbl *Table) string {
	ln, err := tls.Listen("tcp", "127.0.0.1:0", ServerConfig(tbl.GetCertificate, nil))
	if err != nil {
		t.Fatal(err)
	}
	nettest.Serve(t, ln, func(c net.Conn) { _ = c.(*tls.Conn).Handshake() })
	return ln.Addr().String()
}

// staple does a real TLS handshake and returns the stapled OCSP response.
func staple(t *testing.T, addr, sni string, roots *x509.CertPool) []byte {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: sni, RootCAs: roots})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().OCSPResponse
}

func TestOCSPStapling(t *testing.T) {
	kek := nodeKEK(t)
	set := certtest.NewSet(t)
	resp := newResponder(t, set.Intermediate)
	resp.set(func(r *responder) { r.valid = 3 * time.Second }) // refresh ~1.5 s in
	leaf, chain := set.Leaf(t, certtest.Options{DNSNames: []string{"ocsp.example.com"}, OCSPServer: []string{resp.srv.URL}})
	plain, plainChain := set.Leaf(t, certtest.Options{DNSNames: []string{"plain.example.com"}})
	tbl := New(kek, nil)
	tbl.SetOCSP(OCSPOptions{RetryMin: 20 * time.Millisecond, RetryMax: 40 * time.Millisecond})
	if err := tbl.Update(&syncv1.Snapshot{Certificates: []*certv1.SyncedCertificate{
		synced(t, kek, "ocsp", leaf, chain), synced(t, kek, "plain", plain, plainChain)}}); err != nil {
		t.Fatal(err)
	}
	addr := tlsServer(t, tbl)
	roots := x509.NewCertPool()
	roots.AddCert(set.Root.Cert)

	// The staple arrives in the background and verifies against the issuer.
	var got []byte
	natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if got = staple(t, addr, "ocsp.example.com", roots); got == nil {
			return fmt.Errorf("no staple yet")
		}
		return nil
	})
	r, err := ocsp.ParseResponseForCert(got, leaf.Cert, set.Intermediate.Cert)
	if err != nil || r.Status != ocsp.Good || r.SerialNumber.Cmp(leaf.Cert.SerialNumber) != 0 {
		t.Fatalf("stapled response: %v %v", r, err)
	}
	if s := staple(t, addr, "plain.example.com", roots); s != nil {
		t.Fatal("a certificate without a responder URL got a staple")
	}

	// Responder down: the refresh fails and the last good response stays
	// stapled while it is valid...
	resp.set(func(r *responder) { r.fail = true })
	failedBefore := resp.failed.Load()
	natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if resp.failed.Load() == failedBefore {
			return fmt.Errorf("no refresh attempt yet")
		}
		return nil
	})
	if time.Now().Before(r.NextUpdate) {
		if s := staple(t, addr, "ocsp.example.com", roots); !bytes.Equal(s, got) {
			t.Fatal("the last good staple was dropped while the responder is down")
		}
	}
	// ...and is dropped once expired.
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if s := staple(t, addr, "ocsp.example.com", roots); s != nil {
			return fmt.Errorf("still stapled at %s (next update %s)", time.Now().Format(time.RFC3339Nano), r.NextUpdate)
		}
		return nil
	})

	// Responder back: a fresh staple follows (the retries keep going).
	resp.set(func(r *responder) { r.fail = false; r.valid = time.Hour })
	natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if s := staple(t, addr, "ocsp.example.com", roots); s == nil || bytes.Equal(s, got) {
			return fmt.Errorf("no fresh staple yet")
		}
		return nil
	})
}

// TestOCSPRejectsBadResponses: a revoked status or a response signed by
// another CA is never stapled.
func TestOCSPRejectsBadResponses(t *testing.T) {
	kek := nodeKEK(t)
	set, other := certtest.NewSet(t), certtest.NewSet(t)
	for _, tc := range []struct {
		name   string
		signer *certtest.Cert
		status int
	}{
		{"revoked", set.Intermediate, ocsp.Revoked},
		{"signed by another CA", other.Intermediate, ocsp.Good},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := newResponder(t, tc.signer)
			resp.set(func(r *responder) { r.status = tc.status })
			leaf, chain := set.Leaf(t, certtest.Options{DNSNames: []string{"bad.example.com"}, OCSPServer: []string{resp.srv.URL}})
			tbl := New(kek, nil)
			tbl.SetOCSP(OCSPOptions{RetryMin: 10 * time.Millisecond, RetryMax: 10 * time.Millisecond})
			if err := tbl.Update(&syncv1.Snapshot{Certificates: []*certv1.SyncedCertificate{synced(t, kek, "bad", leaf, chain)}}); err != nil {
				t.Fatal(err)
			}
			addr := tlsServer(t, tbl)
			roots := x509.NewCertPool()
			roots.AddCert(set.Root.Cert)
			// Wait until the responder answered a few times (retries).
			natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
				if resp.served.Load() < 3 {
					return fmt.Errorf("responder answered %d times", resp.served.Load())
				}
				return nil
			})
			if s := staple(t, addr, "bad.example.com", roots); s != nil {
				t.Fatal("a bad OCSP response was stapled")
			}
		})
	}
}

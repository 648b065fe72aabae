// Package acmetest runs Pebble, a real ACME server, in-process for tests,
// and a DNS server that sends Pebble's validation to this machine. Tests of
// the cert service and of strata dev share it.
package acmetest

import (
	"crypto/x509"
	"encoding/pem"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"
)

// Options configure Pebble.
type Options struct {
	// HTTPPort and TLSPort are where its validation authority fetches
	// HTTP-01 and TLS-ALPN-01 challenges (0: Pebble's default).
	HTTPPort, TLSPort int
	// DNS is the address (TCP) of the resolver it validates through;
	// "": LocalhostDNS.
	DNS string
	// EABKeyID and EABHMAC (base64url), when set, make it require external
	// account binding with that key.
	EABKeyID, EABHMAC string
	// ValidityPeriod of the certificates in seconds (0: Pebble's default).
	ValidityPeriod uint64
}

// Pebble is a running Pebble.
type Pebble struct {
	Directory string       // the ACME directory URL
	Client    *http.Client // trusts its API certificate
	srv       *httptest.Server
	ca        *ca.CAImpl
}

// Start runs Pebble until the test ends. It answers at once (no sleeps,
// no nonce rejections) and never reuses authorizations.
func Start(t testing.TB, o Options) *Pebble {
	t.Helper()
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	t.Setenv("PEBBLE_AUTHZREUSE", "0")
	if o.DNS == "" {
		o.DNS = LocalhostDNS(t)
	}
	logger := log.New(io.Discard, "", 0)
	store := db.NewMemoryStore()
	if o.EABKeyID != "" {
		if err := store.AddExternalAccountKeyByID(o.EABKeyID, o.EABHMAC); err != nil {
			t.Fatal(err)
		}
	}
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {Description: "test", ValidityPeriod: o.ValidityPeriod}})
	front := wfe.New(logger, store, va.New(logger, o.HTTPPort, o.TLSPort, false, o.DNS, store), authority,
		[]string{"pebble.letsencrypt.org"}, false, o.EABKeyID != "", 0, 0)
	srv := httptest.NewTLSServer(front.Handler())
	t.Cleanup(srv.Close)
	return &Pebble{Directory: srv.URL + wfe.DirectoryPath, Client: srv.Client(), srv: srv, ca: authority}
}

// Root is the root certificate of what Pebble issues.
func (p *Pebble) Root() *x509.Certificate { return p.ca.GetRootCert(0).Cert }

// TrustForLego makes lego clients of this process trust Pebble's API
// certificate (LEGO_CA_CERTIFICATES), for code that builds its own client.
func (p *Pebble) TrustForLego(t testing.TB) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "pebble-api.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("LEGO_CA_CERTIFICATES", file)
}

// LocalhostDNS answers A 127.0.0.1 for every name (over TCP, as Pebble
// asks) until the test ends and returns its address.
func LocalhostDNS(t testing.TB) string {
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
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String()
}

// ClosedPort returns a port nothing listens on: a validation method that
// must not succeed is pointed there.
func ClosedPort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ocsp"
)

// OCSP stapling. When a certificate names an OCSP responder (the leaf's
// Authority Information Access) and its chain holds the issuer, the node
// fetches the leaf's OCSP response in the background, checks it is signed
// for this leaf by its issuer (or a responder the issuer delegated to) and
// says "good", and staples it to handshakes. It refreshes half-way to the
// response's NextUpdate; on errors it keeps the last good response until
// that expires and retries with backoff. A handshake never waits for a
// fetch: until the first response arrives it goes out without a staple.

// OCSP timing defaults (Table.OCSP).
const (
	DefaultOCSPTimeout  = 10 * time.Second
	DefaultOCSPRetryMin = time.Minute
	DefaultOCSPRetryMax = time.Hour
	maxOCSPResponse     = 64 << 10
)

// OCSPOptions tune stapling; the zero value uses the defaults.
type OCSPOptions struct {
	// Client fetches responses; default an http.Client with DefaultOCSPTimeout.
	Client *http.Client
	// RetryMin and RetryMax bound the delay after a failed fetch (doubling).
	RetryMin, RetryMax time.Duration
	// Disabled turns stapling off.
	Disabled bool
	Now      func() time.Time
}

// stapler fetches and refreshes staples for a table's entries.
type stapler struct {
	o     OCSPOptions
	log   *slog.Logger
	alive func(*entry) bool // is the entry still in the table's index?
}

func newStapler(o OCSPOptions, log *slog.Logger, alive func(*entry) bool) *stapler {
	if o.Disabled {
		return nil
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: DefaultOCSPTimeout}
	}
	if o.RetryMin <= 0 {
		o.RetryMin = DefaultOCSPRetryMin
	}
	if o.RetryMax < o.RetryMin {
		o.RetryMax = max(DefaultOCSPRetryMax, o.RetryMin)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &stapler{o: o, log: log, alive: alive}
}

// stapled is an entry's certificate with an OCSP staple and when the
// staple stops being valid.
type stapled struct {
	cert    *tls.Certificate
	expires time.Time
}

// ocspState is the stapling state of one entry.
type ocspState struct {
	served   atomic.Pointer[stapled]
	busy     atomic.Bool
	failures int // consecutive failed fetches; only the fetch goroutine touches it
}

// wants reports whether cert can be stapled: a responder URL and the issuer.
func wantsOCSP(cert *tls.Certificate) bool {
	return cert != nil && cert.Leaf != nil && len(cert.Leaf.OCSPServer) > 0 && len(cert.Certificate) > 1
}

// serve returns the certificate to hand to a handshake: with its staple
// while the staple is valid, else the plain certificate (and a fetch is
// started when none runs).
func (s *stapler) serve(e *entry, cert *tls.Certificate) *tls.Certificate {
	if s == nil || !wantsOCSP(cert) {
		return cert
	}
	if st := e.ocsp.served.Load(); st != nil && s.o.Now().Before(st.expires) {
		return st.cert
	}
	s.kick(e, cert)
	return cert
}

// kick starts a background fetch for e unless one is running.
func (s *stapler) kick(e *entry, cert *tls.Certificate) {
	if s == nil || !wantsOCSP(cert) || !e.ocsp.busy.CompareAndSwap(false, true) {
		return
	}
	go s.refresh(e, cert)
}

// refresh fetches a response, installs it, and schedules the next fetch.
func (s *stapler) refresh(e *entry, cert *tls.Certificate) {
	next, err := s.fetch(e, cert)
	if err != nil {
		e.ocsp.failures++
		next = min(s.o.RetryMin<<min(e.ocsp.failures-1, 20), s.o.RetryMax)
		st := e.ocsp.served.Load()
		s.log.Warn("certs: OCSP fetch failed; keeping the last good response until it expires",
			"certificate", e.sc.GetId(), "responder", cert.Leaf.OCSPServer[0], "retry_in", next, "have_staple", st != nil && s.o.Now().Before(st.expires), "err", err)
	} else {
		e.ocsp.failures = 0
	}
	e.ocsp.busy.Store(false)
	time.AfterFunc(next, func() {
		if s.alive(e) {
			s.kick(e, cert)
		}
	})
}

// fetch gets, verifies and installs one response; it returns when to
// refresh it (half-way to NextUpdate).
func (s *stapler) fetch(e *entry, cert *tls.Certificate) (time.Duration, error) {
	issuer, err := x509.ParseCertificate(cert.Certificate[1])
	if err != nil {
		return 0, fmt.Errorf("issuer: %w", err)
	}
	req, err := ocsp.CreateRequest(cert.Leaf, issuer, nil)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), DefaultOCSPTimeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, cert.Leaf.OCSPServer[0], bytes.NewReader(req))
	if err != nil {
		return 0, err
	}
	hreq.Header.Set("Content-Type", "application/ocsp-request")
	hreq.Header.Set("Accept", "application/ocsp-response")
	resp, err := s.o.Client.Do(hreq)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("responder answered %s", resp.Status)
	}
	der, err := io.ReadAll(io.LimitReader(resp.Body, maxOCSPResponse+1))
	if err != nil {
		return 0, err
	}
	if len(der) > maxOCSPResponse {
		return 0, errors.New("response larger than 64 KiB")
	}
	r, err := ocsp.ParseResponseForCert(der, cert.Leaf, issuer) // checks the signature
	if err != nil {
		return 0, fmt.Errorf("response: %w", err)
	}
	now := s.o.Now()
	switch {
	case r.Status != ocsp.Good:
		return 0, fmt.Errorf("status %s, not good", statusName(r.Status))
	case r.ThisUpdate.After(now.Add(5 * time.Minute)):
		return 0, fmt.Errorf("response from the future (this update %s)", r.ThisUpdate.Format(time.RFC3339))
	case r.NextUpdate.IsZero():
		return 0, errors.New("response without next update: nothing says how long it is valid")
	case !r.NextUpdate.After(now):
		return 0, fmt.Errorf("response expired at %s", r.NextUpdate.Format(time.RFC3339))
	}
	c := *cert
	c.OCSPStaple = der
	e.ocsp.served.Store(&stapled{cert: &c, expires: r.NextUpdate})
	refresh := r.ThisUpdate.Add(r.NextUpdate.Sub(r.ThisUpdate) / 2).Sub(now)
	return max(refresh, s.o.RetryMin), nil
}

func statusName(s int) string {
	switch s {
	case ocsp.Revoked:
		return "revoked"
	case ocsp.Unknown:
		return "unknown"
	}
	return fmt.Sprint(s)
}

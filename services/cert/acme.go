package cert

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/go-acme/lego/v5/acme"
	"github.com/go-acme/lego/v5/certificate"
	"github.com/go-acme/lego/v5/lego"
	"github.com/go-acme/lego/v5/registration"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/timestamppb"

	ev "github.com/strata-edge/strata/gen/strata/events/cert/v1"
	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/ids"
	"github.com/strata-edge/strata/pkg/natsutil"
)

// ACMEOptions configure managed certificates. Issuance needs
// Options.JetStream too (challenge tokens and the issuer lease).
type ACMEOptions struct {
	// Replicas of the challenge and lease buckets (0: 1); 3 on a
	// JetStream cluster.
	Replicas int
	// Directory is the default ACME directory URL (Let's Encrypt:
	// https://acme-v02.api.letsencrypt.org/directory).
	Directory string
	// Email, optional, is the account contact.
	Email string
	// EABKeyID and EABHMACKey (base64url), optional, bind new accounts to
	// an external account (RFC 8555 section 7.3.4), as ZeroSSL and other
	// commercial CAs require. They apply to the default directory.
	EABKeyID, EABHMACKey string
	// HTTPClient talks to the CA; nil = lego's default (system roots).
	HTTPClient *http.Client
	// Interval between scans for due issuance and renewals; default 1 min.
	Interval time.Duration
	// RetryBase is the first retry delay after a failure, doubling per
	// failure up to RetryMax; defaults 1 min and 6 h, so a CA outage is
	// retried for days without hammering it.
	RetryBase, RetryMax time.Duration
	// LeaseTTL is how long the issuer lease outlives its holder; default
	// 30 s. One replica at a time holds it.
	LeaseTTL time.Duration
	// Holder names this replica in the lease; default a random id.
	Holder string
	// Zones, optional, lists the DNS zones the edge nodes serve; DNS-01
	// (wildcards, or when asked) needs every domain inside one. Nil: no
	// DNS-01.
	Zones Zones
	// DNS01Nameservers (host:port), optional, are edge nodes' DNS servers
	// that must answer a DNS-01 value before the CA is asked to check it;
	// without them the issuer waits DNS01Wait (default 2 s) instead.
	DNS01Nameservers []string
	// DNS01MoreNameservers, optional, adds servers known only once the
	// service runs (strata dev's own node, started after the API); checked
	// like DNS01Nameservers.
	DNS01MoreNameservers func() []string
	DNS01Wait            time.Duration
}

func (o *ACMEOptions) defaults() {
	if o.Interval <= 0 {
		o.Interval = time.Minute
	}
	if o.RetryBase <= 0 {
		o.RetryBase = time.Minute
	}
	if o.RetryMax <= 0 {
		o.RetryMax = 6 * time.Hour
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = 30 * time.Second
	}
	if o.Holder == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		o.Holder = hex.EncodeToString(b[:])
	}
}

// issuer obtains and renews managed certificates through ACME.
type issuer struct {
	s      *Service
	o      ACMEOptions
	tokens jetstream.KeyValue
	dns01  jetstream.KeyValue // dns01.go
	lease  jetstream.KeyValue
	kick   chan struct{}

	mu         sync.Mutex
	clients    map[string]*lego.Client // by directory URL
	dnsClients map[string]*lego.Client // by directory URL, DNS-01 only
	ari        map[string]time.Time    // certificate id + serial -> renewal time from ARI
}

const leaseKey = "issuer"

func newIssuer(ctx context.Context, s *Service, o ACMEOptions) (*issuer, error) {
	o.defaults()
	tokens, err := s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: natsutil.ACMEHTTP01Bucket, TTL: time.Hour, Storage: jetstream.FileStorage, Replicas: o.Replicas})
	if err != nil {
		return nil, fmt.Errorf("cert: challenge bucket: %w", err)
	}
	dns01, err := openDNS01Bucket(ctx, s.js, o.Replicas)
	if err != nil {
		return nil, err
	}
	lease, err := s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: natsutil.CertLeaseBucket, TTL: o.LeaseTTL, Storage: jetstream.FileStorage, Replicas: o.Replicas})
	if err != nil {
		return nil, fmt.Errorf("cert: lease bucket: %w", err)
	}
	return &issuer{s: s, o: o, tokens: tokens, dns01: dns01, lease: lease, kick: make(chan struct{}, 1),
		clients: map[string]*lego.Client{}, dnsClients: map[string]*lego.Client{}, ari: map[string]time.Time{}}, nil
}

// Kick makes the issuer scan now.
func (is *issuer) Kick() {
	select {
	case is.kick <- struct{}{}:
	default:
	}
}

func (is *issuer) run(ctx context.Context) {
	// Refresh the lease well within its TTL, and scan at Interval.
	tick := time.NewTicker(min(is.o.Interval, is.o.LeaseTTL/3))
	defer tick.Stop()
	var lastScan time.Time
	for {
		held := is.holdLease(ctx)
		if held && (is.s.now().Sub(lastScan) >= is.o.Interval || len(is.kick) > 0) {
			select {
			case <-is.kick:
			default:
			}
			lastScan = is.s.now()
			is.scan(ctx)
		}
		select {
		case <-ctx.Done():
			if held {
				_ = is.lease.Delete(context.Background(), leaseKey) // hand over at once
			}
			return
		case <-tick.C:
		case <-is.kick:
			is.Kick() // keep the signal for the check above
		}
	}
}

// holdLease takes or refreshes the issuer lease; false when another
// replica holds it.
func (is *issuer) holdLease(ctx context.Context) bool {
	e, err := is.lease.Get(ctx, leaseKey)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		_, err = is.lease.Create(ctx, leaseKey, []byte(is.o.Holder))
		return err == nil
	case err != nil:
		is.s.logger.Warn("cert: issuer lease", "err", err)
		return false
	case string(e.Value()) != is.o.Holder:
		return false
	}
	_, err = is.lease.Update(ctx, leaseKey, []byte(is.o.Holder), e.Revision())
	return err == nil
}

// scan issues or renews every managed certificate that is due.
func (is *issuer) scan(ctx context.Context) {
	now := is.s.now()
	for _, r := range is.s.model.list("") {
		if ctx.Err() != nil {
			return
		}
		if !r.cert.Managed || !is.due(ctx, r, now) {
			continue
		}
		is.issue(ctx, r)
	}
}

// due: never issued or revoked, a retry whose time came, or a renewal at
// the CA's ARI window, else at two thirds of the lifetime.
func (is *issuer) due(ctx context.Context, r *record, now time.Time) bool {
	c := r.cert
	if c.FailedAttempts > 0 || r.key == nil || r.revoked {
		return c.NextAttemptAt == nil || !now.Before(c.NextAttemptAt.AsTime())
	}
	return !now.Before(is.renewAt(ctx, r))
}

func (is *issuer) renewAt(ctx context.Context, r *record) time.Time {
	nb, na := r.cert.NotBefore.AsTime(), r.cert.NotAfter.AsTime()
	at := nb.Add(na.Sub(nb) * 2 / 3)
	key := r.cert.Id + "/" + r.cert.Serial
	is.mu.Lock()
	t, ok := is.ari[key]
	is.mu.Unlock()
	if ok {
		return t
	}
	if client, err := is.client(ctx, r.cert.AcmeDirectory); err == nil {
		if leaf, err := leafOf(r.cert.ChainPem); err == nil {
			if info, err := client.Certificate.GetRenewalInfo(ctx, leaf); err == nil && info != nil {
				if w := info.ShouldRenewAt(is.s.now(), 0); w != nil {
					at = *w
				} else if !info.SuggestedWindow.Start.IsZero() {
					at = info.SuggestedWindow.Start
				}
			}
		}
	}
	is.mu.Lock()
	is.ari[key] = at
	is.mu.Unlock()
	return at
}

func leafOf(chainPEM string) (*x509.Certificate, error) {
	b, _ := pem.Decode([]byte(chainPEM))
	if b == nil {
		return nil, errors.New("no certificate")
	}
	return x509.ParseCertificate(b.Bytes)
}

// issue obtains a certificate for r and records it, or records the failure
// with the time of the next attempt.
func (is *issuer) issue(ctx context.Context, r *record) {
	id := r.cert.Id
	mat, err := is.obtain(ctx, r)
	if err != nil {
		n := r.cert.FailedAttempts + 1
		delay := is.o.RetryBase << min(n-1, 30)
		if delay <= 0 || delay > is.o.RetryMax {
			delay = is.o.RetryMax
		}
		is.s.logger.Warn("cert: ACME issuance failed", "certificate", id, "attempt", n, "retry_in", delay, "err", err)
		is.s.metrics.failed(err)
		_, aerr := is.s.appendAndWait(ctx, id, r.version, &ev.IssuanceFailed{
			CertificateId: id, Error: err.Error(), Attempt: n, NextAttemptAt: timestamppb.New(is.s.now().Add(delay)),
		})
		if aerr != nil {
			is.s.logger.Warn("cert: record issuance failure", "certificate", id, "err", aerr)
		}
		return
	}
	if _, err := is.s.appendAndWait(ctx, id, r.version, &ev.CertificateIssued{CertificateId: id, Material: mat}); err != nil {
		is.s.logger.Warn("cert: record issued certificate", "certificate", id, "err", err)
		return
	}
	is.s.logger.Info("cert: certificate issued", "certificate", id, "domains", r.cert.Domains, "not_after", mat.NotAfter.AsTime())
}

func (is *issuer) obtain(ctx context.Context, r *record) (*ev.Material, error) {
	client, err := is.orderClient(ctx, r.cert) // dns01.go: HTTP-01 or DNS-01
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	req := certificate.ObtainRequest{Domains: r.cert.Domains, Bundle: true, PrivateKey: key}
	res, err := client.Certificate.Obtain(ctx, req)
	if err != nil {
		return nil, err
	}
	p, err := parseIssued(string(res.Certificate), key)
	if err != nil {
		return nil, fmt.Errorf("CA returned an unusable certificate: %w", err)
	}
	defer clear(p.KeyDER)
	return is.s.material(r.cert.Id, r.keyVersion+1, p, res.CertURL)
}

// parseIssued reads a CA-issued bundle for key: leaf first, intermediates
// after. The chain is the CA's word; it is not verified against roots.
func parseIssued(bundle string, key crypto.Signer) (*Parsed, error) {
	certs, err := parseChain(bundle)
	if err != nil {
		return nil, err
	}
	leaf := certs[0]
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(leaf.PublicKey) {
		return nil, errors.New("leaf does not match the key we sent")
	}
	p := &Parsed{Leaf: leaf, ChainPEM: bundle}
	if p.KeyType, err = checkKey(key); err != nil {
		return nil, err
	}
	if p.Domains, err = domainsOf(leaf); err != nil {
		return nil, err
	}
	if p.KeyDER, err = x509.MarshalPKCS8PrivateKey(key); err != nil {
		return nil, err
	}
	return p, nil
}

// client returns the lego client of directory ("" = the default), with its
// account registered once and stored (key wrapped) in the event log.
func (is *issuer) client(ctx context.Context, directory string) (*lego.Client, error) {
	if directory == "" {
		directory = is.o.Directory
	}
	if directory == "" {
		return nil, errors.New("no ACME directory configured")
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	if c, ok := is.clients[directory]; ok {
		return c, nil
	}
	user, err := is.account(ctx, directory)
	if err != nil {
		return nil, err
	}
	http01 := func(c *lego.Client) error { return c.Challenge.SetHTTP01Provider(tokenProvider{is.tokens}) }
	c, err := is.newClient(user, directory, http01)
	if err != nil {
		return nil, err
	}
	if user.reg == nil {
		var reg *acme.ExtendedAccount
		kid, hmac, err := is.eab(directory) // eab.go: per directory, set through the API
		if err != nil {
			return nil, err
		}
		if kid != "" {
			reg, err = c.Registration.RegisterWithExternalAccountBinding(ctx, registration.RegisterEABOptions{
				TermsOfServiceAgreed: true, Kid: kid, HmacEncoded: hmac})
		} else {
			reg, err = c.Registration.Register(ctx, registration.RegisterOptions{TermsOfServiceAgreed: true})
		}
		if err != nil {
			return nil, fmt.Errorf("register ACME account at %s: %w", directory, err)
		}
		user.reg = reg
		if err := is.saveAccount(ctx, directory, user); err != nil {
			return nil, err
		}
		// The client was made before the account existed: make it again
		// so that it signs with the account URL.
		if c, err = is.newClient(user, directory, http01); err != nil {
			return nil, err
		}
	}
	is.clients[directory] = c
	return c, nil
}

// newClient is a lego client of directory signing as user, with the
// challenge solver solver sets.
func (is *issuer) newClient(user *acmeUser, directory string, solver func(*lego.Client) error) (*lego.Client, error) {
	cfg := lego.NewConfig(user)
	cfg.CADirURL = directory
	if is.o.HTTPClient != nil {
		cfg.HTTPClient = is.o.HTTPClient
	}
	c, err := lego.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("ACME client for %s: %w", directory, err)
	}
	if err := solver(c); err != nil {
		return nil, err
	}
	return c, nil
}

// accountStream is the event stream of the account with directory.
func accountStream(directory string) string {
	h := sha256.Sum256([]byte(directory))
	return "acme." + hex.EncodeToString(h[:12])
}

type acmeUser struct {
	email string
	key   crypto.Signer
	reg   *acme.ExtendedAccount
}

func (u *acmeUser) GetEmail() string                       { return u.email }
func (u *acmeUser) GetRegistration() *acme.ExtendedAccount { return u.reg }
func (u *acmeUser) GetPrivateKey() crypto.Signer           { return u.key }

// account loads the stored account of directory, or makes a new key.
func (is *issuer) account(ctx context.Context, directory string) (*acmeUser, error) {
	stream := accountStream(directory)
	events, err := is.s.store.ReadStream(ctx, stream, 0)
	if err != nil {
		return nil, fmt.Errorf("read ACME account: %w", err)
	}
	for _, e := range events {
		msg, err := registry.Decode(e.Type, e.Data)
		if err != nil {
			return nil, err
		}
		if a, ok := msg.(*ev.AcmeAccountRegistered); ok {
			der, err := is.s.kek.Open(FromProto(a.Key), stream, 1)
			if err != nil {
				return nil, fmt.Errorf("open ACME account key: %w", err)
			}
			k, err := x509.ParsePKCS8PrivateKey(der)
			clear(der)
			if err != nil {
				return nil, fmt.Errorf("ACME account key: %w", err)
			}
			return &acmeUser{email: a.Email, key: k.(crypto.Signer), reg: &acme.ExtendedAccount{Location: a.AccountUrl}}, nil
		}
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	return &acmeUser{email: is.o.Email, key: k}, nil
}

func (is *issuer) saveAccount(ctx context.Context, directory string, u *acmeUser) error {
	stream := accountStream(directory)
	der, err := x509.MarshalPKCS8PrivateKey(u.key)
	if err != nil {
		return err
	}
	env, err := is.s.kek.Seal(stream, 1, der)
	clear(der)
	if err != nil {
		return err
	}
	typ, data, err := registry.Encode(&ev.AcmeAccountRegistered{Directory: directory, AccountUrl: u.reg.Location, Key: toProto(env, 1), Email: u.email})
	if err != nil {
		return err
	}
	_, err = is.s.store.Append(ctx, stream, 0, eventstore.Event{ID: ids.New("evt_"), Type: typ, Data: data,
		Metadata: eventstore.Metadata{Actor: "cert-service", Time: is.s.now().UTC()}})
	if err != nil {
		return fmt.Errorf("store ACME account: %w", err)
	}
	return nil
}

// tokenProvider publishes HTTP-01 challenges to the nodes through KV.
type tokenProvider struct{ kv jetstream.KeyValue }

func (p tokenProvider) Present(ctx context.Context, _, token, keyAuth string) error {
	if _, err := p.kv.Put(ctx, token, []byte(keyAuth)); err != nil {
		return fmt.Errorf("publish HTTP-01 token: %w", err)
	}
	return nil
}

func (p tokenProvider) CleanUp(ctx context.Context, _, token, _ string) error {
	if err := p.kv.Delete(ctx, token); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("remove HTTP-01 token: %w", err)
	}
	return nil
}

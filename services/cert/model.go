package cert

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	certv1 "github.com/strata-edge/strata/gen/strata/cert/v1"
	ev "github.com/strata-edge/strata/gen/strata/events/cert/v1"
	"github.com/strata-edge/strata/pkg/eventstore"
)

// Model is the cert read model: every certificate folded from the cert
// events of the global log. Other services (config's snapshot builder) may
// keep one too; it ignores events that are not cert events.
type Model struct {
	mu    sync.RWMutex
	pos   eventstore.Position // advanced under mu after each Apply
	certs map[string]*record
	// accounts are the ACME directories with an account or settings, by
	// directory URL (eab.go).
	accounts map[string]*account
	// lastIssued is the time of the newest ACME issuance (metrics).
	lastIssued time.Time
}

// record is one certificate's state. cert is the API view (never holds key
// material); key is the wrapped private key.
type record struct {
	cert       *certv1.Certificate
	key        *certv1.WrappedKey
	version    uint64 // stream version (position of its newest event)
	keyVersion uint64
	acmeURL    string
	revoked    bool // the current leaf was revoked: issue a new one
	// src is what nodes get, with the key as stored (control KEK); nil
	// until the certificate has a key. Replaced, never mutated.
	src *certv1.SyncedCertificate
}

// NewModel returns an empty model.
func NewModel() *Model {
	return &Model{certs: map[string]*record{}, accounts: map[string]*account{}}
}

// Applied is the position of the newest event applied.
func (m *Model) Applied() uint64 { return m.pos.Applied() }

// WaitFor blocks until the model applied position pos or ctx ends.
func (m *Model) WaitFor(ctx context.Context, pos uint64) error { return m.pos.WaitFor(ctx, pos) }

// Apply folds one event of the global log; events of other services only
// advance the position.
func (m *Model) Apply(e eventstore.Event) error {
	msg, err := registry.Fold(e.Type, e.Data)
	if err != nil {
		return fmt.Errorf("cert model: event %d: %w", e.Position, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if e.Position <= m.pos.Applied() {
		return nil
	}
	if msg != nil {
		m.apply(e, msg)
	}
	m.pos.Advance(e.Position)
	return nil
}

func (m *Model) apply(e eventstore.Event, msg proto.Message) {
	if m.applyAccount(e, msg) {
		return
	}
	id := strings.TrimPrefix(e.Stream, "cert.")
	at := timestamppb.New(e.Metadata.Time)
	r := m.certs[id]
	switch msg := msg.(type) {
	case *ev.CertificateUploaded:
		r = &record{cert: &certv1.Certificate{Id: id, Name: msg.Name, CreatedAt: at}}
		m.certs[id] = r
		r.setMaterial(msg.Material)
	case *ev.CertificateRequested:
		r = &record{cert: &certv1.Certificate{
			Id: id, Name: msg.Name, Domains: msg.Domains, Managed: true, AcmeDirectory: msg.AcmeDirectory, Challenge: msg.Challenge,
			State: certv1.CertificateState_CERTIFICATE_STATE_PENDING, CreatedAt: at, NextAttemptAt: at,
		}}
		m.certs[id] = r
	case *ev.CertificateDeleted:
		delete(m.certs, id)
		return
	}
	if r == nil {
		return // event for a deleted or unknown certificate
	}
	// Records are replaced, never mutated, so readers may keep old pointers.
	c := proto.Clone(r.cert).(*certv1.Certificate)
	nr := *r
	nr.cert = c
	switch msg := msg.(type) {
	case *ev.CertificateIssued:
		m.lastIssued = e.Metadata.Time
		nr.setMaterial(msg.Material)
		nr.revoked = false
		c = nr.cert
		c.LastError, c.FailedAttempts = "", 0
		c.NextAttemptAt = nil
	case *ev.IssuanceFailed:
		c.LastError, c.FailedAttempts, c.NextAttemptAt = msg.Error, msg.Attempt, msg.NextAttemptAt
		if nr.key == nil {
			c.State = certv1.CertificateState_CERTIFICATE_STATE_FAILED
		}
	case *ev.CertificateAttached:
		if !slices.Contains(c.AppIds, msg.AppId) {
			c.AppIds = append(c.AppIds, msg.AppId)
			slices.Sort(c.AppIds)
		}
	case *ev.CertificateDetached:
		c.AppIds = slices.DeleteFunc(c.AppIds, func(a string) bool { return a == msg.AppId })
	case *ev.KeyRewrapped:
		nr.key = msg.Key
	case *ev.CertificateRevoked:
		nr.revoked = true
		c.NextAttemptAt = at
	}
	nr.cert.UpdatedAt = at
	nr.version = e.Position
	nr.src = nil
	if nr.key != nil {
		c := nr.cert
		nr.src = &certv1.SyncedCertificate{Id: id, ChainPem: c.ChainPem, Key: nr.key, Domains: c.Domains, NotAfter: c.NotAfter, AppIds: c.AppIds}
	}
	m.certs[id] = &nr
}

// Source returns certificate id as nodes get it but with the key wrapped
// by the control KEK (re-wrap it with WrapFor), or false when the
// certificate does not exist or has no key yet. The value is shared and
// immutable; a changed certificate gets a new pointer.
func (m *Model) Source(id string) (*certv1.SyncedCertificate, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	r, ok := m.certs[id]
	if !ok || r.src == nil {
		return nil, false
	}
	return r.src, true
}

// AttachedTo returns the ids of the certificates attached to appID.
func (m *Model) AttachedTo(appID string) []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []string
	for id, r := range m.certs {
		if slices.Contains(r.cert.AppIds, appID) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// setMaterial installs a new leaf, chain and key on r (replacing r.cert).
func (r *record) setMaterial(mat *ev.Material) {
	c := proto.Clone(r.cert).(*certv1.Certificate)
	c.ChainPem, c.Domains = mat.ChainPem, mat.Domains
	c.NotBefore, c.NotAfter = mat.NotBefore, mat.NotAfter
	c.Issuer, c.Serial, c.KeyType, c.FingerprintSha256 = mat.Issuer, mat.Serial, mat.KeyType, mat.FingerprintSha256
	c.State = certv1.CertificateState_CERTIFICATE_STATE_ACTIVE
	r.cert, r.key, r.acmeURL = c, mat.Key, mat.AcmeUrl
	if mat.Key != nil {
		r.keyVersion = mat.Key.KeyVersion
	}
}

// get returns the record of id or name.
func (m *Model) get(ref string) (*record, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if r, ok := m.certs[ref]; ok {
		return r, true
	}
	for _, r := range m.certs {
		if r.cert.Name == ref {
			return r, true
		}
	}
	return nil, false
}

// list returns all records sorted by name, optionally only those attached
// to appID.
func (m *Model) list(appID string) []*record {
	m.mu.RLock()
	out := make([]*record, 0, len(m.certs))
	for _, r := range m.certs {
		if appID == "" || slices.Contains(r.cert.AppIds, appID) {
			out = append(out, r)
		}
	}
	m.mu.RUnlock()
	slices.SortFunc(out, func(a, b *record) int { return strings.Compare(a.cert.Name, b.cert.Name) })
	return out
}

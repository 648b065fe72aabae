// Package cert is the certificate service: uploaded and ACME-managed TLS
// certificates, event-sourced on streams "cert.<id>", with private keys only
// ever stored wrapped (pkg/keywrap). Nodes receive the certificates attached
// to their partition's apps with keys re-wrapped for the partition's node KEK.
// See docs/certs.md.
package cert

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	certv1 "github.com/strata-edge/strata/gen/strata/cert/v1"
	"github.com/strata-edge/strata/gen/strata/cert/v1/certv1connect"
	ev "github.com/strata-edge/strata/gen/strata/events/cert/v1"
	"github.com/strata-edge/strata/pkg/apiauth"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/authz"
	"github.com/strata-edge/strata/pkg/background"
	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/ids"
	"github.com/strata-edge/strata/pkg/keywrap"
	"github.com/strata-edge/strata/services/edgesync"
)

// Options configure a Service.
type Options struct {
	Store eventstore.Store
	// JetStream carries ACME HTTP-01 tokens to the nodes and the issuer lease;
	// nil disables ACME (uploads still work).
	JetStream jetstream.JetStream
	// KEK wraps private keys. Required.
	KEK    *keywrap.Keyring
	Logger *slog.Logger     // nil = discard
	Now    func() time.Time // nil = time.Now
	// ACME, optional, enables managed certificates (RequestCertificate);
	// needs JetStream.
	ACME *ACMEOptions
	// Apps, optional, resolves app ids and names (the config service's
	// resolver): attach and upload reject apps that do not exist. Nil
	// accepts any id.
	Apps authz.ObjectResolver
	// Domains, optional, returns an app's domains (the config service):
	// attach and upload refuse a certificate that names none of them
	// unless forced. Nil checks nothing.
	Domains AppDomains
	// Sync, optional, are the partition tracks this service sends the
	// certificates attached to their apps to (sync.go); its read model is
	// then folded by Sync.Follow with the other contributors' instead of
	// following the log itself.
	Sync *edgesync.Tracks
}

// AppDomains returns the domains of an app (its working copy), by id.
type AppDomains interface {
	AppDomains(ctx context.Context, appID string) ([]string, error)
}

// Service is the cert service.
type Service struct {
	store  eventstore.Store
	js     jetstream.JetStream
	kek    *keywrap.Keyring
	logger *slog.Logger
	now    func() time.Time
	model  *Model
	acmeO  *ACMEOptions
	issuer *issuer
	apps   authz.ObjectResolver
	// domains checks that an attached certificate names one of the app's domains.
	domains AppDomains
	// metrics is what Collector returns (metrics.go).
	metrics *metrics
	// synced: Options.Sync folds the model.
	synced bool

	mu sync.Mutex // serializes this replica's writes (unique names)

	nodeKeys sync.Map // partition id -> *keywrap.Keyring

	bg background.Group
}

// New validates opts and returns a stopped Service.
func New(opts Options) (*Service, error) {
	if opts.Store == nil {
		return nil, errors.New("cert: Options.Store is required")
	}
	if opts.KEK == nil {
		return nil, errors.New("cert: Options.KEK is required (a key-encryption key: STRATA_KEK or --kek-file)")
	}
	if opts.ACME != nil && opts.JetStream == nil {
		return nil, errors.New("cert: Options.ACME needs Options.JetStream (challenge tokens, issuer lease)")
	}
	s := &Service{store: opts.Store, js: opts.JetStream, kek: opts.KEK, logger: opts.Logger, now: opts.Now, model: NewModel(), acmeO: opts.ACME, apps: opts.Apps, domains: opts.Domains, bg: background.Group{Name: "cert"}}
	s.logger = cmp.Or(s.logger, slog.New(slog.DiscardHandler))
	if s.now == nil {
		s.now = time.Now
	}
	s.metrics = newMetrics(s)
	if s.synced = opts.Sync != nil; s.synced {
		contribute(opts.Sync, s.model, s.kek, s.logger)
	}
	return s, nil
}

// Model returns the service's read model.
func (s *Service) Model() *Model { return s.model }

// Start rebuilds the read model and keeps following the log. It returns once
// the model caught up with the log as it was when Start was called.
func (s *Service) Start(ctx context.Context) error {
	var loops []func(context.Context)
	if !s.synced {
		loops = append(loops, func(ctx context.Context) { eventstore.Follow(ctx, s.store, s.model.Applied, s.model.Apply, s.logger) })
	}
	if err := s.bg.Run(ctx, s.catchUp, loops...); err != nil {
		return err
	}
	if s.acmeO != nil {
		is, err := newIssuer(ctx, s, *s.acmeO)
		if err != nil {
			_ = s.bg.Stop(context.Background())
			return err
		}
		s.issuer = is
		s.bg.Go(is.run)
	}
	return nil
}

// Stop ends background work and waits for it (at most until ctx ends).
func (s *Service) Stop(ctx context.Context) error { return s.bg.Stop(ctx) }

// Handler returns the Connect handler of CertService and its path prefix.
func (s *Service) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return certv1connect.NewCertServiceHandler(&handler{s: s}, opts...)
}

// --- writes -----------------------------------------------------------------

func (s *Service) appendAndWait(ctx context.Context, id string, expected uint64, msgs ...proto.Message) (uint64, error) {
	return s.appendStream(ctx, streamOf(id), "certificate "+id, expected, msgs...)
}

// appendStream appends msgs to stream at expected version and waits until
// the read model folded them; what names the object in a conflict.
func (s *Service) appendStream(ctx context.Context, stream, what string, expected uint64, msgs ...proto.Message) (uint64, error) {
	meta := eventstore.Metadata{Actor: apiauth.Actor(ctx), RequestID: apiauth.RequestID(ctx), Time: s.now().UTC()}
	pos, err := registry.AppendAndWait(ctx, s.store, s.model.WaitFor, meta, stream, expected, msgs...)
	if errors.Is(err, eventstore.ErrConflict) {
		return 0, apierr.Conflict(fmt.Sprintf("%s changed meanwhile (stale expected_version)", what))
	}
	return pos, err
}

func (s *Service) catchUp(ctx context.Context) error {
	return s.model.pos.CatchUp(ctx, s.store)
}

// Upload validates and stores an uploaded certificate; the private key is
// sealed before anything is written.
func (s *Service) Upload(ctx context.Context, req *certv1.UploadCertificateRequest) (*certv1.Certificate, uint64, error) {
	p, err := ParseUpload(req.ChainPem, req.KeyPem, ParseOptions{Now: s.now(), SystemRoots: req.SystemRoots})
	if err != nil {
		return nil, 0, err
	}
	defer clear(p.KeyDER)
	appIDs := make([]string, len(req.AppIds))
	for i, a := range req.AppIds {
		if appIDs[i], err = s.appID(ctx, fmt.Sprintf("app_ids[%d]", i), a); err != nil {
			return nil, 0, err
		}
	}
	for i, a := range appIDs {
		if err := s.target(ctx, req.AppIds[i], a, req.Force).covers(fmt.Sprintf("app_ids[%d]", i), p.Domains); err != nil {
			return nil, 0, err
		}
	}
	id := ids.New("crt_")
	mat, err := s.material(id, 1, p, "")
	if err != nil {
		return nil, 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.catchUp(ctx); err != nil {
		return nil, 0, err
	}
	msgs, err := s.model.upload(id, req.Name, mat, appIDs)
	if err != nil {
		return nil, 0, err
	}
	v, err := s.appendAndWait(ctx, id, 0, msgs...)
	if err != nil {
		return nil, 0, err
	}
	r, _ := s.model.get(id)
	return r.cert, v, nil
}

// material seals p's key for id at keyVersion and describes the leaf.
func (s *Service) material(id string, keyVersion uint64, p *Parsed, acmeURL string) (*ev.Material, error) {
	env, err := s.kek.Seal(id, keyVersion, p.KeyDER)
	if err != nil {
		return nil, fmt.Errorf("seal key: %w", err)
	}
	return &ev.Material{
		ChainPem: p.ChainPEM, Key: toProto(env, keyVersion), Domains: p.Domains,
		NotBefore: timestamppb.New(p.Leaf.NotBefore), NotAfter: timestamppb.New(p.Leaf.NotAfter),
		Issuer: p.Leaf.Issuer.String(), Serial: p.Leaf.SerialNumber.Text(16), KeyType: p.KeyType,
		FingerprintSha256: p.Fingerprint(), AcmeUrl: acmeURL,
	}, nil
}

func toProto(e keywrap.Envelope, keyVersion uint64) *certv1.WrappedKey {
	return &certv1.WrappedKey{KekId: e.KEKID, WrappedDataKey: e.WrappedDataKey, Ciphertext: e.Ciphertext, KeyVersion: keyVersion}
}

// FromProto converts a wrapped key to a keywrap envelope.
func FromProto(k *certv1.WrappedKey) keywrap.Envelope {
	return keywrap.Envelope{KEKID: k.GetKekId(), WrappedDataKey: k.GetWrappedDataKey(), Ciphertext: k.GetCiphertext()}
}

// Get returns the certificate with id or name.
func (s *Service) Get(ctx context.Context, ref string) (*certv1.Certificate, uint64, error) {
	if ref == "" {
		return nil, 0, apierr.Invalid(apierr.FieldViolation{Field: "certificate", Reason: "is required"})
	}
	if err := s.catchUp(ctx); err != nil {
		return nil, 0, err
	}
	r, err := s.model.lookup(ref)
	if err != nil {
		return nil, 0, err
	}
	return r.cert, r.version, nil
}

// List returns certificates by name, optionally only those attached to appID.
func (s *Service) List(ctx context.Context, appID string) ([]*certv1.Certificate, error) {
	if err := s.catchUp(ctx); err != nil {
		return nil, err
	}
	rs := s.model.list(s.appRef(ctx, appID))
	out := make([]*certv1.Certificate, len(rs))
	for i, r := range rs {
		out[i] = r.cert
	}
	return out, nil
}

func expectedOr(r *record, expected *uint64) uint64 {
	if expected != nil {
		return *expected
	}
	return r.version
}

// Delete removes a certificate; nodes drop it with the next snapshot.
func (s *Service) Delete(ctx context.Context, ref string, expected *uint64) (uint64, error) {
	if err := s.catchUp(ctx); err != nil {
		return 0, err
	}
	r, msg, err := s.model.delete(ref)
	if err != nil {
		return 0, err
	}
	return s.appendAndWait(ctx, r.cert.Id, expectedOr(r, expected), msg)
}

// Attach attaches (attach=true) or detaches a certificate to an app.
func (s *Service) Attach(ctx context.Context, ref, appID string, attach, force bool, expected *uint64) (*certv1.Certificate, uint64, error) {
	appRef := appID
	if appID == "" {
		return nil, 0, apierr.Invalid(apierr.FieldViolation{Field: "app_id", Reason: "is required"})
	}
	if attach {
		var err error
		if appID, err = s.appID(ctx, "app_id", appID); err != nil {
			return nil, 0, err
		}
	} else { // detaching from an app deleted meanwhile must still work
		appID = s.appRef(ctx, appID)
	}
	if err := s.catchUp(ctx); err != nil {
		return nil, 0, err
	}
	r, msg, err := s.model.attach(ref, s.target(ctx, appRef, appID, force), attach)
	if err != nil {
		return nil, 0, err
	}
	if msg == nil {
		return r.cert, r.version, nil // idempotent
	}
	v, err := s.appendAndWait(ctx, r.cert.Id, expectedOr(r, expected), msg)
	if err != nil {
		return nil, 0, err
	}
	r, _ = s.model.get(r.cert.Id)
	return r.cert, v, nil
}

// target is app appID (ref as the caller named it) as the decisions get it:
// its domains come from Options.Domains unless force.
func (s *Service) target(ctx context.Context, ref, appID string, force bool) appTarget {
	t := appTarget{id: appID, ref: ref}
	if s.domains != nil && !force {
		t.domains = func() ([]string, error) { return s.domains.AppDomains(ctx, appID) }
	}
	return t
}

// Covers reports whether a certificate with names serves domain: an equal
// name, or a wildcard name "*.example.com" for a domain one label below
// (TLS wildcards cover one label) or for the same wildcard domain.
func Covers(names []string, domain string) bool {
	for _, n := range names {
		switch {
		case strings.EqualFold(n, domain):
			return true
		case strings.HasPrefix(n, "*."):
			label, rest, ok := strings.Cut(domain, ".")
			if ok && label != "" && label != "*" && strings.EqualFold(rest, n[2:]) {
				return true
			}
		}
	}
	return false
}

// appID returns the id of the app ref (an id or name), or a field error
// naming field when there is no such app.
func (s *Service) appID(ctx context.Context, field, ref string) (string, error) {
	if ref == "" {
		return "", apierr.Invalid(apierr.FieldViolation{Field: field, Reason: "is required"})
	}
	if s.apps == nil {
		return ref, nil
	}
	obj, err := s.apps.ResolveObject(ctx, authz.KindApp, ref)
	if errors.Is(err, authz.ErrUnknownObject) {
		return "", apierr.Invalid(apierr.FieldViolation{Field: field, Reason: fmt.Sprintf("app %q does not exist", ref)})
	}
	if err != nil {
		return "", fmt.Errorf("look up app %q: %w", ref, err)
	}
	return obj.ID, nil
}

// appRef is the id of the app ref names (an id or a name), or ref itself
// when no app has it (a filter or a detach may name an app deleted since).
func (s *Service) appRef(ctx context.Context, ref string) string {
	if ref == "" || s.apps == nil {
		return ref
	}
	if obj, err := s.apps.ResolveObject(ctx, authz.KindApp, ref); err == nil {
		return obj.ID
	}
	return ref
}

// RotateKeys re-wraps every data key not wrapped by the primary KEK, one
// event per certificate; payloads stay as they are. It returns how many were
// re-wrapped. Run it after making a new KEK primary; the old one can be
// removed from the key file once it returns without error.
func (s *Service) RotateKeys(ctx context.Context) (int, error) {
	if err := s.catchUp(ctx); err != nil {
		return 0, err
	}
	n := 0
	for _, r := range s.model.list("") {
		if r.key == nil || r.key.KekId == s.kek.Primary() {
			continue
		}
		env, err := s.kek.Rewrap(FromProto(r.key), r.cert.Id, r.keyVersion, s.kek)
		if err != nil {
			return n, fmt.Errorf("rewrap %s: %w", r.cert.Id, err)
		}
		if _, err := s.appendAndWait(ctx, r.cert.Id, r.version, &ev.KeyRewrapped{CertificateId: r.cert.Id, Key: toProto(env, r.keyVersion)}); err != nil {
			return n, fmt.Errorf("rewrap %s: %w", r.cert.Id, err)
		}
		n++
	}
	return n, nil
}

// --- what nodes get ---------------------------------------------------------

// NodeKeyring returns the KEK a partition's nodes unwrap their keys with:
// derived from the control KEK (keywrap.Keyring.Derive), so it is different
// per partition and the control KEK never leaves the control plane.
func NodeKeyring(kek *keywrap.Keyring, partitionID string) (*keywrap.Keyring, error) {
	return kek.Derive("partition/" + partitionID)
}

// WrapFor returns src with its key re-wrapped for partitionID's node KEK
// (NodeKeyring); the payload ciphertext is shared, never re-encrypted.
func WrapFor(kek *keywrap.Keyring, src *certv1.SyncedCertificate, partitionID string) (*certv1.SyncedCertificate, error) {
	kr, err := NodeKeyring(kek, partitionID)
	if err != nil {
		return nil, err
	}
	return wrapWith(kek, kr, src, partitionID)
}

func wrapWith(kek, kr *keywrap.Keyring, src *certv1.SyncedCertificate, partitionID string) (*certv1.SyncedCertificate, error) {
	k := src.GetKey()
	env, err := kek.Rewrap(FromProto(k), src.GetId(), k.GetKeyVersion(), kr)
	if err != nil {
		return nil, fmt.Errorf("wrap key of %s for partition %s: %w", src.GetId(), partitionID, err)
	}
	out := proto.Clone(src).(*certv1.SyncedCertificate)
	out.Key = toProto(env, k.GetKeyVersion())
	return out, nil
}

// Synced returns the certificates attached to any of appIDs, keys re-wrapped
// for partitionID's node KEK, sorted by id. Certificates without a key yet
// (pending managed ones) are left out.
func (s *Service) Synced(partitionID string, appIDs []string) ([]*certv1.SyncedCertificate, error) {
	kr, err := s.nodeKeyring(partitionID)
	if err != nil {
		return nil, err
	}
	var out []*certv1.SyncedCertificate
	for _, r := range s.model.list("") {
		if r.src == nil || !slices.ContainsFunc(r.cert.AppIds, func(a string) bool { return slices.Contains(appIDs, a) }) {
			continue
		}
		w, err := wrapWith(s.kek, kr, r.src, partitionID)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	slices.SortFunc(out, func(a, b *certv1.SyncedCertificate) int { return strings.Compare(a.Id, b.Id) })
	return out, nil
}

func (s *Service) nodeKeyring(partitionID string) (*keywrap.Keyring, error) {
	if kr, ok := s.nodeKeys.Load(partitionID); ok {
		return kr.(*keywrap.Keyring), nil
	}
	kr, err := NodeKeyring(s.kek, partitionID)
	if err != nil {
		return nil, err
	}
	s.nodeKeys.Store(partitionID, kr)
	return kr, nil
}

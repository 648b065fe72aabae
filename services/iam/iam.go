// Package iam is the identity and access management service: users (local
// passwords hashed with argon2id, or LDAP), groups, roles, grants of roles
// scoped to objects, API tokens, console sessions, and the audit API over the
// event log of every service.
//
// Every change is an event (streams "iam.*"); a projection folds them into
// the read model that the authenticator (tokens, sessions, the bootstrap
// token) and the policy (grants, for pkg/authz) answer from. See docs/iam.md.
package iam

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/strata-edge/strata/pkg/passhash"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/strata-edge/strata/gen/strata/iam/v1/iamv1connect"
	"github.com/strata-edge/strata/pkg/apiauth"
	"github.com/strata-edge/strata/pkg/authz"
	"github.com/strata-edge/strata/pkg/background"
	"github.com/strata-edge/strata/pkg/eventstore"
)

// Options configure a Service.
type Options struct {
	Store  eventstore.Store
	Logger *slog.Logger     // nil: discard
	Now    func() time.Time // nil: time.Now
	// Secure marks session cookies Secure: set it when the API is served
	// over TLS.
	Secure bool
	// BootstrapToken, when set, is accepted as super_admin until revoked
	// with RevokeBootstrapToken (apiauth.LoadOrCreateBootstrapToken).
	BootstrapToken string
	// Resolvers resolve the objects grants are scoped to; share them with
	// the authz interceptor. nil: only grants over everything can be made.
	Resolvers *authz.Resolvers
	// Rules is the permission table custom roles are checked against;
	// nil: authz.DefaultRules().
	Rules authz.Rules
	// SessionTTL is how long a console login lasts; default 12h.
	SessionTTL time.Duration
	// TrustedOrigins may send cross-origin state-changing requests (e.g. a
	// console dev server, "https://console.example.com").
	TrustedOrigins []string
	// LDAP enables directory logins; nil: local users only.
	LDAP *LDAPOptions
	// LoginLimits bound login attempts; zero values take the defaults.
	LoginLimits LoginLimits
	// Argon2 overrides the password hashing cost (tests); zero: defaults.
	Argon2 Argon2Params
}

// Argon2Params are argon2id costs: Memory in KiB, Time passes, Threads lanes.
type Argon2Params struct {
	Memory  uint32
	Time    uint32
	Threads uint8
}

// Service is the IAM service.
type Service struct {
	store     eventstore.Store
	log       *slog.Logger
	now       func() time.Time
	secure    bool
	resolvers *authz.Resolvers
	rules     authz.Rules
	known     []string // permissions custom roles may hold
	ttl       time.Duration
	origins   []string
	ldap      *LDAPOptions
	argon     passhash.Params
	dummyHash string // verified for unknown users, so timing does not tell

	bootstrapHash string // hex SHA-256 of the bootstrap token, "" when none

	proj      *projection
	limits    *loginLimiter
	tokenUses *tokenUses

	writeMu sync.Mutex // serializes this replica's writes

	bg background.Group
}

// New validates opts and returns a stopped Service.
func New(opts Options) (*Service, error) {
	if opts.Store == nil {
		return nil, errors.New("iam: Options.Store is required")
	}
	s := &Service{
		store: opts.Store, log: opts.Logger, now: opts.Now, secure: opts.Secure,
		resolvers: opts.Resolvers, rules: opts.Rules, ttl: opts.SessionTTL,
		origins: opts.TrustedOrigins, ldap: opts.LDAP, argon: passhash.Default,
	}
	// Stop records pending token uses while the projection still follows the log.
	s.bg = background.Group{Name: "iam", BeforeStop: func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		s.flushTokenUses(ctx)
	}}
	s.log = cmp.Or(s.log, slog.New(slog.DiscardHandler))
	if s.now == nil {
		s.now = time.Now
	}
	if s.rules == nil {
		s.rules = authz.DefaultRules()
	}
	if s.resolvers == nil {
		s.resolvers = authz.NewResolvers()
	}
	if s.ttl == 0 {
		s.ttl = 12 * time.Hour
	}
	if s.ttl < time.Minute {
		return nil, fmt.Errorf("iam: Options.SessionTTL %s is shorter than a minute", s.ttl)
	}
	if a := opts.Argon2; a != (Argon2Params{}) {
		s.argon = passhash.Params{Memory: a.Memory, Time: a.Time, Threads: a.Threads, KeyLen: passhash.Default.KeyLen}
		if _, _, _, err := passhash.Parse(passhash.Hash("x", s.argon)); err != nil {
			return nil, fmt.Errorf("iam: Options.Argon2: %w", err)
		}
	}
	if s.ldap != nil {
		if err := s.ldap.validate(); err != nil {
			return nil, fmt.Errorf("iam: Options.LDAP: %w", err)
		}
	}
	for _, o := range s.origins {
		if err := http.NewCrossOriginProtection().AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("iam: Options.TrustedOrigins: %w", err)
		}
	}
	if opts.BootstrapToken != "" {
		s.bootstrapHash = hashSecret(opts.BootstrapToken)
	}
	s.known = s.rules.Permissions()
	s.dummyHash = passhash.Hash("not a password of anyone", s.argon)
	s.proj = newProjection(s.log)
	s.limits = newLoginLimiter(opts.LoginLimits, s.now)
	s.tokenUses = newTokenUses()
	return s, nil
}

// hashSecret returns the hex SHA-256 of a token or session secret: they are
// 256 random bits, so a fast hash is enough to make a stolen log useless.
func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// Start rebuilds the read model from the log, then keeps following it. It
// returns once the model has caught up with the log as it was at the call.
func (s *Service) Start(ctx context.Context) error {
	err := s.bg.Run(ctx, func(ctx context.Context) error { return s.proj.CatchUp(ctx, s.store) },
		func(ctx context.Context) { eventstore.Follow(ctx, s.store, s.proj.Applied, s.proj.Handle, s.log) },
		func(ctx context.Context) { s.flushTokenUsesEvery(ctx, tokenUseFlushInterval) })
	if err != nil {
		return err
	}
	s.log.Info("iam read model ready", "position", s.proj.Applied())
	return nil
}

// Stop records pending token uses, ends the subscription and waits (at most
// until ctx ends).
func (s *Service) Stop(ctx context.Context) error { return s.bg.Stop(ctx) }

// Handler returns the Connect handler of IAMService and its path prefix.
func (s *Service) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return iamv1connect.NewIAMServiceHandler(&handler{s}, opts...)
}

// catchUp waits until the read model has applied everything in the log, so
// that checks see writes of other replicas too.
func (s *Service) catchUp(ctx context.Context) error {
	return s.proj.CatchUp(ctx, s.store)
}

// change is what a command records: events on one stream.
type change struct {
	stream string
	events []proto.Message
}

// maxAttempts bounds retries of a command that lost a race with another
// replica's write to the same stream.
const maxAttempts = 3

// exec runs a command: decide looks at the current state (caught up with
// the log, read-locked) and returns the events to record or an error; they
// are appended with the stream's version as the expected version. When
// another replica wrote the stream meanwhile, exec catches up and decides
// again. It returns once the read model has applied the new events. actor
// "" means the caller of ctx.
func (s *Service) exec(ctx context.Context, actor string, decide func(st *state) (change, error)) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if actor == "" {
		actor = apiauth.Actor(ctx)
	}
	for attempt := 1; ; attempt++ {
		if err := s.catchUp(ctx); err != nil {
			return err
		}
		var (
			c        change
			expected uint64
			err      error
		)
		s.proj.Read(func(st *state) {
			c, err = decide(st)
			expected = st.versions[c.stream]
		})
		if err != nil || len(c.events) == 0 {
			return err
		}
		meta := eventstore.Metadata{Actor: actor, RequestID: apiauth.RequestID(ctx), Time: s.now().UTC()}
		_, err = registry.AppendAndWait(ctx, s.store, s.proj.WaitFor, meta, c.stream, expected, c.events...)
		if errors.Is(err, eventstore.ErrConflict) && attempt < maxAttempts {
			continue
		}
		return err
	}
}

// Grants implements authz.Policy: the grants of the caller's user and of its
// groups, or super_admin over everything for the bootstrap token.
func (s *Service) Grants(_ context.Context, p apiauth.Principal) ([]authz.Grant, error) {
	if p.Kind == apiauth.BootstrapPrincipal.Kind {
		r, _ := authz.BuiltInRole(authz.RoleSuperAdmin)
		return []authz.Grant{{Role: r, Scope: authz.Everything}}, nil
	}
	if p.Kind != kindUser && p.Kind != kindToken {
		return nil, nil
	}
	var out []authz.Grant
	s.proj.Read(func(st *state) { out = st.authzGrants(p.Name) })
	return out, nil
}

// authzGrants returns the grants in effect for user name (none when it is
// unknown or disabled).
func (st *state) authzGrants(name string) []authz.Grant {
	u := st.users[name]
	if u == nil || u.disabled {
		return nil
	}
	var out []authz.Grant
	for _, g := range st.grantsOf(name) {
		r, ok := st.role(g.role)
		if !ok {
			continue
		}
		scope := authz.Everything
		if g.scope.GetKind() != authz.KindAll {
			scope = authz.Object{Kind: g.scope.GetKind(), ID: g.scope.GetId()}
		}
		out = append(out, authz.Grant{Role: r, Scope: scope})
	}
	return out
}

// Principal kinds of IAM credentials.
const (
	kindUser  = "user"  // console or CLI session
	kindToken = "token" // API token
)

var _ authz.Policy = (*Service)(nil)

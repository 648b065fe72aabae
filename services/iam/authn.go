package iam

import (
	"context"
	"crypto/subtle"
	"fmt"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	ev "github.com/strata-edge/strata/gen/strata/events/iam/v1"
	"github.com/strata-edge/strata/pkg/apiauth"
)

// BootstrapCredentialID is the CredentialID of the bootstrap token's principal.
const BootstrapCredentialID = "bootstrap"

// Authenticator returns the authenticator for apiauth.NewInterceptor: it
// accepts API tokens, session secrets (console cookies arrive as bearer
// tokens through Middleware, CLI logins send them directly) and the bootstrap
// token until it is revoked. Expired and revoked credentials, and those of
// disabled users, are refused with an error wrapping apiauth.ErrInvalidToken
// that says why.
func (s *Service) Authenticator() apiauth.Authenticator {
	return apiauth.AuthenticatorFunc(s.authenticate)
}

func (s *Service) authenticate(ctx context.Context, secret string) (apiauth.Principal, error) {
	h := hashSecret(secret)
	p, found, err := s.lookup(h)
	if !found {
		// It may have been created on another replica a moment ago.
		if err := s.catchUp(ctx); err != nil {
			return apiauth.Principal{}, fmt.Errorf("iam: authenticate: %w", err)
		}
		p, found, err = s.lookup(h)
	}
	if !found {
		return apiauth.Principal{}, apiauth.ErrInvalidToken
	}
	return p, err
}

// lookup finds the credential whose secret hashes to h.
func (s *Service) lookup(h string) (p apiauth.Principal, found bool, err error) {
	now := s.now()
	s.proj.Read(func(st *state) {
		if id, ok := st.tokenByHash[h]; ok {
			found = true
			t := st.tokens[id]
			switch {
			case t.revoked:
				err = fmt.Errorf("token %s was revoked: %w", id, apiauth.ErrInvalidToken)
			case !t.expiresAt.IsZero() && !now.Before(t.expiresAt):
				err = fmt.Errorf("token %s expired at %s: %w", id, t.expiresAt.UTC().Format(time.RFC3339), apiauth.ErrInvalidToken)
			default:
				err = st.checkUser(t.user)
			}
			if err == nil {
				p = apiauth.Principal{Name: t.user, Kind: kindToken, CredentialID: id}
				s.tokenUses.note(id, now)
			}
			return
		}
		if id, ok := st.sessionByHash[h]; ok {
			found = true
			ses := st.sessions[id]
			switch {
			case ses.ended:
				err = fmt.Errorf("session ended (logged out): %w", apiauth.ErrInvalidToken)
			case !now.Before(ses.expiresAt):
				err = fmt.Errorf("session expired at %s, log in again: %w", ses.expiresAt.UTC().Format(time.RFC3339), apiauth.ErrInvalidToken)
			default:
				err = st.checkUser(ses.user)
			}
			if err == nil {
				p = apiauth.Principal{Name: ses.user, Kind: kindUser, CredentialID: id}
			}
			return
		}
		if s.bootstrapHash != "" && subtle.ConstantTimeCompare([]byte(h), []byte(s.bootstrapHash)) == 1 {
			found = true
			if st.bootstrapRevoked[h] {
				err = fmt.Errorf("the bootstrap admin token was revoked: %w", apiauth.ErrInvalidToken)
				return
			}
			p = apiauth.BootstrapPrincipal
			p.CredentialID = BootstrapCredentialID
		}
	})
	return p, found, err
}

// checkUser refuses credentials of unknown and disabled users.
func (st *state) checkUser(name string) error {
	u := st.users[name]
	if u == nil {
		return fmt.Errorf("user %q does not exist: %w", name, apiauth.ErrInvalidToken)
	}
	if u.disabled {
		return fmt.Errorf("user %q is disabled: %w", name, apiauth.ErrInvalidToken)
	}
	return nil
}

// Token last-use times are kept in memory on every use and recorded as
// iam.token.used events at most once per tokenUseResolution per token, so
// that busy tokens do not flood the log.
const (
	tokenUseResolution    = time.Hour
	tokenUseFlushInterval = time.Minute
)

type tokenUses struct {
	mu   sync.Mutex
	last map[string]time.Time
}

func newTokenUses() *tokenUses { return &tokenUses{last: map[string]time.Time{}} }

func (u *tokenUses) note(id string, t time.Time) {
	u.mu.Lock()
	if t.After(u.last[id]) {
		u.last[id] = t
	}
	u.mu.Unlock()
}

func (u *tokenUses) get(id string) time.Time {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.last[id]
}

func (u *tokenUses) snapshot() map[string]time.Time {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make(map[string]time.Time, len(u.last))
	for id, t := range u.last {
		out[id] = t
	}
	return out
}

func (s *Service) flushTokenUsesEvery(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return // Stop records what is pending
		case <-tick.C:
			s.flushTokenUses(ctx)
		}
	}
}

// flushTokenUses records the last use of tokens whose recorded last use is
// unset or older than tokenUseResolution.
func (s *Service) flushTokenUses(ctx context.Context) {
	for id, used := range s.tokenUses.snapshot() {
		err := s.exec(ctx, "system", func(st *state) (change, error) {
			t := st.tokens[id]
			if t == nil || t.revoked || (!t.lastUsed.IsZero() && used.Sub(t.lastUsed) < tokenUseResolution) {
				return change{}, nil
			}
			return change{stream: tokenStream(id), events: []proto.Message{&ev.TokenUsed{Id: id, Time: timestamppb.New(used)}}}, nil
		})
		if err != nil {
			s.log.Warn("iam: record token use", "token", id, "err", err)
		}
	}
}

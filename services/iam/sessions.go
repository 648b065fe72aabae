package iam

import (
	"context"
	"errors"
	"fmt"
	"github.com/strata-edge/strata/pkg/passhash"
	"net"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	ev "github.com/strata-edge/strata/gen/strata/events/iam/v1"
	iamv1 "github.com/strata-edge/strata/gen/strata/iam/v1"
	"github.com/strata-edge/strata/pkg/apiauth"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/ids"
)

// Session cookie names. With TLS the cookie gets the __Host- prefix, which
// browsers accept only from a secure origin, for path "/" and without a
// domain, so a sibling subdomain cannot plant or overwrite it.
const (
	SessionCookie       = "strata_session"
	SecureSessionCookie = "__Host-strata_session"
)

func (s *Service) cookieName() string {
	if s.secure {
		return SecureSessionCookie
	}
	return SessionCookie
}

// errBadCredentials is a wrong user name or password; callers never learn
// which.
var errBadCredentials = errors.New("wrong user name or password")

func tooManyFailures(name string, d time.Duration) error {
	return connect.NewError(connect.CodeResourceExhausted,
		fmt.Errorf("too many failed logins for user %q: try again in %s", name, d))
}

// clientAddress is the caller's IP address, without the port.
func clientAddress(ctx context.Context) string {
	info, ok := connect.CallInfoForHandlerContext(ctx)
	if !ok {
		return "unknown"
	}
	addr := info.Peer().Addr
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

func (h *handler) Login(ctx context.Context, req *iamv1.LoginRequest) (*iamv1.LoginResponse, error) {
	addr := clientAddress(ctx)
	if d := h.limits.addrs.take(addr); d > 0 {
		return nil, connect.NewError(connect.CodeResourceExhausted,
			fmt.Errorf("too many login attempts from %s: try again in %s", addr, d))
	}
	name := strings.ToLower(strings.TrimSpace(req.User))
	var vs apierr.Fields
	if name == "" {
		vs.Add("user", "required")
	}
	if req.Password == "" {
		vs.Add("password", "required")
	}
	if err := vs.Err(); err != nil {
		return nil, h.fail(err)
	}
	if d := h.limits.users.wait(name); d > 0 {
		return nil, tooManyFailures(name, d)
	}
	method, err := h.checkCredentials(ctx, name, req.Password)
	if errors.Is(err, errBadCredentials) {
		h.limits.users.take(name)
		h.log.Info("iam: login failed", "user", name, "address", addr)
		return nil, unauthenticated(errBadCredentials.Error())
	}
	if errors.Is(err, errLDAPUnavailable) {
		h.log.Error("iam: LDAP login failed", "user", name, "err", err)
		return nil, connect.NewError(connect.CodeUnavailable, errors.New("the LDAP directory is unavailable, try again later"))
	}
	if err != nil {
		return nil, h.fail(err)
	}
	id, secret := ids.New(prefixSession), apiauth.NewToken()
	expires := h.now().Add(h.ttl)
	err = h.exec(ctx, name, func(st *state) (change, error) {
		return change{stream: sessionStream(id), events: msgs(&ev.SessionCreated{
			Id: id, User: name, ExpiresAt: timestamppb.New(expires), SecretHash: hashSecret(secret),
			ClientAddress: addr, Method: method,
		})}, nil
	})
	if err != nil {
		return nil, h.fail(err)
	}
	res := &iamv1.LoginResponse{User: h.userProto(name), ExpiresAt: timestamppb.New(expires)}
	if req.ReturnToken {
		res.Token = secret
	} else if info, ok := connect.CallInfoForHandlerContext(ctx); ok {
		c := &http.Cookie{Name: h.cookieName(), Value: secret, Path: "/", MaxAge: int(h.ttl / time.Second),
			HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteStrictMode}
		info.ResponseHeader().Add("Set-Cookie", c.String())
	}
	return res, nil
}

// checkCredentials verifies a password locally or against LDAP and returns
// the login method. Unknown users cost as much as known ones.
func (s *Service) checkCredentials(ctx context.Context, name, password string) (string, error) {
	var (
		exists, disabled bool
		source, hash     string
		kind             iamv1.UserKind
	)
	s.proj.Read(func(st *state) {
		if u := st.users[name]; u != nil {
			exists, disabled, source, hash, kind = true, u.disabled, u.source, u.passwordHash, u.kind
		}
	})
	switch {
	case exists && source == sourceLocal:
		if hash == "" || kind == iamv1.UserKind_USER_KIND_SERVICE_ACCOUNT {
			_, _ = passhash.Verify(s.dummyHash, password)
			return "", errBadCredentials
		}
		ok, err := passhash.Verify(hash, password)
		if err != nil {
			return "", fmt.Errorf("stored password of %q: %w", name, err)
		}
		if !ok {
			return "", errBadCredentials
		}
		if disabled {
			return "", permissionDenied("user %q is disabled", name)
		}
		return "password", nil
	case s.ldap != nil && (!exists || source == sourceLDAP):
		id, err := s.ldap.authenticate(name, password)
		if err != nil {
			return "", err
		}
		if err := s.provisionLDAPUser(ctx, name, id); err != nil {
			return "", err
		}
		if disabled {
			return "", permissionDenied("user %q is disabled", name)
		}
		return "ldap", nil
	default:
		_, _ = passhash.Verify(s.dummyHash, password)
		return "", errBadCredentials
	}
}

func (h *handler) Logout(ctx context.Context, _ *iamv1.LogoutRequest) (*iamv1.LogoutResponse, error) {
	info, ok := connect.CallInfoForHandlerContext(ctx)
	if !ok {
		return &iamv1.LogoutResponse{}, nil
	}
	// Clear the cookie whatever happens.
	clear := &http.Cookie{Name: h.cookieName(), Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteStrictMode}
	info.ResponseHeader().Add("Set-Cookie", clear.String())
	scheme, secret, _ := strings.Cut(info.RequestHeader().Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || secret == "" {
		return &iamv1.LogoutResponse{}, nil
	}
	h2 := hashSecret(strings.TrimSpace(secret))
	var id, user string
	h.proj.Read(func(st *state) {
		if sid, ok := st.sessionByHash[h2]; ok && !st.sessions[sid].ended {
			id, user = sid, st.sessions[sid].user
		}
	})
	if id == "" {
		return &iamv1.LogoutResponse{}, nil
	}
	err := h.exec(ctx, user, func(st *state) (change, error) {
		if st.sessions[id].ended {
			return change{}, nil
		}
		return change{stream: sessionStream(id), events: msgs(&ev.SessionEnded{Id: id, Reason: "logout"})}, nil
	})
	return apierr.Reply(h.log, &iamv1.LogoutResponse{}, err)
}

func (h *handler) WhoAmI(ctx context.Context, _ *iamv1.WhoAmIRequest) (*iamv1.WhoAmIResponse, error) {
	p, _ := apiauth.PrincipalFrom(ctx)
	out := &iamv1.WhoAmIResponse{Name: p.Name, Kind: p.Kind, CredentialId: p.CredentialID}
	if isBootstrap(p) {
		out.Grants = []*iamv1.Grant{{Role: "super_admin", Scope: &iamv1.Scope{Kind: "all"}}}
		return out, nil
	}
	h.proj.Read(func(st *state) {
		if u := st.users[p.Name]; u != nil {
			out.User = userProto(u)
			for _, g := range st.grantsOf(p.Name) {
				out.Grants = append(out.Grants, grantProto(g))
			}
		}
	})
	return out, nil
}

// Middleware protects the whole API (every service) for browsers: it rejects
// cross-origin state-changing requests (http.CrossOriginProtection; requests
// without Sec-Fetch-Site or Origin, such as the CLI's, pass), and turns the
// session cookie into "Authorization: Bearer" for the authentication
// interceptor when no Authorization header is present.
func (s *Service) Middleware(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	for _, o := range s.origins {
		_ = cop.AddTrustedOrigin(o) // validated by New
	}
	ew := connect.NewErrorWriter()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := connect.NewError(connect.CodePermissionDenied,
			errors.New("cross-origin request rejected: state-changing requests must come from the console's own origin"))
		if ew.IsSupported(r) {
			_ = ew.Write(w, r, err)
			return
		}
		http.Error(w, err.Message(), http.StatusForbidden)
	}))
	return cop.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			// Only the cookie this server sets: with TLS a plain-named one
			// could have been planted by a sibling subdomain.
			if c, err := r.Cookie(s.cookieName()); err == nil && c.Value != "" {
				r = r.Clone(r.Context())
				r.Header.Set("Authorization", "Bearer "+c.Value)
			}
		}
		next.ServeHTTP(w, r)
	}))
}

package apiauth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"

	"connectrpc.com/connect"
)

// RequestIDHeader carries the request id in both directions: a caller may send
// one (to correlate its own logs), and every response echoes the id in use.
const RequestIDHeader = "X-Request-Id"

// maxRequestIDLen bounds caller-chosen request ids; they end up in event metadata.
const maxRequestIDLen = 128

// ErrInvalidToken is returned by an Authenticator for a token it does not accept.
var ErrInvalidToken = errors.New("invalid token")

// Authenticator turns a bearer token into a Principal. It returns an error
// (ErrInvalidToken, possibly wrapped) when the token is not accepted.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (Principal, error)
}

// AuthenticatorFunc adapts a function to Authenticator.
type AuthenticatorFunc func(ctx context.Context, token string) (Principal, error)

// Authenticate calls f.
func (f AuthenticatorFunc) Authenticate(ctx context.Context, token string) (Principal, error) {
	return f(ctx, token)
}

// Option configures NewInterceptor.
type Option func(*interceptor)

// WithPublicProcedures exempts full procedure names (e.g.
// "/strata.config.v1.NodeService/Join") from authentication. Such RPCs still get
// a request id; they authenticate the caller themselves.
func WithPublicProcedures(procedures ...string) Option {
	return func(i *interceptor) {
		for _, p := range procedures {
			i.public[p] = true
		}
	}
}

// exemptServices are infrastructure endpoints that carry no data: health checks
// for load balancers and reflection for tooling (schemas are public anyway).
var exemptServices = []string{
	"/grpc.health.v1.Health/",
	"/grpc.reflection.v1.ServerReflection/",
	"/grpc.reflection.v1alpha.ServerReflection/",
}

// NewInterceptor returns a handler interceptor that denies every RPC without a
// valid "Authorization: Bearer <token>" header (code Unauthenticated), except
// gRPC health, gRPC reflection and procedures named with WithPublicProcedures.
// Accepted calls carry the Principal and a request id in their context; the
// request id is taken from the X-Request-Id header when it is sane, generated
// otherwise, and echoed in the response. On clients it does nothing.
func NewInterceptor(auth Authenticator, opts ...Option) connect.Interceptor {
	i := &interceptor{auth: auth, public: map[string]bool{}}
	for _, o := range opts {
		o(i)
	}
	return i
}

type interceptor struct {
	auth   Authenticator
	public map[string]bool
}

func (i *interceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().IsClient {
			return next(ctx, req)
		}
		id := requestIDFrom(req.Header())
		ctx, err := i.admit(ctx, req.Spec().Procedure, req.Header(), id)
		if err == nil {
			var res connect.AnyResponse
			res, err = next(ctx, req)
			if err == nil {
				res.Header().Set(RequestIDHeader, id)
				return res, nil
			}
		}
		return nil, withRequestIDMeta(err, id)
	}
}

func (i *interceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (i *interceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		id := requestIDFrom(conn.RequestHeader())
		conn.ResponseHeader().Set(RequestIDHeader, id)
		ctx, err := i.admit(ctx, conn.Spec().Procedure, conn.RequestHeader(), id)
		if err != nil {
			return err
		}
		return next(ctx, conn)
	}
}

// admit authenticates the call and returns the context the handler runs with.
func (i *interceptor) admit(ctx context.Context, procedure string, h http.Header, id string) (context.Context, error) {
	ctx = WithRequestID(ctx, id)
	if i.isPublic(procedure) {
		return ctx, nil
	}
	token, err := bearerToken(h)
	if err != nil {
		return ctx, connect.NewError(connect.CodeUnauthenticated, err)
	}
	p, err := i.auth.Authenticate(ctx, token)
	if err != nil {
		if errors.Is(err, ErrInvalidToken) {
			return ctx, connect.NewError(connect.CodeUnauthenticated, errors.New(rejection(err)))
		}
		// Anything else is a failure of the authenticator itself, not of the caller.
		return ctx, connect.NewError(connect.CodeUnavailable, errors.New("authentication is unavailable, try again"))
	}
	return WithPrincipal(ctx, p), nil
}

// rejection is the caller's message for a refused token. An authenticator
// that knows why (expired, revoked, user disabled) wraps ErrInvalidToken with
// the reason, which the holder of the token may learn; a bare ErrInvalidToken
// says nothing more than "not accepted".
func rejection(err error) string {
	reason := strings.TrimSuffix(err.Error(), ": "+ErrInvalidToken.Error())
	if err == ErrInvalidToken || reason == "" {
		return "invalid bearer token: the token is unknown, revoked or mistyped"
	}
	return "invalid bearer token: " + reason
}

func (i *interceptor) isPublic(procedure string) bool {
	if i.public[procedure] {
		return true
	}
	for _, prefix := range exemptServices {
		if strings.HasPrefix(procedure, prefix) {
			return true
		}
	}
	return false
}

// bearerToken extracts the token of an "Authorization: Bearer <token>" header.
func bearerToken(h http.Header) (string, error) {
	v := h.Get("Authorization")
	if v == "" {
		return "", errors.New(`missing credentials: send the header "Authorization: Bearer <token>" (strata CLI: --token, --token-file or STRATA_TOKEN)`)
	}
	scheme, token, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", errors.New(`malformed Authorization header: want "Bearer <token>"`)
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return "", errors.New(`malformed Authorization header: the bearer token is empty`)
	}
	return token, nil
}

// requestIDFrom returns the caller's request id when it is sane (short, printable
// token characters only), or a new random one.
func requestIDFrom(h http.Header) string {
	if id := h.Get(RequestIDHeader); saneRequestID(id) {
		return id
	}
	return NewRequestID()
}

func saneRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for _, c := range id {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '_', c == '.', c == ':':
		default:
			return false
		}
	}
	return true
}

// NewRequestID returns a random request id (32 hex digits).
func NewRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// withRequestIDMeta attaches the request id to an error's metadata, so that
// failed calls can be correlated with server logs too.
func withRequestIDMeta(err error, id string) error {
	// Other errors are left alone: connect maps them (context errors included).
	var ce *connect.Error
	if errors.As(err, &ce) {
		ce.Meta().Set(RequestIDHeader, id)
	}
	return err
}

// BearerToken returns a client interceptor that sends "Authorization: Bearer
// <token>" with every call.
func BearerToken(token string) connect.Interceptor {
	return &bearerClient{value: "Bearer " + token}
}

type bearerClient struct{ value string }

func (b *bearerClient) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().IsClient {
			req.Header().Set("Authorization", b.value)
		}
		return next(ctx, req)
	}
}

func (b *bearerClient) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		conn.RequestHeader().Set("Authorization", b.value)
		return conn
	}
}

func (b *bearerClient) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

var (
	_ connect.Interceptor = (*interceptor)(nil)
	_ connect.Interceptor = (*bearerClient)(nil)
)

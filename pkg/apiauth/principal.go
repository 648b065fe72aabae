// Package apiauth authenticates API callers and carries who they are through the
// request context, so that services can record the actor of every event.
package apiauth

import "context"

// Principal is an authenticated caller.
type Principal struct {
	// Name is recorded as the actor of the events the caller causes,
	// e.g. "admin" (bootstrap token) or a user name.
	Name string
	// Kind is "bootstrap", "user", "token" or "system".
	Kind string
	// CredentialID names the credential the caller presented: an API token
	// id ("tok_..."), a console session id ("ses_...") or "bootstrap"; empty
	// when unknown. Logout and token revocation use it.
	CredentialID string
}

type principalKey struct{}
type requestIDKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the caller stored by the auth interceptor.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// Actor is the name to record for events caused from ctx ("system" when no
// principal is attached, e.g. background work).
func Actor(ctx context.Context) string {
	if p, ok := PrincipalFrom(ctx); ok && p.Name != "" {
		return p.Name
	}
	return "system"
}

// WithRequestID returns ctx carrying the request id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the request id set by the interceptor, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

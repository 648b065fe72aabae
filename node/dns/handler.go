package dns

import (
	"context"
	"net/netip"

	mdns "github.com/miekg/dns"
)

// Handler answers one DNS request, CoreDNS style.
//
// Contract: when the returned rcode is SERVFAIL, REFUSED, FORMERR or NOTIMP the
// handler has written nothing and the server writes a reply with that rcode;
// for any other rcode the handler has written the reply itself. err is for
// logging only.
type Handler interface {
	ServeDNS(ctx context.Context, w mdns.ResponseWriter, r *mdns.Msg) (rcode int, err error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, w mdns.ResponseWriter, r *mdns.Msg) (int, error)

// ServeDNS calls f.
func (f HandlerFunc) ServeDNS(ctx context.Context, w mdns.ResponseWriter, r *mdns.Msg) (int, error) {
	return f(ctx, w, r)
}

// Middleware wraps the next handler of the chain.
type Middleware func(next Handler) Handler

// chain builds the handler chain; the order is the slice order, the first
// element sees the request first.
func chain(last Handler, mws ...Middleware) Handler {
	h := last
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// written reports whether a handler that returned rcode has written a reply
// (see the Handler contract).
func written(rcode int) bool {
	switch rcode {
	case mdns.RcodeServerFailure, mdns.RcodeRefused, mdns.RcodeFormatError, mdns.RcodeNotImplemented:
		return false
	}
	return true
}

// request is the per-query state handlers share through the context.
type request struct {
	// client is the address answers are chosen for: the EDNS Client Subnet
	// address when present, else the resolver's address.
	client netip.Addr
	// ecs is the query's client subnet option, echoed with a scope.
	ecs *mdns.EDNS0_SUBNET
	// usedGeo is set when a geo rule decided the answer (scope = source prefix).
	usedGeo bool
	// udpSize is the largest UDP reply the client accepts; 0 for TCP.
	udpSize int
}

type requestKey struct{}

func withRequest(ctx context.Context, st *request) context.Context {
	return context.WithValue(ctx, requestKey{}, st)
}

func requestFrom(ctx context.Context) *request {
	if st, ok := ctx.Value(requestKey{}).(*request); ok {
		return st
	}
	return &request{}
}

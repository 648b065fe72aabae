package proxy

import (
	"bytes"
	"net/http"
	"strings"

	"github.com/valyala/fasthttp"
)

// ACMEChallengePath is where ACME HTTP-01 validation requests arrive
// (RFC 8555 section 8.3); the plain listener answers them from
// Options.ACMEChallenge before any app routing.
const ACMEChallengePath = "/.well-known/acme-challenge/"

var acmePrefix = []byte(ACMEChallengePath)

// acmeFast answers an HTTP-01 challenge on the fast path; false when the
// request is not one or the token is unknown (it then routes as usual).
func (p *Proxy) acmeFast(ctx *fasthttp.RequestCtx) bool {
	token, ok := bytes.CutPrefix(ctx.Path(), acmePrefix)
	if !ok || len(token) == 0 {
		return false
	}
	keyAuth, ok := p.opts.ACMEChallenge(string(token))
	if !ok {
		return false
	}
	ctx.SetStatusCode(http.StatusOK)
	ctx.SetContentType("text/plain")
	ctx.SetBodyString(keyAuth)
	return true
}

// acmeStd is acmeFast for the net/http plain listener.
func (p *Proxy) acmeStd(w http.ResponseWriter, r *http.Request) bool {
	token, ok := strings.CutPrefix(r.URL.Path, ACMEChallengePath)
	if !ok || token == "" {
		return false
	}
	keyAuth, ok := p.opts.ACMEChallenge(token)
	if !ok {
		return false
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte(keyAuth))
	return true
}

package proxy

import (
	"github.com/strata-edge/strata/node/challenge"
)

// The challenge hook (node/challenge): answers to a challenge page on every
// app's host, then the challenge action of the matched rules for clients
// without a clearance. Rate limits and WAF custom rules whose outcome is a
// challenge call serveChallenge with their own parameters.

// challenge answers the request when it is a challenge answer or when a
// matched rule challenges a client without a clearance; false: the request
// goes on.
func (p *Proxy) challenge(x exchange, f *flow) bool {
	c := p.challenger
	if c.IsVerify(x) {
		p.answer(x, f, c.Verify(x))
		return true
	}
	if f.plan.Challenge == nil {
		return false
	}
	return p.serveChallenge(x, f, *f.plan.Challenge)
}

// serveChallenge serves the challenge page to a client without a clearance
// for params and reports whether it did (false: the client is cleared and
// the request goes on).
func (p *Proxy) serveChallenge(x exchange, f *flow, params challenge.Params) bool {
	if p.challenger.Check(x, params) {
		return false
	}
	p.answer(x, f, p.challenger.Serve(x, params))
	return true
}

// Challenger is the proxy's challenge issuer (the one Options.Challenge
// named, or the proxy's own).
func (p *Proxy) Challenger() *challenge.Challenger { return p.challenger }

// answer sends a challenge response; its headers go out with the response
// head (finish).
func (p *Proxy) answer(x exchange, f *flow, r challenge.Response) {
	f.header = append(f.header, r.Header...)
	x.respond(r.Status, r.ContentType, r.Body)
}

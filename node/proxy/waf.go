package proxy

import (
	"bytes"
	"io"
	"net/http"

	"github.com/strata-edge/strata/node/challenge"
	"github.com/strata-edge/strata/node/waf"
	"github.com/strata-edge/strata/pkg/wafengine"
)

// The WAF hook (node/waf), after the rate limits and before the terminal
// action: the app's policy inspects the request (headers always, the body
// only where the policy asks for its content type); BLOCK answers the
// verdict's status, CHALLENGE serves the challenge page (default
// difficulty) to clients without a clearance; DETECT, LOG and ALLOW let the request on. Both engines'
// states implement wafengine.Request below.

var (
	_ wafengine.Request = (*fastState)(nil)
	_ wafengine.Request = (*stdState)(nil)
)

// WAFRequestIDHeader names the hit of a request the WAF blocked (the
// request id of strata waf hits), in the answer's head as in its text.
const WAFRequestIDHeader = "Strata-Waf-Request-Id"

// waf runs the app's WAF policy on x; true when it answered the request.
func (p *Proxy) waf(x exchange, f *flow) bool {
	w := p.wafs.Load().For(f.app.ID)
	if w == nil {
		return false
	}
	req, ok := x.(wafengine.Request)
	if !ok {
		return false
	}
	v, id := p.wafRT.Inspect(w, f.app.ID, req)
	switch v.Action {
	case wafengine.Block:
		msg := "request blocked by the WAF (request id " + id + ")\n"
		// Also as a header: a HEAD answer has no body to carry it.
		f.header = append(f.header, [2]string{WAFRequestIDHeader, id})
		if v.Status == http.StatusRequestEntityTooLarge {
			x.refuse(v.Status, msg) // the rest of the body stays unread
		} else {
			x.text(v.Status, msg)
		}
		return true
	case wafengine.Challenge:
		// Cleared clients pass (the custom rule's hit is still reported).
		return p.serveChallenge(x, f, challenge.ParamsOf(nil))
	}
	return false
}

// commitWAF swaps in the WAF policies of the config being committed.
func (p *Proxy) commitWAF(ws *waf.Set) {
	p.wafs.Store(ws)
	p.wafRT.Commit(ws)
}

// fasthttp: the server has read the whole body (up to
// Options.MaxRequestBodyBytes) before the handler runs.

func (st *fastState) Proto() string {
	if p := st.ctx.Request.Header.Protocol(); len(p) > 0 {
		return b2s(p)
	}
	return "HTTP/1.1"
}

func (st *fastState) VisitHeaders(fn func(name, value string)) {
	for k, v := range st.ctx.Request.Header.All() {
		if string(k) == "Cookie" {
			fn("Cookie", string(v)) // a scratch buffer fasthttp reuses
			continue
		}
		fn(b2s(k), b2s(v))
	}
}

func (st *fastState) Body(max int) ([]byte, bool) {
	b := st.ctx.Request.Body()
	if len(b) > max {
		return b[:max], true
	}
	return b, false
}

// net/http: the body is read up to max+1 bytes and put back in front of
// the rest, so the upstream gets all of it.

func (st *stdState) Proto() string { return st.r.Proto }

func (st *stdState) VisitHeaders(fn func(name, value string)) {
	fn("Host", st.r.Host)
	for k, vs := range st.r.Header {
		for _, v := range vs {
			fn(k, v)
		}
	}
}

func (st *stdState) Body(max int) ([]byte, bool) {
	r := st.r
	if r.Body == nil || r.Body == http.NoBody {
		return nil, false
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(min(r.ContentLength, int64(max)+1)))
	}
	_, _ = buf.ReadFrom(io.LimitReader(r.Body, int64(max)+1)) // an error shows again to the upstream read
	b := buf.Bytes()
	r.Body = replayBody{io.MultiReader(bytes.NewReader(b), r.Body), r.Body}
	if len(b) > max {
		return b[:max], true
	}
	return b, false
}

// replayBody reads what the WAF read, then the rest; Close closes the
// original body.
type replayBody struct {
	io.Reader
	io.Closer
}

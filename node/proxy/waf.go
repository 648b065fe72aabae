package proxy

import (
	"bytes"
	"io"
	"net/http"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/strata-edge/strata/node/challenge"
	"github.com/strata-edge/strata/node/proxy/stats"
	"github.com/strata-edge/strata/node/proxy/upstream"
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
	v, id, rx := p.wafRT.Begin(w, f.app.ID, req)
	p.countWAF(f, v)
	if rx != nil {
		f.waf, f.wafX = w, rx // the response is inspected before it is sent
	}
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
		f.wafX.Close()
		return true
	case wafengine.Challenge:
		// Cleared clients pass (the custom rule's hit is still reported).
		return p.serveChallenge(x, f, challenge.ParamsOf(nil))
	}
	return false
}

// Response inspection (inspect_responses), one decision for both engines:
// each adapter calls wafResponse with its upstream response before any of
// it is sent (fasthttp: after HostClient.Do, which has read the whole
// response; net/http: ReverseProxy's ModifyResponse, before the head is
// written, reading at most the body limit plus one byte and putting it
// back in front of the rest, so a larger response still streams). A
// response the policy blocks is replaced by the blocked answer; the
// upstream's body is closed unsent. Cache fills are inspected before they
// are stored (wafFill), so a hit was inspected when it was stored.

// wafResponse inspects resp, the upstream's response to req, when the
// request's policy asked for it (flow.wafX); blocked: the status and text
// that replace it.
func (p *Proxy) wafResponse(req wafengine.Request, f *flow, resp wafengine.Response) (status int, msg string, blocked bool) {
	x := f.wafX
	if x == nil {
		return 0, "", false
	}
	f.wafX = nil
	if resp.StatusCode() == http.StatusSwitchingProtocols {
		x.Close() // a tunnel, not a response
		return 0, "", false
	}
	v, id := p.wafRT.Response(f.waf, f.app.ID, req, x, resp)
	p.countWAF(f, v)
	if v.Action != wafengine.Block {
		return 0, "", false
	}
	f.header = append(f.header, [2]string{WAFRequestIDHeader, id})
	return v.Status, "response blocked by the WAF (request id " + id + ")\n", true
}

// wafBlocked is the error of a response the WAF blocked, for the net/http
// ErrorHandler and a cache fill.
type wafBlocked struct {
	status int
	msg    string
}

func (e *wafBlocked) Error() string { return e.msg }

// wafFill inspects a cache fill's response before it is stored, in a
// transaction of its own over the fill's request (the client's request
// was reported by its own inspection; a fill may serve many clients).
func (p *Proxy) wafFill(st *stdState, resp *http.Response) error {
	app := st.plan.App
	if app == nil {
		return nil
	}
	w := p.wafs.Load().For(app.ID)
	if !w.InspectsResponses() {
		return nil
	}
	_, x := w.Begin(st)
	f := flow{app: app, waf: w, wafX: x}
	if status, msg, blocked := p.wafResponse(st, &f, stdResponse{resp}); blocked {
		return &wafBlocked{status, msg}
	}
	return nil
}

// countWAF counts a verdict's matches in the app's per-second aggregates
// (docs/metrics.md: per rule and action).
func (p *Proxy) countWAF(f *flow, v wafengine.Verdict) {
	if v.Action == wafengine.None || !f.app.Stats.PerSecond() {
		return
	}
	f.app.Stats.WAF(time.Now(), wafAction(v.Action), len(v.Matches), func(i int) string { return v.Matches[i].RuleID })
}

// wafAction is how the per-second metrics count a verdict's action.
func wafAction(a wafengine.Action) stats.WAFAction {
	switch a {
	case wafengine.Block:
		return stats.WAFBlocked
	case wafengine.Challenge:
		return stats.WAFChallenged
	}
	return stats.WAFDetected
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

// fastResponse is an upstream response on the fasthttp path.
type fastResponse struct{ r *fasthttp.Response }

func (fr fastResponse) StatusCode() int { return fr.r.StatusCode() }

func (fr fastResponse) VisitHeaders(fn func(name, value string)) {
	for k, v := range fr.r.Header.All() {
		fn(string(k), string(v)) // Coraza keeps them past fasthttp's buffers
	}
}

func (fr fastResponse) Body(max int) ([]byte, bool) { return upstream.PeekBody(fr.r, max) }

// stdResponse is an upstream response on the net/http path.
type stdResponse struct{ r *http.Response }

func (sr stdResponse) StatusCode() int { return sr.r.StatusCode }

func (sr stdResponse) VisitHeaders(fn func(name, value string)) {
	for k, vs := range sr.r.Header {
		for _, v := range vs {
			fn(k, v)
		}
	}
}

func (sr stdResponse) Body(max int) ([]byte, bool) {
	r := sr.r
	if r.Body == nil || r.Body == http.NoBody {
		return nil, false
	}
	b, more := readUpTo(r.Body, max)
	r.Body = replayBody{io.MultiReader(bytes.NewReader(b), r.Body), r.Body}
	return b[:min(len(b), max)], more
}

// readUpTo reads up to max+1 bytes of r (an error shows again to the next
// read); more: there were more than max.
func readUpTo(r io.Reader, max int) (b []byte, more bool) {
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(io.LimitReader(r, int64(max)+1))
	return buf.Bytes(), buf.Len() > max
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
	b, more := readUpTo(r.Body, max)
	r.Body = replayBody{io.MultiReader(bytes.NewReader(b), r.Body), r.Body}
	return b[:min(len(b), max)], more
}

// replayBody reads what the WAF read, then the rest; Close closes the
// original body.
type replayBody struct {
	io.Reader
	io.Closer
}

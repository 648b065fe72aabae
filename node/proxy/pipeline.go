package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/strata-edge/strata/node/cache"
	"github.com/strata-edge/strata/node/proxy/actions"
	"github.com/strata-edge/strata/node/proxy/route"
	"github.com/strata-edge/strata/node/proxy/stats"
	"github.com/strata-edge/strata/node/proxy/upstream"
	"github.com/strata-edge/strata/node/tier"
	"github.com/strata-edge/strata/pkg/metricsql"
	"github.com/strata-edge/strata/pkg/wafengine"
)

// The request pipeline, one for both engines: handle decides what happens
// to a request, finish fixes the response head, done counts and logs it.
// Each server library has a thin adapter that implements exchange over its
// request and response (fast.go for fasthttp, std.go for net/http) and
// calls these three in order; finish runs when the library is about to
// write the response head.

// exchange is one request and its response, as the pipeline drives them.
// The route.Request methods read the request as the rules see it.
type exchange interface {
	route.Request
	DelHeader(name string) // a request header

	// lineProto is the request's protocol for checkRequestLine, "" when
	// the server library checks it itself.
	lineProto() string
	// conform runs the checks the library leaves to us (conform.go); false
	// when it answered the request.
	conform() bool
	// routeHTTPS routes and rules a child node's miss of an https request
	// as https (tier.go).
	routeHTTPS()
	setPort(port uint32)
	// normalizePath forwards the path the rules match (pathNeedsNormalizing).
	normalizePath()
	upgrade() bool // a protocol upgrade (WebSocket)
	// handOff gives the request, routed but not yet counted, to another
	// engine when this one cannot serve its plan (loop.go); true: done here.
	handOff(p *Proxy, f *flow) bool
	// requestSize is the size of the request line plus headers and of the
	// body (-1: streamed, not known yet); limitBody makes a streamed body
	// longer than max fail with 413; netConn is the client connection.
	// All three for limits.go.
	requestSize() (header int, body int64)
	limitBody(max int64)
	netConn() net.Conn

	text(status int, body string)   // a plain-text answer
	refuse(status int, body string) // text, then close the connection
	redirect(status int, location []byte)
	respond(status int, contentType string, body []byte)
	forward(p *Proxy) // to the plan's upstream (retries: attempt)
	cached(p *Proxy)  // through the cache (cache.go)

	// result is what done records: status, body bytes in and out, protocol.
	result() (status, in, out int, proto string)
	// headerFunc reads request headers for a Metric SQL row (bound once
	// per pooled state where the engine allows).
	headerFunc() func(name string) string
}

// flow is the pipeline's memory of one request, in each engine's state.
type flow struct {
	plan   route.Plan
	app    *route.App
	srv    *upstream.Server    // the server that answered (or was tried last)
	peer   bool                // a child node's tier request (Strata-Tier-Hops from a peer)
	bypass bool                // a cache action said bypass: mark the response
	start  time.Time           // zero unless the access log or per-second stats need it
	cache  string              // the cache status sent (HIT, MISS, ...); "" if none
	buf    []byte              // scratch, kept across requests by pooled states
	header [][2]string         // response headers of a hook's answer (challenge cookie)
	waf    *wafengine.WAF      // the policy whose exchange wafX is
	wafX   *wafengine.Exchange // the request's WAF transaction, open for the response (waf.go)
	rec    stats.Done
	req    metricsql.Request
}

// handle runs the pipeline up to the response: ACME, request checks, tier
// peer detection, routing, rule evaluation and the terminal action.
func (p *Proxy) handle(x exchange, f *flow) {
	if p.timed {
		f.start = time.Now()
	}
	if p.opts.ACMEChallenge != nil && x.Scheme() == "http" && p.acme(x) {
		return
	}
	if status, msg := checkRequestLine(x.Method(), x.RequestURI(), x.lineProto()); status != 0 {
		x.refuse(status, msg)
		return
	}
	if !x.conform() {
		return
	}
	rt := p.rt.Load()
	if rt == nil {
		x.text(http.StatusServiceUnavailable, "no configuration loaded yet\n")
		return
	}
	// The tier headers count only from a peer (tierPeer); requests without
	// them never ask.
	if _, ok := x.Header(tier.HopsHeader); ok {
		if f.peer = p.tierPeer(x.ClientIP()); !f.peer {
			x.DelHeader(tier.HopsHeader) // a client's: a plain request
		} else if proto, _ := x.Header("X-Forwarded-Proto"); proto == "https" {
			x.routeHTTPS()
		}
	}
	https := x.Scheme() == "https"
	port := p.httpPort
	if https {
		port = p.httpsPort
	}
	x.setPort(port)
	if f.app = rt.Lookup(https, port, x.Host()); f.app == nil {
		x.text(http.StatusNotFound, fmt.Sprintf("no application for host %q\n", x.Host()))
		return
	}
	x.normalizePath()
	plan := &f.plan
	f.app.Evaluate(x, plan)
	if x.handOff(p, f) {
		return // nothing counted yet: the general path serves it from the start
	}
	if p.limits(x, f) || p.challenge(x, f) || p.rateLimit(x, f) || p.waf(x, f) {
		return
	}
	switch plan.Kind {
	case route.Proxy:
		if p.useCache(plan, x.Method(), x.upgrade()) {
			if !plan.Cache.Bypass {
				x.cached(p)
				return
			}
			p.opts.Cache.CountBypass()
			f.bypass, f.cache = true, cache.StatusBypass
		}
		x.forward(p)
	case route.Redirect:
		f.buf = plan.Redirect.AppendLocation(f.buf[:0], x)
		x.redirect(plan.Redirect.Status, f.buf)
	case route.Respond:
		r := plan.Respond
		x.respond(r.Status, r.ContentType, r.Body)
	default:
		x.text(http.StatusNotFound, "no rule matched\n")
	}
}

// ACMEChallengePath is where ACME HTTP-01 validation requests arrive
// (RFC 8555 section 8.3); the plain listener answers them from
// Options.ACMEChallenge before any app routing.
const ACMEChallengePath = "/.well-known/acme-challenge/"

// acme answers an ACME HTTP-01 challenge; false when the request is not
// one or the token is unknown (it then routes as usual).
func (p *Proxy) acme(x exchange) bool {
	token, ok := strings.CutPrefix(x.Path(), ACMEChallengePath)
	if !ok || token == "" {
		return false
	}
	keyAuth, ok := p.opts.ACMEChallenge(token)
	if ok {
		x.respond(http.StatusOK, "text/plain", []byte(keyAuth))
	}
	return ok
}

// finish edits the response head just before it is written, whatever
// produced it (upstream, cache, rule or error): the cache bypass mark, the
// matched rules' response edits, then the tier mark, which rules can
// neither remove nor forge for a peer.
func (p *Proxy) finish(f *flow, h actions.HeaderEditor) {
	if f.bypass {
		h.SetHeader(cache.StatusHeader, cache.StatusBypass)
	}
	for _, kv := range f.header {
		h.AddHeader(kv[0], kv[1])
	}
	if f.plan.HasResponseEdits() {
		f.plan.ApplyResponse(h)
	}
	if f.peer {
		h.SetHeader(tier.AcceptedHeader, "1")
	}
}

// done counts the request in its app's stats (counters and per-second
// aggregates, one call), feeds the Metric SQL aggregators when any runs and
// writes the access log line.
func (p *Proxy) done(x exchange, f *flow) {
	f.wafX.Close() // no response was inspected (not proxied, or it failed)
	status, in, out, proto := x.result()
	var end time.Time
	if !f.start.IsZero() {
		end = time.Now()
	}
	if f.app != nil {
		d := &f.rec
		d.Status, d.BytesIn, d.BytesOut, d.Latency, d.Cache = status, in, out, -1, f.cache
		if f.app.Stats.PerSecond() {
			d.At, d.Path = end, x.Path()
			if !f.start.IsZero() {
				d.Latency = end.Sub(f.start)
			}
		}
		f.app.Stats.Done(d)
		*d = stats.Done{}
		if sink := p.opts.Requests; sink != nil && sink.Active() {
			p.feed(sink, x, f, status, in, out, end)
		}
	}
	if p.opts.AccessLog {
		p.accessLog(x, f, status, in, out, proto)
	}
}

// feed gives the request to the Metric SQL aggregators as a reqs row.
func (p *Proxy) feed(sink RequestSink, x exchange, f *flow, status, in, out int, end time.Time) {
	r := &f.req
	r.Time, r.App, r.Host, r.Path, r.Method, r.Status = end, f.app.ID, x.Host(), x.Path(), x.Method(), status
	r.BytesIn, r.BytesOut, r.LatencyMs = int64(in), int64(out), float64(end.Sub(f.start))/float64(time.Millisecond)
	r.ClientIP, r.CacheStatus, r.Header = x.ClientIP(), f.cache, x.headerFunc()
	r.Upstream, r.Rule = "", f.plan.DecidedBy()
	if f.srv != nil {
		r.Upstream = f.srv.Addr
	}
	sink.Add(r)
	*r = metricsql.Request{}
}

// attempt sends a request with send to servers that the plan's upstream
// picks until one answers. A failed connect (nothing sent) moves on to
// another server, for idempotent methods, up to the upstream's retries.
// It returns the last server tried (nil: none available) and the last
// error; every attempt is recorded in the app's stats (one call each).
func attempt(f *flow, v upstream.Request, retryable bool, send func(*upstream.Server) error) (*upstream.Server, error) {
	var a tries
	a.start(f, v, retryable)
	for {
		s := a.next()
		if s == nil || !a.end(send(s)) {
			return a.s, a.err
		}
	}
}

// tries is attempt step by step, for an engine that cannot block while a
// server answers (loop.go): next begins an attempt, end records it.
type tries struct {
	f         *flow
	v         upstream.Request
	retryable bool
	left      int
	tried     upstream.Tried
	s         *upstream.Server // the server tried last
	err       error            // the last error
	t0        time.Time
}

func (a *tries) start(f *flow, v upstream.Request, retryable bool) {
	*a = tries{f: f, v: v, retryable: retryable, left: 1 + f.plan.Upstream.Retries()}
}

// next picks a server and begins an attempt on it; nil when none is left
// (a.err says why).
func (a *tries) next() *upstream.Server {
	s, err := a.f.plan.Upstream.Pick(a.v, a.tried)
	if err != nil {
		if a.err == nil { // nothing tried: nothing was available
			a.err = err
			if st := a.f.plan.App.Stats; st != nil {
				st.Attempt(time.Now(), "", 0, stats.UpstreamNoServer)
			}
		}
		return nil
	}
	a.s = s
	a.tried.Add(s)
	s.Begin()
	a.t0 = time.Now()
	return s
}

// end records the attempt's outcome; true: try another server.
func (a *tries) end(err error) bool {
	s, st := a.s, a.f.plan.App.Stats
	s.End()
	t1 := time.Now()
	if err == nil {
		a.err = nil
		s.ReportSuccess()
		if st != nil {
			st.Attempt(t1, s.Addr, t1.Sub(a.t0), stats.AttemptOK)
		}
		return false
	}
	a.err = err
	if k, ok := upstreamErrorKind(err); ok && st != nil {
		st.Attempt(t1, s.Addr, t1.Sub(a.t0), k)
	}
	var de *upstream.DialError
	isDial := errors.As(err, &de)
	if isDial || isTimeout(err) {
		s.ReportFailure()
	}
	a.left--
	return isDial && a.retryable && a.left > 0
}

// accessLog writes one structured line per request at Info.
func (p *Proxy) accessLog(x exchange, f *flow, status, in, out int, proto string) {
	appID, up, srv := "", "", ""
	if f.app != nil {
		appID = f.app.ID
	}
	if f.srv != nil {
		up, srv = f.srv.Upstream().Name, f.srv.Addr
	}
	p.log.LogAttrs(context.Background(), slog.LevelInfo, "access",
		slog.String("app", appID),
		slog.String("client", x.ClientIP().String()),
		slog.String("proto", proto),
		slog.String("method", x.Method()),
		slog.String("host", x.Host()),
		slog.String("uri", x.RequestURI()),
		slog.Int("status", status),
		slog.Int("bytes_in", in),
		slog.Int("bytes_out", out),
		slog.String("upstream", up),
		slog.String("server", srv),
		slog.Duration("duration", time.Since(f.start)),
	)
}

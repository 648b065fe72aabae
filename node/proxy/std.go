package proxy

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/strata-edge/strata/node/cache"
	"github.com/strata-edge/strata/node/proxy/route"
	"github.com/strata-edge/strata/node/proxy/upstream"
	"github.com/strata-edge/strata/node/tier"
)

// The net/http path: the TLS listener (HTTP/1.1 and HTTP/2 by ALPN) and,
// with EngineStd, the plain listener (HTTP/1.1 and h2c). Proxying goes
// through httputil.ReverseProxy (trailers, streaming, flushing, protocol
// upgrades) with a RoundTripper that picks the server per attempt from the
// same route.Plan and balancers as the fast path.

func (p *Proxy) newStdServer(tls bool) *http.Server {
	srv := &http.Server{
		Handler:           stdHandler{p: p, tls: tls},
		ReadHeaderTimeout: p.opts.ReadHeaderTimeout,
		IdleTimeout:       p.opts.IdleTimeout,
		MaxHeaderBytes:    p.opts.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(p.log.Handler(), slog.LevelDebug),
		Protocols:         new(http.Protocols),
		ConnState:         countConns(&p.openConns),
		// "OPTIONS *" reaches the handler, which refuses it (checkRequestLine).
		DisableGeneralOptionsHandler: true,
	}
	srv.Protocols.SetHTTP1(true)
	// Advertise (and enforce) the protocol's default SETTINGS_MAX_FRAME_SIZE
	// rather than Go's 1 MiB, so a larger frame is the FRAME_SIZE_ERROR
	// RFC 9113 4.2 requires (h2spec http2/4.2/3), as nginx does. h2Guard
	// relies on both values (h2guard.go).
	srv.HTTP2 = &http.HTTP2Config{MaxReadFrameSize: h2MaxReadFrame, MaxDecoderHeaderTableSize: h2HeaderTable}
	if tls {
		srv.Protocols.SetHTTP2(true)
	} else {
		srv.Protocols.SetUnencryptedHTTP2(true)
	}
	return srv
}

type stdHandler struct {
	p   *Proxy
	tls bool
}

// stdState travels with the request through ReverseProxy (context value).
type stdState struct {
	view   *stdView
	plan   route.Plan
	grpc   bool
	server *upstream.Server
}

type stdStateKey struct{}

func stateOf(r *http.Request) *stdState {
	st, _ := r.Context().Value(stdStateKey{}).(*stdState)
	return st
}

func (h stdHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := h.p
	if !h.tls && p.opts.ACMEChallenge != nil && p.acmeStd(w, r) {
		return
	}
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	st := &stdState{view: newStdView(r, h.tls)}
	peer := false // a child node's tier request (Strata-Tier-Hops from a peer)
	if _, ok := r.Header[tier.HopsHeader]; ok {
		if peer = p.tierPeer(st.view.ClientIP()); !peer {
			r.Header.Del(tier.HopsHeader) // a client's: a plain request
		} else if tierHTTPS([]byte(r.Header.Get("X-Forwarded-Proto"))) {
			st.view.tls = true // a child's miss of an https request
		}
	}
	tls := st.view.tls
	var app *route.App
	defer func() {
		if app != nil {
			app.Stats.Observe(sw.status(), int(r.ContentLength), sw.bytes)
		}
		if p.opts.AccessLog {
			in := int(r.ContentLength)
			if in < 0 {
				in = 0
			}
			p.accessLog(accessEntry{
				app: app, srv: st.server, method: st.view.Method(), host: st.view.Host(),
				uri: st.view.RequestURI(), status: sw.status(), in: in, out: sw.bytes,
				client: st.view.ClientIP().String(), proto: r.Proto, dur: time.Since(start),
			})
		}
	}()

	if status, msg := checkRequestLine(r.Method, r.RequestURI, ""); status != 0 {
		if r.ProtoMajor == 1 {
			sw.Header().Set("Connection", "close")
		}
		stdText(sw, status, msg)
		return
	}
	for k := range r.Header {
		if strings.IndexByte(k, '_') >= 0 {
			delete(r.Header, k) // as nginx and the fast path (dropUnderscoreFast)
		}
	}
	rt := p.rt.Load()
	if rt == nil {
		stdText(sw, http.StatusServiceUnavailable, "no configuration loaded yet\n")
		return
	}
	port := p.httpPort
	if tls {
		port = p.httpsPort
	}
	st.view.port = port
	app = rt.Lookup(tls, port, st.view.Host())
	if app == nil {
		stdText(sw, http.StatusNotFound, fmt.Sprintf("no application for host %q\n", st.view.Host()))
		return
	}
	if peer {
		sw.Header().Set(tier.AcceptedHeader, "1")
	}
	// Forward what the rules match (conform.go).
	if pathNeedsNormalizing(r.URL.EscapedPath()) {
		r.URL.Path, r.URL.RawPath = st.view.path, ""
	}
	plan := &st.plan
	app.Evaluate(st.view, plan)
	switch plan.Kind {
	case route.Proxy:
		if r.ContentLength > int64(p.opts.MaxRequestBodyBytes) {
			plan.ApplyResponse(stdHeaderEditor(sw.Header()))
			stdText(sw, http.StatusRequestEntityTooLarge, "request body larger than "+strconv.Itoa(p.opts.MaxRequestBodyBytes)+" bytes\n")
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(sw, r.Body, int64(p.opts.MaxRequestBodyBytes))
		}
		if p.useCache(plan, r.Method, r.Header.Get("Upgrade") != "") {
			if !plan.Cache.Bypass {
				p.cacheStd(sw, r, tls, st)
				return
			}
			p.opts.Cache.CountBypass()
			sw.Header().Set(cache.StatusHeader, cache.StatusBypass)
		}
		st.grpc = r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc")
		p.reverse.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), stdStateKey{}, st)))
		return
	case route.Redirect:
		plan.ApplyResponse(stdHeaderEditor(sw.Header()))
		sw.Header().Set("Location", string(plan.Redirect.AppendLocation(nil, st.view)))
		sw.WriteHeader(plan.Redirect.Status)
	case route.Respond:
		plan.ApplyResponse(stdHeaderEditor(sw.Header()))
		sw.Header().Set("Content-Type", plan.Respond.ContentType)
		sw.Header().Set("Content-Length", strconv.Itoa(len(plan.Respond.Body)))
		sw.WriteHeader(plan.Respond.Status)
		_, _ = sw.Write(plan.Respond.Body)
	default:
		plan.ApplyResponse(stdHeaderEditor(sw.Header()))
		stdText(sw, http.StatusNotFound, "no rule matched\n")
	}
}

func (p *Proxy) newReverseProxy() *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			st := stateOf(pr.In)
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = "upstream.invalid" // set per attempt by the transport
			setForwardedStd(pr, st.view)
			// Rule edits last: a rule may override forwarding headers or the Host.
			if st.plan.HasRequestEdits() {
				st.plan.ApplyRequest(stdReqEditor{out: pr.Out})
			}
			if !st.grpc {
				pr.Out.Header.Del("Expect")
			}
		},
		Transport: stdTransport{},
		ModifyResponse: func(resp *http.Response) error {
			if st := stateOf(resp.Request); st != nil {
				st.plan.ApplyResponse(stdHeaderEditor(resp.Header))
			}
			return nil
		},
		ErrorHandler: p.stdError,
		BufferPool:   bufferPool{},
		ErrorLog:     log.New(discard{}, "", 0),
	}
}

// setForwardedStd mirrors setForwardedFast. ReverseProxy (Rewrite mode) has
// already removed hop-by-hop and X-Forwarded-* headers from pr.Out.
func setForwardedStd(pr *httputil.ProxyRequest, v *stdView) {
	ip := v.ClientIP().String()
	if prior := pr.In.Header.Values("X-Forwarded-For"); len(prior) > 0 {
		ip = strings.Join(prior, ", ") + ", " + ip
	}
	h := pr.Out.Header
	h.Set("X-Forwarded-For", ip)
	h.Set("X-Forwarded-Proto", v.Scheme())
	h.Set("X-Forwarded-Host", pr.In.Host)
	if prior := pr.In.Header.Values("Via"); len(prior) > 0 {
		h.Set("Via", strings.Join(prior, ", ")+", "+viaValue(pr.In))
	} else {
		h.Set("Via", viaValue(pr.In))
	}
}

func viaValue(r *http.Request) string {
	if r.ProtoMajor == 2 {
		return "2.0 strata"
	}
	return "1.1 strata"
}

// stdTransport sends each attempt to a server picked by the upstream's
// balancer, retrying on another server when connecting fails.
type stdTransport struct{}

// upstreamError carries the failure of the last attempt to the ErrorHandler.
type upstreamError struct {
	up  *upstream.Upstream
	srv *upstream.Server
	err error
}

func (e *upstreamError) Error() string { return e.err.Error() }
func (e *upstreamError) Unwrap() error { return e.err }

func (stdTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	st := stateOf(req)
	up := st.plan.Upstream
	attempts := 1 + up.Retries()
	retryable := upstream.IsIdempotent(req.Method)
	if req.Body != nil && req.Body != http.NoBody {
		// The inner transport closes the body on failure; keep it open so a
		// retry (after a failed connect, nothing read) can still send it.
		req.Body = noCloseBody{req.Body}
	}
	var tried upstream.Tried
	var lastErr error
	var s *upstream.Server
	for {
		next, err := up.Pick(st.view, tried)
		if err != nil {
			if lastErr == nil {
				lastErr = err
				countUpstreamError(st.plan.App.Stats, err)
			}
			break
		}
		s = next
		tried.Add(s)
		st.server = s
		out := *req
		u := *req.URL
		out.URL = &u
		u.Host = s.Addr
		var rt http.RoundTripper = s.HTTP1()
		if st.grpc {
			rt = s.HTTP2()
			if up.TLS() {
				u.Scheme = "https"
			}
		}
		s.Begin()
		t0 := time.Now()
		resp, err := rt.RoundTrip(&out)
		s.End()
		if err == nil {
			s.ReportSuccess()
			st.plan.App.Stats.ObserveUpstream(time.Since(t0))
			return resp, nil
		}
		lastErr = err
		countUpstreamError(st.plan.App.Stats, err)
		var de *upstream.DialError
		isDial := errors.As(err, &de)
		if isDial || isTimeout(err) {
			s.ReportFailure()
		}
		attempts--
		if !isDial || !retryable || attempts <= 0 {
			break
		}
	}
	return nil, &upstreamError{up: up, srv: s, err: lastErr}
}

func (p *Proxy) stdError(w http.ResponseWriter, r *http.Request, err error) {
	st := stateOf(r)
	if st != nil {
		st.plan.ApplyResponse(stdHeaderEditor(w.Header()))
	}
	var mbe *http.MaxBytesError
	var ue *upstreamError
	switch {
	case errors.As(err, &mbe):
		stdText(w, http.StatusRequestEntityTooLarge, "request body larger than "+strconv.FormatInt(mbe.Limit, 10)+" bytes\n")
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away; nobody reads this.
		w.WriteHeader(http.StatusBadGateway)
	case errors.As(err, &ue):
		status, msg := upstreamFailure(ue.up, ue.srv, ue.err)
		stdText(w, status, msg)
	default:
		up := "?"
		if st != nil && st.plan.Upstream != nil {
			up = st.plan.Upstream.Name
		}
		stdText(w, http.StatusBadGateway, fmt.Sprintf("upstream %q: %v\n", up, err))
	}
}

func stdText(w http.ResponseWriter, status int, body string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// statusWriter records the status and body bytes written. Unwrap lets
// http.ResponseController reach Flush and Hijack of the real writer
// (ReverseProxy uses them for streaming and upgrades).
type statusWriter struct {
	http.ResponseWriter
	code  int
	bytes int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 || w.code < 200 && code >= 200 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Flush() {
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

type noCloseBody struct {
	rc interface{ Read([]byte) (int, error) }
}

func (b noCloseBody) Read(p []byte) (int, error) { return b.rc.Read(p) }
func (noCloseBody) Close() error                 { return nil }

type bufferPool struct{}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufferPool) Get() []byte  { return *bufPool.Get().(*[]byte) }
func (bufferPool) Put(b []byte) { bufPool.Put(&b) }

type discard struct{}

func (discard) Write(b []byte) (int, error) { return len(b), nil }

package proxy

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"

	"github.com/strata-edge/strata/node/proxy/upstream"
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
		ConnContext:       withConn, // limits.go counts connections
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

// stdState is the net/http adapter of the pipeline (exchange). It travels
// with the request through ReverseProxy (context value).
type stdState struct {
	*stdView
	flow
	w          *statusWriter
	grpc       bool
	headerSize int // request line and headers (conform)
}

type stdStateKey struct{}

func stateOf(r *http.Request) *stdState {
	st, _ := r.Context().Value(stdStateKey{}).(*stdState)
	return st
}

func (h stdHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := &stdState{stdView: newStdView(r, h.tls)}
	st.w = &statusWriter{ResponseWriter: w, p: h.p, f: &st.flow}
	h.p.handle(st, &st.flow)
	h.p.done(st, &st.flow)
}

func (st *stdState) DelHeader(name string)      { st.r.Header.Del(name) }
func (st *stdState) lineProto() string          { return "" } // net/http checked it
func (st *stdState) routeHTTPS()                { st.tls = true }
func (st *stdState) setPort(port uint32)        { st.port = port }
func (st *stdState) handOff(*Proxy, *flow) bool { return false }

func (st *stdState) upgrade() bool { return st.r.Header.Get("Upgrade") != "" }

// conform drops headers whose names have an underscore (as nginx and the
// fast path, dropUnderscoreFast) and refuses headers or a body larger than
// the limits, as fasthttp does before the fast path's handler runs
// (net/http allows MaxHeaderBytes plus 4 KiB).
func (st *stdState) conform() bool {
	r := st.r
	size := len(r.Method) + len(r.RequestURI) + len(r.Proto) + len(r.Host) + 12 // request line, Host, CRLFs
	for k, vs := range r.Header {
		if strings.IndexByte(k, '_') >= 0 {
			delete(r.Header, k)
		}
		for _, v := range vs {
			size += len(k) + len(v) + 4
		}
	}
	st.headerSize = size
	if max := st.w.p.opts.MaxHeaderBytes; size > max {
		st.refuse(http.StatusRequestHeaderFieldsTooLarge, "request headers larger than "+strconv.Itoa(max)+" bytes\n")
		return false
	}
	limit := int64(st.w.p.opts.MaxRequestBodyBytes)
	if r.ContentLength > limit {
		st.refuse(http.StatusRequestEntityTooLarge, "request body larger than "+strconv.FormatInt(limit, 10)+" bytes\n")
		return false
	}
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = http.MaxBytesReader(st.w, r.Body, limit) // chunked bodies (stdError)
	}
	return true
}

func (st *stdState) normalizePath() {
	if pathNeedsNormalizing(st.r.URL.EscapedPath()) {
		st.r.URL.Path, st.r.URL.RawPath = st.path, ""
	}
}

func (st *stdState) text(status int, body string) { stdText(st.w, status, body) }

func (st *stdState) refuse(status int, body string) {
	if st.r.ProtoMajor == 1 {
		st.w.Header().Set("Connection", "close")
	}
	stdText(st.w, status, body)
}

func (st *stdState) redirect(status int, location []byte) {
	st.w.Header().Set("Location", string(location))
	st.w.WriteHeader(status)
}

func (st *stdState) respond(status int, contentType string, body []byte) {
	h := st.w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	st.w.WriteHeader(status)
	_, _ = st.w.Write(body)
}

func (st *stdState) forward(p *Proxy) {
	r := st.r
	st.grpc = r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc")
	p.reverse.ServeHTTP(st.w, r.WithContext(context.WithValue(r.Context(), stdStateKey{}, st)))
}

func (st *stdState) headerFunc() func(string) string {
	return func(name string) string { v, _ := st.Header(name); return v }
}

func (st *stdState) cached(p *Proxy) { p.cacheStd(st.w, st.r, st) }

type stdConnKey struct{}

func withConn(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, stdConnKey{}, c)
}

func (st *stdState) netConn() net.Conn {
	c, _ := st.r.Context().Value(stdConnKey{}).(net.Conn)
	return c
}

func (st *stdState) requestSize() (header int, body int64) {
	return st.headerSize, st.r.ContentLength
}

func (st *stdState) limitBody(max int64) {
	if r := st.r; r.Body != nil && r.Body != http.NoBody {
		r.Body = http.MaxBytesReader(st.w, r.Body, max)
	}
}

func (st *stdState) result() (status, in, out int, proto string) {
	in = int(st.r.ContentLength)
	if in < 0 {
		in = 0 // chunked: unknown here
	}
	return st.w.status(), in, st.w.bytes, st.r.Proto
}

func (p *Proxy) newReverseProxy() *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			st := stateOf(pr.In)
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = "upstream.invalid" // set per attempt by the transport
			setForwardedStd(pr, st.stdView)
			// Rule edits last: a rule may override forwarding headers or the Host.
			if st.plan.HasRequestEdits() {
				st.plan.ApplyRequest(stdReqEditor{out: pr.Out})
			}
			if !st.grpc {
				pr.Out.Header.Del("Expect")
			}
		},
		Transport: stdTransport{},
		// A switch of protocols is written without WriteHeader: finish
		// its head here (statusWriter does it for every other response).
		// The WAF inspects the response here, before its head is written
		// (waf.go); a blocked one goes to the ErrorHandler, which closes
		// the upstream's body unsent.
		ModifyResponse: func(resp *http.Response) error {
			st := stateOf(resp.Request)
			if st == nil {
				return nil
			}
			if status, msg, blocked := p.wafResponse(st, &st.flow, stdResponse{resp}); blocked {
				return &wafBlocked{status, msg}
			}
			if resp.StatusCode == http.StatusSwitchingProtocols {
				st.w.finished = true
				p.finish(&st.flow, stdHeaderEditor(resp.Header))
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
	if req.Body != nil && req.Body != http.NoBody {
		// The inner transport closes the body on failure; keep it open so a
		// retry (after a failed connect, nothing read) can still send it.
		req.Body = noCloseBody{req.Body}
	}
	var resp *http.Response
	s, err := attempt(&st.flow, st.stdView, upstream.IsIdempotent(req.Method), func(s *upstream.Server) (err error) {
		out := *req
		u := *req.URL
		out.URL = &u
		u.Host = s.Addr
		var rt http.RoundTripper = s.HTTP1()
		if st.grpc {
			rt = s.HTTP2()
			if st.plan.Upstream.TLS() {
				u.Scheme = "https"
			}
		}
		resp, err = rt.RoundTrip(&out)
		return err
	})
	st.srv = s
	if err != nil {
		return nil, &upstreamError{up: st.plan.Upstream, srv: s, err: err}
	}
	return resp, nil
}

func (p *Proxy) stdError(w http.ResponseWriter, r *http.Request, err error) {
	st := stateOf(r)
	var mbe *http.MaxBytesError
	var ue *upstreamError
	var wb *wafBlocked
	switch {
	case errors.As(err, &wb):
		stdText(w, wb.status, wb.msg)
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
//
// It also finishes the response head (Proxy.finish) at the first final
// status, whoever writes it: ReverseProxy, the cache or an error.
type statusWriter struct {
	http.ResponseWriter
	p        *Proxy
	f        *flow
	finished bool
	code     int
	bytes    int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code < 200 { // nothing or only 1xx so far
		w.code = code
		if code >= 200 && !w.finished {
			w.finished = true
			w.p.finish(w.f, stdHeaderEditor(w.Header()))
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code < 200 {
		w.WriteHeader(http.StatusOK)
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

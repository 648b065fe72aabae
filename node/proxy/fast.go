package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"

	"github.com/valyala/fasthttp"

	"github.com/strata-edge/strata/node/proxy/evloop"
	"github.com/strata-edge/strata/node/proxy/upstream"
)

// The plain HTTP/1.1 path: fasthttp's server, the request edited in place
// and handed to the chosen server's fasthttp.HostClient, whose response is
// streamed back through the same RequestCtx. Nothing is copied between the
// client side and the upstream side.

func (p *Proxy) newFastServer() *fasthttp.Server {
	bodyTimeout := DefaultBodyReadTimeout
	return &fasthttp.Server{
		Handler:      p.serveFast,
		ErrorHandler: p.fastError,
		// ReadTimeout runs from a request's first byte to the end of its
		// headers (slowloris); HeaderReceived then gives the body its own.
		ReadTimeout: p.opts.ReadHeaderTimeout,
		HeaderReceived: func(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
			if h.ContentLength() == 0 {
				return fasthttp.RequestConfig{} // no body: nothing more to read
			}
			return fasthttp.RequestConfig{ReadTimeout: bodyTimeout}
		},
		// ctx.Time() is not used: skip a clock read per request.
		LazyRequestTime:       true,
		IdleTimeout:           p.opts.IdleTimeout,
		ReadBufferSize:        p.opts.MaxHeaderBytes, // also the header size limit
		MaxRequestBodySize:    p.opts.MaxRequestBodyBytes,
		NoDefaultServerHeader: true,
		NoDefaultContentType:  true,
		NoDefaultDate:         true,
		// Keep the client's path bytes: the upstream gets what was sent.
		DisablePreParseMultipartForm: true,
		CloseOnShutdown:              true,
		Logger:                       fastLogger{p.log},
	}
}

// fastState is the fasthttp adapter of the pipeline (exchange), pooled:
// the request view, the pipeline's flow and the header scan.
type fastState struct {
	fastView
	flow
	found  uint16                   // scanHeaders of the request
	header func(name string) string // bound once per pooled state
}

var fastStatePool = sync.Pool{New: func() any {
	st := new(fastState)
	st.header = func(name string) string { v, _ := st.Header(name); return v }
	return st
}}

func (st *fastState) headerFunc() func(string) string { return st.header }

func (p *Proxy) serveFast(ctx *fasthttp.RequestCtx) {
	st := fastStatePool.Get().(*fastState)
	st.fastView.reset(ctx)
	p.handle(st, &st.flow)
	// fasthttp writes the response head after the handler returns.
	p.finish(&st.flow, fastRespEditor{&ctx.Response.Header})
	p.done(st, &st.flow)
	st.ctx = nil
	st.flow = flow{buf: st.buf[:0]}
	fastStatePool.Put(st)
}

func (st *fastState) lineProto() string { return b2s(st.ctx.Request.Header.Protocol()) }
func (st *fastState) routeHTTPS()       { st.https = true }
func (st *fastState) setPort(port uint32) {
	st.port = port
}
func (st *fastState) handOff(*Proxy, *flow) bool { return false }

func (st *fastState) upgrade() bool { return st.ctx.Request.Header.ConnectionUpgrade() }

// conform checks the header names fasthttp accepts but the edge refuses
// or drops (conform.go), and routes an absolute-form target by its
// authority, not Host (RFC 9112 3.2.2).
func (st *fastState) conform() bool {
	h := &st.ctx.Request.Header
	st.found = scanHeaders(h.RawHeaders())
	if st.found&hdrBadName != 0 {
		st.refuse(http.StatusBadRequest, "invalid header name\n")
		return false
	}
	if st.found&hdrUnderscore != 0 {
		dropUnderscoreFast(h)
	}
	if uri := h.RequestURI(); len(uri) > 0 && uri[0] != '/' {
		h.SetHostBytes(st.ctx.URI().Host())
		st.fastView.reset(st.ctx)
	}
	return true
}

func (st *fastState) normalizePath() {
	if pathNeedsNormalizing(st.ctx.URI().PathOriginal()) {
		st.SetPath(st.Path())
	}
}

func (st *fastState) text(status int, body string) { fastText(st.ctx, status, body) }

func (st *fastState) refuse(status int, body string) {
	fastText(st.ctx, status, body)
	st.ctx.SetConnectionClose()
}

func (st *fastState) redirect(status int, location []byte) {
	st.ctx.Response.Header.SetBytesV("Location", location)
	fastText(st.ctx, status, "")
}

func (st *fastState) respond(status int, contentType string, body []byte) {
	st.ctx.Response.SetStatusCode(status)
	st.ctx.Response.Header.SetContentType(contentType)
	st.ctx.Response.SetBodyRaw(body)
}

func (st *fastState) forward(p *Proxy) { st.srv = p.proxyFast(st.ctx, st) }
func (st *fastState) cached(p *Proxy)  { p.cacheFast(st.ctx, st) }

func (st *fastState) netConn() net.Conn {
	c := st.ctx.Conn()
	if tc, ok := c.(*trackedConn); ok {
		return tc.Conn
	}
	return c
}

// requestSize: fasthttp has read the whole body before the handler runs.
func (st *fastState) requestSize() (header int, body int64) {
	h := &st.ctx.Request.Header
	header = len(h.Method()) + len(h.RequestURI()) + len(h.Protocol()) + 4 + len(h.RawHeaders())
	return header, int64(len(st.ctx.Request.Body()))
}

func (st *fastState) limitBody(int64) {} // never streamed: requestSize knows

func (st *fastState) result() (status, in, out int, proto string) {
	resp := &st.ctx.Response
	out = resp.Header.ContentLength()
	if out < 0 {
		out = 0 // streamed without a length: unknown here
	}
	if !resp.IsBodyStream() {
		out = len(resp.Body())
	}
	return resp.StatusCode(), len(st.ctx.Request.Body()), out, "HTTP/1.1"
}

// proxyFast sends the request to the plan's upstream, retrying on another
// server when connecting fails (idempotent methods only), and leaves the
// upstream's response (or an error response) in ctx.Response.
func (p *Proxy) proxyFast(ctx *fasthttp.RequestCtx, st *fastState) *upstream.Server {
	up := st.plan.Upstream
	req := &ctx.Request
	v := &st.fastView

	clientClose := req.Header.ConnectionClose()
	if clientClose {
		// The server remembered it; the upstream connection stays pooled.
		req.Header.ResetConnectionClose()
	}
	found := st.found
	upgrade := found&hdrUpgrade != 0 && isUpgrade(&req.Header)
	if found&hdrHop != 0 {
		stripHopFast(&req.Header, upgrade)
	}
	p.setForwardedFast(ctx, st, found)
	req.UseHostHeader = true
	// Rule edits last: a rule may override forwarding headers or the Host.
	if st.plan.HasRequestEdits() {
		st.plan.ApplyRequest(v)
	}

	if upgrade {
		return p.tunnelFast(ctx, st, up)
	}

	s, err := attempt(&st.flow, v, upstream.IsIdempotent(v.Method()), func(s *upstream.Server) error {
		return s.Fast().Do(req, &ctx.Response)
	})
	if err != nil {
		ctx.Response.Reset()
		status, msg := upstreamFailure(up, s, err)
		fastText(ctx, status, msg)
		if clientClose {
			ctx.SetConnectionClose()
		}
		return s
	}
	resp := &ctx.Response
	if resp.Header.ConnectionClose() {
		resp.Header.ResetConnectionClose() // the upstream's, not the client's
	}
	stripHopFastResp(&resp.Header)
	if status, msg, blocked := p.wafResponse(st, &st.flow, fastResponse{resp}); blocked {
		resp.Reset() // closes a body stream unsent
		fastText(ctx, status, msg)
	}
	// The client keeps its own protocol: an HTTP/1.0 upstream's status line
	// would otherwise be copied and close the client's keep-alive connection.
	resp.Header.SetProtocol(nil)
	if clientClose {
		ctx.SetConnectionClose()
	}
	return s
}

// Hop-by-hop headers (RFC 9110 7.6.1) plus the Proxy-* ones; Connection
// itself is handled by fasthttp's connection-close flag.
var hopHeaders = []string{"Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Upgrade"}

func isUpgrade(h *fasthttp.RequestHeader) bool {
	return h.ConnectionUpgrade() && len(h.Peek("Upgrade")) > 0
}

// stripHopFast removes hop-by-hop request headers, the headers the
// Connection header names, and Expect (fasthttp answered 100-continue
// already and has the body). When upgrading, Connection and Upgrade stay.
func stripHopFast(h *fasthttp.RequestHeader, upgrade bool) {
	if c := h.Peek("Connection"); len(c) > 0 {
		if !upgrade {
			forEachToken(c, func(name []byte) {
				if !equalFoldASCII(name, "close") && !equalFoldASCII(name, "keep-alive") {
					h.DelBytes(name)
				}
			})
			h.Del("Connection")
		}
	}
	for _, name := range hopHeaders {
		if upgrade && name == "Upgrade" {
			continue
		}
		if name == "Te" {
			// "TE: trailers" is end-to-end meaningful (gRPC); keep only that.
			if te := h.Peek("Te"); te != nil && !equalFoldASCII(te, "trailers") {
				h.Del("Te")
			}
			continue
		}
		if h.Peek(name) != nil {
			h.Del(name)
		}
	}
	if h.Peek("Expect") != nil {
		h.Del("Expect")
	}
}

func stripHopFastResp(h *fasthttp.ResponseHeader) {
	hop := false
	for k := range h.All() {
		if len(k) > 1 {
			switch k[0] | 0x20 {
			case 'c', 'k', 'p', 't', 'u':
				hop = hop || isHopName(k)
			}
		}
	}
	if !hop {
		return
	}
	if c := h.Peek("Connection"); len(c) > 0 {
		forEachToken(c, func(name []byte) {
			if !equalFoldASCII(name, "close") && !equalFoldASCII(name, "keep-alive") {
				h.DelBytes(name)
			}
		})
		h.Del("Connection")
	}
	for _, name := range hopHeaders {
		if name == "Trailer" {
			continue // fasthttp writes the trailers it read
		}
		if h.Peek(name) != nil {
			h.Del(name)
		}
	}
}

// setForwardedFast appends the client to X-Forwarded-For and sets
// X-Forwarded-Proto, X-Forwarded-Host and Via.
func (p *Proxy) setForwardedFast(ctx *fasthttp.RequestCtx, st *fastState, found uint16) {
	h := &ctx.Request.Header
	buf := st.buf[:0]
	if found&hdrXFF != 0 {
		if prior := h.Peek("X-Forwarded-For"); len(prior) > 0 {
			buf = append(buf, prior...)
			buf = append(buf, ", "...)
		}
	}
	buf = st.ClientIP().AppendTo(buf)
	h.SetCanonical(keyXFF, buf)
	if st.https {
		h.SetCanonical(keyXFProto, valHTTPS)
	} else {
		h.SetCanonical(keyXFProto, valHTTP)
	}
	h.SetCanonical(keyXFHost, h.Host())
	if prior := viaOf(h, found); len(prior) > 0 {
		buf = append(buf[:0], prior...)
		buf = append(buf, ", 1.1 strata"...)
		h.SetCanonical(keyVia, buf)
	} else {
		h.SetCanonical(keyVia, valVia)
	}
	st.buf = buf
}

// Canonical header names: SetCanonical skips normalizing them per request.
var (
	keyXFF     = []byte("X-Forwarded-For")
	keyXFProto = []byte("X-Forwarded-Proto")
	keyXFHost  = []byte("X-Forwarded-Host")
	keyVia     = []byte("Via")
	valHTTP    = []byte("http")
	valHTTPS   = []byte("https")
	valVia     = []byte("1.1 strata")
)

func viaOf(h *fasthttp.RequestHeader, found uint16) []byte {
	if found&hdrVia == 0 {
		return nil
	}
	return h.Peek("Via")
}

func isHopName(k []byte) bool {
	if hasPrefixFold(k, "proxy-") {
		return true
	}
	for _, n := range [...]string{"connection", "keep-alive", "te", "trailer", "upgrade"} {
		if len(k) == len(n) && hasPrefixFold(k, n) {
			return true
		}
	}
	return false
}

func (p *Proxy) fastError(ctx *fasthttp.RequestCtx, err error) {
	var status int
	var msg string
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		status, msg = http.StatusRequestEntityTooLarge, "request body larger than "+strconv.Itoa(p.opts.MaxRequestBodyBytes)+" bytes\n"
	case isSmallBuffer(err):
		status, msg = http.StatusRequestHeaderFieldsTooLarge, "request headers larger than "+strconv.Itoa(p.opts.MaxHeaderBytes)+" bytes\n"
	case isTimeout(err):
		status, msg = http.StatusRequestTimeout, "request not received in time\n"
	default:
		status, msg = http.StatusBadRequest, "bad request\n"
	}
	fastText(ctx, status, msg)
	ctx.SetConnectionClose()
}

// dropUnderscoreFast removes headers whose names have an underscore, as
// nginx does by default (underscores_in_headers off): "Transfer_Encoding"
// reaches no upstream that might read it as Transfer-Encoding.
func dropUnderscoreFast(h *fasthttp.RequestHeader) {
	var names []string // rare: only requests that have such headers
	for k := range h.All() {
		if bytes.IndexByte(k, '_') >= 0 {
			names = append(names, string(k))
		}
	}
	for _, n := range names {
		h.Del(n)
	}
}

func isSmallBuffer(err error) bool {
	var e fasthttp.ErrSmallBuffer
	var pe *fasthttp.ErrSmallBuffer
	return errors.Is(err, fasthttp.ErrSmallReadBuffer) || errors.As(err, &e) || errors.As(err, &pe)
}

func fastText(ctx *fasthttp.RequestCtx, status int, body string) {
	ctx.Response.SetStatusCode(status)
	if body != "" {
		ctx.Response.Header.SetContentType("text/plain; charset=utf-8")
		ctx.Response.SetBodyString(body)
	}
}

// forEachToken calls f for each comma-separated token of a header value.
func forEachToken(v []byte, f func([]byte)) {
	for len(v) > 0 {
		var tok []byte
		if tok, v = evloop.NextToken(v); len(tok) > 0 {
			f(tok)
		}
	}
}

func equalFoldASCII(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c, d := b[i], s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if d >= 'A' && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}

// fastLogger routes fasthttp's own messages to slog at Debug: they are
// about clients misbehaving, not the node.
type fastLogger struct{ l *slog.Logger }

func (f fastLogger) Printf(format string, args ...any) {
	f.l.Debug("proxy: fasthttp: " + fmt.Sprintf(format, args...))
}

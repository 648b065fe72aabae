package proxy

import (
	"bytes"
	"net"
	"net/netip"
	"unsafe"

	"github.com/valyala/fasthttp"

	"github.com/strata-edge/strata/node/proxy/route"
)

// fastView is the route.Request view (and actions.RequestEditor) over a
// fasthttp request. Its strings alias fasthttp's buffers: valid until the
// handler returns, never retained.
type fastView struct {
	ctx     *fasthttp.RequestCtx
	host    string
	hostBuf []byte
	ip      netip.Addr
	ipDone  bool
	scratch []byte
	// https marks a parent-tier request for an https request of the
	// child's (routeHTTPS, tier.go): routed and ruled as https.
	https bool
	// port is the listener's routing port (Options.HTTPPort/HTTPSPort).
	port uint32
}

var _ route.Request = (*fastView)(nil)

func (v *fastView) reset(ctx *fasthttp.RequestCtx) {
	v.ctx = ctx
	v.ipDone, v.https = false, false
	v.host, v.hostBuf = normalizeHost(ctx.Request.Header.Host(), v.hostBuf[:0])
}

// b2s aliases b as a string without copying; b must not change while the
// string is in use.
func b2s(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// normalizeHost strips the port, the brackets of an IPv6 literal and a
// trailing dot, and lower-cases. It only copies (into buf) when it has to.
func normalizeHost(h []byte, buf []byte) (string, []byte) {
	if len(h) > 0 && h[0] == '[' {
		if i := bytes.IndexByte(h, ']'); i > 0 {
			h = h[1:i]
		}
	} else if i := bytes.LastIndexByte(h, ':'); i >= 0 {
		h = h[:i]
	}
	if n := len(h); n > 0 && h[n-1] == '.' {
		h = h[:n-1]
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; c >= 'A' && c <= 'Z' {
			buf = append(buf[:0], h...)
			for j := i; j < len(buf); j++ {
				if c := buf[j]; c >= 'A' && c <= 'Z' {
					buf[j] = c + ('a' - 'A')
				}
			}
			return b2s(buf), buf
		}
	}
	return b2s(h), buf
}

func (v *fastView) Method() string     { return b2s(v.ctx.Request.Header.Method()) }
func (v *fastView) Host() string       { return v.host }
func (v *fastView) Path() string       { return b2s(v.ctx.URI().Path()) }
func (v *fastView) RequestURI() string { return b2s(v.ctx.Request.Header.RequestURI()) }
func (v *fastView) Port() uint32       { return v.port }
func (v *fastView) Scheme() string {
	if v.https {
		return "https"
	}
	return "http"
}

func (v *fastView) Header(name string) (string, bool) {
	b := v.ctx.Request.Header.Peek(name)
	return b2s(b), b != nil
}

func (v *fastView) Cookie(name string) (string, bool) {
	b := v.ctx.Request.Header.Cookie(name)
	return b2s(b), b != nil
}

func (v *fastView) Query(name string) (string, bool) {
	args := v.ctx.URI().QueryArgs()
	if !args.Has(name) {
		return "", false
	}
	return b2s(args.Peek(name)), true
}

func (v *fastView) ClientIP() netip.Addr {
	if !v.ipDone {
		v.ipDone = true
		v.ip = netip.Addr{}
		if a, ok := v.ctx.RemoteAddr().(*net.TCPAddr); ok {
			v.ip = a.AddrPort().Addr().Unmap()
		}
	}
	return v.ip
}

// Editing (actions.RequestEditor).

func (v *fastView) SetHeader(name, value string) { v.ctx.Request.Header.Set(name, value) }
func (v *fastView) AddHeader(name, value string) { v.ctx.Request.Header.Add(name, value) }
func (v *fastView) DelHeader(name string)        { v.ctx.Request.Header.Del(name) }

func (v *fastView) SetPath(p string) {
	// The client sends the original path bytes (no normalization), so give
	// it the escaped form.
	v.scratch = appendEscapedPath(v.scratch[:0], p)
	v.ctx.URI().SetPathBytes(v.scratch)
}

func (v *fastView) SetQueryArg(name, value string) { v.ctx.URI().QueryArgs().Set(name, value) }
func (v *fastView) DelQueryArg(name string)        { v.ctx.URI().QueryArgs().Del(name) }

// fastRespEditor edits the response headers (actions.HeaderEditor).
type fastRespEditor struct{ h *fasthttp.ResponseHeader }

func (e fastRespEditor) SetHeader(name, value string) { e.h.Set(name, value) }
func (e fastRespEditor) AddHeader(name, value string) { e.h.Add(name, value) }
func (e fastRespEditor) DelHeader(name string)        { e.h.Del(name) }

// appendEscapedPath percent-encodes a decoded path for the request line:
// everything but unreserved characters, sub-delims, ':', '@' and '/'.
func appendEscapedPath(dst []byte, p string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(p); i++ {
		c := p[i]
		if shouldEscapePathByte(c) {
			dst = append(dst, '%', hex[c>>4], hex[c&15])
		} else {
			dst = append(dst, c)
		}
	}
	return dst
}

func shouldEscapePathByte(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return false
	}
	switch c {
	case '-', '.', '_', '~', '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', ':', '@', '/':
		return false
	}
	return true
}

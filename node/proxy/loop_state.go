//go:build linux

package proxy

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/strata-edge/strata/node/proxy/route"
	"github.com/strata-edge/strata/node/ratelimit"
)

// loopState is the event loop's adapter of the pipeline (exchange), one per
// connection: the request as parsed (strings alias the connection's
// buffer, which does not move while the request is in flight), its edits,
// and the response made here.
type loopState struct {
	c *loopConn
	flow

	headLen, bodyLen int
	inPipeline       bool // handle ran: done must run once
	proxied          bool // forward took the request: upConn answers
	answered         bool // a response made here is queued
	head             bool // a HEAD request: no body is sent

	host    string
	hostBuf []byte
	path    string // the path as forwarded (SetPath replaces it)
	query   string
	edited  bool                // path or query changed
	hdrs    []kv                // request headers, edited in place
	resp    []kv                // headers of a response made here
	found   uint16              // scanHeaders of the request
	https   bool                // routeHTTPS
	port    uint32              // setPort
	status  int                 // of the response
	out     int                 // response body bytes
	ctype   string              // of a response made here
	scratch []byte              // the forwarded head
	header  func(string) string // headerFunc, bound once
	tries   tries
}

type kv struct{ k, v string }

var _ route.Request = (*loopState)(nil)

func (st *loopState) init(c *loopConn) {
	st.c = c
	st.header = func(name string) string { v, _ := st.Header(name); return v }
}

func (st *loopState) reset() {
	st.flow = flow{buf: st.buf[:0], header: st.flow.header[:0]}
	st.inPipeline, st.answered, st.head, st.edited, st.https, st.proxied = false, false, false, false, false, false
	st.hdrs, st.resp = st.hdrs[:0], st.resp[:0]
	st.status, st.out, st.ctype, st.headLen, st.bodyLen = 0, 0, "", 0, 0
}

// serve runs the pipeline on the request at the start of the buffer.
func (st *loopState) serve(headLen, bodyLen int) {
	c := st.c
	r := &c.req
	st.headLen, st.bodyLen = headLen, bodyLen
	st.host, st.hostBuf = normalizeHost(r.Host, st.hostBuf[:0])
	st.path, st.query = b2s(r.Path), b2s(r.Query)
	st.head = b2s(r.Method) == http.MethodHead
	for _, h := range r.Headers {
		st.hdrs = append(st.hdrs, kv{b2s(h.Name), b2s(h.Value)})
	}
	line := indexCRLF(c.buf[c.r:])
	st.found = scanHeaders(c.buf[c.r+line+2 : c.r+headLen])
	c.closeAfter = c.closeAfter || r.Close
	st.inPipeline = true
	p := c.w.e.p
	p.handle(st, &st.flow)
	if c.fd < 0 || !c.busy || st.proxied {
		return // handed off, closed, or the upstream's response (sent or on its way)
	}
	st.answer()
}

func indexCRLF(b []byte) int {
	for i := 0; i+1 < len(b); i++ {
		if b[i] == '\r' && b[i+1] == '\n' {
			return i
		}
	}
	return len(b)
}

// answer sends the response the pipeline made here.
func (st *loopState) answer() {
	st.c.w.e.p.finish(&st.flow, (*loopResp)(st))
	st.answered = true
	if st.c.sendLocal(st.ctype, st.buf) {
		st.c.complete()
	}
}

// appendHead writes the status line and headers of a response made here.
func (st *loopState) appendHead(b []byte, ctype string, n int) []byte {
	b = append(appendStatus(b, st.status), "\r\n"...)
	if ctype != "" {
		b = appendField(b, "Content-Type", ctype)
	}
	for _, h := range st.resp {
		b = appendField(b, h.k, h.v)
	}
	b = append(b, "Content-Length: "...)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, "\r\n"...)
	if st.c.closeAfter {
		b = append(b, "Connection: close\r\n"...)
	}
	return append(b, "\r\n"...)
}

func appendStatus(b []byte, status int) []byte {
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	return append(b, http.StatusText(status)...)
}

func appendField(b []byte, k, v string) []byte {
	b = append(b, k...)
	b = append(b, ": "...)
	b = append(b, v...)
	return append(b, "\r\n"...)
}

// The request view (route.Request, actions.RequestEditor).

func (st *loopState) Method() string     { return b2s(st.c.req.Method) }
func (st *loopState) Host() string       { return st.host }
func (st *loopState) Path() string       { return st.path }
func (st *loopState) RequestURI() string { return b2s(st.c.req.Target) }
func (st *loopState) Port() uint32       { return st.port }
func (st *loopState) ClientIP() netip.Addr {
	return st.c.ip
}

func (st *loopState) Scheme() string {
	if st.https {
		return "https"
	}
	return "http"
}

func (st *loopState) Header(name string) (string, bool) {
	for _, h := range st.hdrs {
		if strings.EqualFold(h.k, name) {
			return h.v, true
		}
	}
	return "", false
}

func (st *loopState) Cookie(name string) (string, bool) {
	for _, h := range st.hdrs {
		if !strings.EqualFold(h.k, "Cookie") {
			continue
		}
		for v := h.v; v != ""; {
			var pair string
			pair, v, _ = strings.Cut(v, ";")
			k, val, _ := strings.Cut(strings.TrimSpace(pair), "=")
			if k == name {
				return val, true
			}
		}
	}
	return "", false
}

func (st *loopState) Query(name string) (string, bool) {
	for q := st.query; q != ""; {
		var pair string
		pair, q, _ = strings.Cut(q, "&")
		k, v, _ := strings.Cut(pair, "=")
		if strings.ContainsAny(k, "%+") {
			k, _ = url.QueryUnescape(k)
		}
		if k == name {
			if strings.ContainsAny(v, "%+") {
				v, _ = url.QueryUnescape(v)
			}
			return v, true
		}
	}
	return "", false
}

func (st *loopState) SetHeader(name, value string) {
	st.hdrs = setKV(st.hdrs, name, value)
}
func (st *loopState) AddHeader(name, value string) { st.hdrs = append(st.hdrs, kv{name, value}) }
func (st *loopState) DelHeader(name string)        { st.hdrs = delKV(st.hdrs, name) }

func (st *loopState) SetPath(p string) {
	st.path, st.edited = p, true
}

// Query edits are rare: they rebuild the query (and allocate).
func (st *loopState) SetQueryArg(name, value string) {
	q, _ := url.ParseQuery(st.query)
	q.Set(name, value)
	st.query, st.edited = q.Encode(), true
}

func (st *loopState) DelQueryArg(name string) {
	q, _ := url.ParseQuery(st.query)
	q.Del(name)
	st.query, st.edited = q.Encode(), true
}

func setKV(l []kv, name, value string) []kv {
	for i := range l {
		if strings.EqualFold(l[i].k, name) {
			l[i].v = value
			return delKVFrom(l, name, i+1)
		}
	}
	return append(l, kv{name, value})
}

func delKV(l []kv, name string) []kv { return delKVFrom(l, name, 0) }

func delKVFrom(l []kv, name string, from int) []kv {
	out := l[:from]
	for _, h := range l[from:] {
		if !strings.EqualFold(h.k, name) {
			out = append(out, h)
		}
	}
	return out
}

// loopResp edits the headers of the response (actions.HeaderEditor):
// those made here, or the upstream's (upConn.head).
type loopResp loopState

func (e *loopResp) SetHeader(name, value string) { e.resp = setKV(e.resp, name, value) }
func (e *loopResp) AddHeader(name, value string) { e.resp = append(e.resp, kv{name, value}) }
func (e *loopResp) DelHeader(name string)        { e.resp = delKV(e.resp, name) }

// The rest of exchange.

func (st *loopState) lineProto() string { return "HTTP/1.1" } // the parser takes only that
func (st *loopState) conform() bool     { return true }       // bad names were handed off
func (st *loopState) routeHTTPS()       { st.https = true }
func (st *loopState) setPort(port uint32) {
	st.port = port
}
func (st *loopState) normalizePath() {} // such paths were handed off
func (st *loopState) upgrade() bool  { return false }

func (st *loopState) requestSize() (int, int64) { return st.headLen, int64(st.bodyLen) }
func (st *loopState) limitBody(int64)           {} // bodies are read whole
func (st *loopState) netConn() net.Conn         { return nil }
func (st *loopState) headerFunc() func(string) string {
	return st.header
}

func (st *loopState) result() (status, in, out int, proto string) {
	return st.status, st.bodyLen, st.out, "HTTP/1.1"
}

func (st *loopState) text(status int, body string) {
	st.status = status
	st.ctype = ""
	st.buf = append(st.buf[:0], body...)
	if body != "" {
		st.ctype = "text/plain; charset=utf-8"
	}
}

func (st *loopState) refuse(status int, body string) {
	st.text(status, body)
	st.c.closeAfter = true
}

func (st *loopState) redirect(status int, location []byte) {
	st.resp = append(st.resp, kv{"Location", string(location)})
	st.text(status, "")
}

func (st *loopState) respond(status int, contentType string, body []byte) {
	st.status, st.ctype = status, contentType
	st.buf = append(st.buf[:0], body...)
}

// cached is not reached: handOff gives cached plans to the general path.
func (st *loopState) cached(*Proxy) {
	st.text(http.StatusInternalServerError, "cache path not available on this engine\n")
}

// handOff gives the general path what the loop does not do itself: the
// cache, WAF inspection, per-IP connection limits, rate limits that delay
// (they sleep), TLS upstreams and servers not given by IP address.
func (st *loopState) handOff(p *Proxy, f *flow) bool {
	general := f.app.Limits.GetMaxConnsPerIp() > 0 || p.wafs.Load().For(f.app.ID) != nil || delays(&f.plan)
	if plan := &f.plan; !general && plan.Kind == route.Proxy {
		up := plan.Upstream
		general = p.useCache(plan, st.Method(), false) || up.TLS()
		for _, s := range up.Servers() {
			if _, err := netip.ParseAddrPort(s.Addr); err != nil {
				general = true
			}
		}
	}
	if general {
		st.inPipeline = false
		st.c.handOff()
	}
	return general
}

// delays reports whether a matched rate limit may hold the request.
func delays(plan *route.Plan) bool {
	if !plan.HasRateLimits() {
		return false
	}
	for i := range plan.Matched() {
		for _, r := range plan.RateLimits(i) {
			if r.OnExceed == ratelimit.Delay {
				return true
			}
		}
	}
	return false
}

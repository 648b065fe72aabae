package proxy

import (
	"bytes"
	"net/http"
	"strconv"
	"sync"

	"github.com/valyala/fasthttp"

	"github.com/strata-edge/strata/node/cache"
)

// The fast path's cache hit: answered from fasthttp's request memory
// without detaching the request (cacheDo's copy is only needed when the
// origin may be asked), and written without a header map walk.

// hitFast answers ctx from a fresh cached copy and reports true, or false
// when cacheDo must run. The key must equal the one cacheDo builds from the
// detached request, so requests whose key would differ between the two
// readings (escaped, absolute-form or invalid targets, cookies in the key)
// skip it.
func (p *Proxy) hitFast(ctx *fasthttp.RequestCtx, st *fastState) bool {
	pol := st.plan.Cache
	uri := ctx.Request.Header.RequestURI()
	if len(pol.Key.Cookies) > 0 || len(uri) == 0 || uri[0] != '/' {
		return false
	}
	for _, c := range uri {
		if c == '%' || c < 0x20 || c == 0x7f { // escapes decode, control bytes are refused, in detachFast
			return false
		}
	}
	path, query := uri, []byte(nil)
	if i := bytes.IndexByte(uri, '?'); i >= 0 {
		path, query = uri[:i], uri[i+1:]
	}
	hr := hitReqs.Get().(*hitReq)
	hr.hdr = &ctx.Request.Header
	r := &hr.r
	r.Method, r.Host, r.Path, r.RawQuery = st.Method(), st.Host(), b2s(path), b2s(query)
	ok := p.opts.Cache.Hit(r, pol, &hr.res)
	if ok {
		st.cache = hr.res.CacheStatus
		writeResultFast(ctx, &hr.res)
	}
	hr.hdr, hr.res = nil, cache.Result{}
	r.Method, r.Host, r.Path, r.RawQuery = "", "", "", ""
	hitReqs.Put(hr)
	return ok
}

// hitReq is a pooled cache.Request over a fasthttp request, so that its
// Header func is bound once, not allocated per hit.
type hitReq struct {
	r   cache.Request
	res cache.Result
	hdr *fasthttp.RequestHeader
}

var hitReqs = sync.Pool{New: func() any {
	h := new(hitReq)
	h.r.Header = func(name string) string { return b2s(h.hdr.Peek(name)) }
	return h
}}

// writeResultFast writes a cache result: stored headers, Age,
// X-Cache-Status, Content-Range, status and the body (shared with the
// store, never copied by us).
func writeResultFast(ctx *fasthttp.RequestCtx, res *cache.Result) {
	h := &ctx.Response.Header
	for _, f := range res.Fields() {
		h.Add(f.Name, f.Value)
	}
	if res.AgeSeconds >= 0 {
		var buf [20]byte
		h.AddBytesV("Age", strconv.AppendInt(buf[:0], res.AgeSeconds, 10))
	}
	h.Add(cache.StatusHeader, res.CacheStatus)
	if res.ContentRange != "" {
		h.Add("Content-Range", res.ContentRange)
	}
	ctx.Response.SetStatusCode(res.Status)
	ctx.Response.SetBodyRaw(res.Body)
}

// hitStd is the std path's hit: the request as cacheDo would read it, but
// no detached state prepared for a fill.
func (p *Proxy) hitStd(r *http.Request, st *stdState) (*cache.Result, bool) {
	res := new(cache.Result)
	if !p.opts.Cache.Hit(stdCacheRequest(r, st.Host()), st.plan.Cache, res) {
		return nil, false
	}
	return res, true
}

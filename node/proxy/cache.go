package proxy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/strata-edge/strata/node/cache"
	"github.com/strata-edge/strata/node/proxy/route"
	"github.com/strata-edge/strata/node/tier"
)

// The cache adapter, shared by the fast and the std path: when the matched
// rules carry a cache action, the request is answered by node/cache's Do,
// whose Fetcher proxies a detached copy of the request to the upstream over
// net/http. The copy is needed because a fill (background revalidation) can
// outlive the client's request, whose fasthttp memory is recycled.

// useCache reports whether a request with this plan goes through the cache
// (the bypass case included): GET and HEAD, not protocol upgrades.
func (p *Proxy) useCache(plan *route.Plan, method string, upgrade bool) bool {
	return p.opts.Cache != nil && plan.Cache != nil && !upgrade && (method == http.MethodGet || method == http.MethodHead)
}

// cacheDo answers in (the client request, detached from server memory)
// from the cache or through a fill.
func (p *Proxy) cacheDo(ctx context.Context, in *http.Request, tls bool, plan *route.Plan) (*cache.Result, error) {
	st := &stdState{stdView: newStdView(in, tls), flow: flow{plan: *plan.Detach()}}
	creq := stdCacheRequest(in, st.Host())
	return p.opts.Cache.Do(ctx, creq, st.plan.Cache, func(ctx context.Context, cond http.Header) (*cache.Response, error) {
		if resp := p.tierFetch(ctx, st, creq); resp != nil {
			return resp, nil
		}
		return p.fillFetch(ctx, st, cond)
	})
}

// stdCacheRequest is in as the cache reads it.
func stdCacheRequest(in *http.Request, host string) *cache.Request {
	return &cache.Request{
		Method: in.Method, Host: host, Path: in.URL.Path, RawQuery: in.URL.RawQuery, Header: in.Header.Get,
		Cookie: func(name string) string {
			if c, err := in.Cookie(name); err == nil {
				return c.Value
			}
			return ""
		},
	}
}

// Request headers a fill never forwards: the cache fetches whole objects
// and makes its own conditional requests.
var fillDrop = []string{"Range", "If-Range", "If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since",
	"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", tier.HopsHeader}

// fillFetch sends the request of st to its upstream like the std path does
// (forwarding headers, then rule edits; retries on another server when
// connecting fails) and returns the response with its body streaming,
// once the app's WAF policy has inspected it (wafFill: a blocked response
// is not stored).
func (p *Proxy) fillFetch(ctx context.Context, st *stdState, cond http.Header) (*cache.Response, error) {
	in := st.r
	out := fillRequest(ctx, in)
	out.URL.Scheme, out.URL.Host = "http", "upstream.invalid"
	setForwardedStd(&httputil.ProxyRequest{In: in, Out: out}, st.stdView)
	if st.plan.HasRequestEdits() {
		st.plan.ApplyRequest(stdReqEditor{out: out})
	}
	for k, v := range cond {
		out.Header[k] = v
	}
	one := &stdState{stdView: st.stdView, flow: flow{plan: st.plan}} // the transport records the server per call
	// Not cancelled with the client's request: other clients may be
	// following this fill (node/cache ends it when nobody reads it).
	resp, err := stdTransport{}.RoundTrip(out.WithContext(context.WithValue(context.WithoutCancel(ctx), stdStateKey{}, one)))
	if err != nil {
		return nil, err
	}
	if err := p.wafFill(one, resp); err != nil {
		_ = resp.Body.Close()
		return nil, err
	}
	return fillResponse(resp), nil
}

// fillRequest is the copy of in that a fill (or a parent tier) gets: no
// body, no hop-by-hop headers, none of fillDrop.
func fillRequest(ctx context.Context, in *http.Request) *http.Request {
	out := in.Clone(ctx)
	out.Body, out.ContentLength, out.RequestURI, out.Close = http.NoBody, 0, "", false
	stripHopStd(out.Header)
	for _, h := range fillDrop {
		out.Header.Del(h)
	}
	return out
}

// fillResponse is resp as the cache takes it: its body streaming, with
// neither hop-by-hop headers nor Content-Length (Length says it).
func fillResponse(resp *http.Response) *cache.Response {
	stripHopStd(resp.Header)
	resp.Header.Del("Content-Length")
	return &cache.Response{Status: resp.StatusCode, Header: resp.Header, Stream: resp.Body, Length: resp.ContentLength}
}

// stripHopStd removes hop-by-hop headers and those Connection names.
func stripHopStd(h http.Header) {
	for _, c := range h.Values("Connection") {
		forEachToken([]byte(c), func(name []byte) { h.Del(string(name)) })
	}
	h.Del("Connection")
	for _, name := range hopHeaders {
		if name == "Te" && h.Get("Te") == "trailers" {
			continue
		}
		h.Del(name)
	}
	h.Del("Expect")
}

// cacheFailure is the response to a failed fill.
func cacheFailure(err error) (int, string) {
	var ue *upstreamError
	if errors.As(err, &ue) {
		return upstreamFailure(ue.up, ue.srv, ue.err)
	}
	var wb *wafBlocked
	if errors.As(err, &wb) {
		return wb.status, wb.msg
	}
	return http.StatusBadGateway, fmt.Sprintf("cache fill: %v\n", err)
}

// eachResultHeader calls add for every header to send with res: the stored
// ones (read-only, shared with the store), then Age, X-Cache-Status and
// Content-Range. Content-Length is the caller's (len(res.Body)).
func eachResultHeader(res *cache.Result, add func(name, value string)) {
	for _, f := range res.Fields() {
		add(f.Name, f.Value)
	}
	if res.AgeSeconds >= 0 {
		add("Age", strconv.FormatInt(res.AgeSeconds, 10))
	}
	add(cache.StatusHeader, res.CacheStatus)
	if res.ContentRange != "" {
		add("Content-Range", res.ContentRange)
	}
}

// cacheFast answers a fast-path request through the cache.
func (p *Proxy) cacheFast(ctx *fasthttp.RequestCtx, st *fastState) {
	if p.hitFast(ctx, st) {
		return
	}
	in, err := detachFast(ctx)
	if err != nil {
		fastText(ctx, http.StatusBadRequest, "bad request target\n")
		return
	}
	// Not ctx: a RequestCtx is recycled, and the fill may outlive it.
	res, err := p.cacheDo(context.Background(), in, st.https, &st.plan)
	if err != nil {
		status, msg := cacheFailure(err)
		fastText(ctx, status, msg)
		return
	}
	st.cache = res.CacheStatus
	if res.Parent != "" {
		ctx.Response.Header.Set(tier.ParentHeader, res.Parent)
	}
	if res.Stream != nil {
		writeStreamFast(ctx, res)
		return
	}
	writeResultFast(ctx, res)
}

// detachFast copies what the cache and a fill need out of fasthttp's
// request memory.
func detachFast(ctx *fasthttp.RequestCtx) (*http.Request, error) {
	req := &ctx.Request
	uri := string(req.Header.RequestURI())
	u, err := url.ParseRequestURI(uri)
	if err != nil {
		return nil, err
	}
	h := make(http.Header, req.Header.Len())
	for k, v := range req.Header.All() {
		h.Add(string(k), string(v))
	}
	h.Del("Host")
	return &http.Request{
		Method: string(req.Header.Method()), URL: u, RequestURI: uri,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Host: string(req.Header.Host()), Body: http.NoBody,
		RemoteAddr: ctx.RemoteAddr().String(),
	}, nil
}

// cacheStd answers a std-path request through the cache.
func (p *Proxy) cacheStd(w http.ResponseWriter, r *http.Request, st *stdState) {
	res, ok := p.hitStd(r, st)
	var err error
	if !ok {
		res, err = p.cacheDo(r.Context(), r, st.tls, &st.plan)
	}
	if err != nil {
		status, msg := cacheFailure(err)
		stdText(w, status, msg)
		return
	}
	st.cache = res.CacheStatus
	h := w.Header()
	eachResultHeader(res, func(k, v string) { h[k] = append(h[k], v) })
	if res.Parent != "" {
		h.Set(tier.ParentHeader, res.Parent)
	}
	if res.Stream != nil {
		writeStreamStd(w, r, res)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(res.Body)))
	w.WriteHeader(res.Status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(res.Body)
	}
}

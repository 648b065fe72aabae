package proxy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/strata-edge/strata/node/cache"
	"github.com/strata-edge/strata/node/proxy/route"
)

// Push: the in-process entry point for cache pushes (node/purge runs them).
// A pushed URL goes through the same pipeline as a client's GET on the
// listener its scheme names (routing by host, rules, the cache key, tier
// parents, upstream selection), from 127.0.0.1, with its response read to
// the end and dropped. It is not counted as a client request (app stats,
// access log); the cache's MISS and HIT counters include it.

// PushHeader marks a push's request (the upstream, or a parent tier, sees it).
const PushHeader = "Strata-Push"

// PushResult is what one pushed URL got.
type PushResult struct {
	Status      int    // 0 when no response came
	Bytes       int64  // body bytes received
	CacheStatus string // X-Cache-Status of the response ("" outside the cache)
	// Cached: the cache holds a fresh copy now.
	Cached bool
	// Err says why the URL failed: a status >= 400, not cacheable, the
	// context ended.
	Err error
}

// ErrNotCacheable is wrapped by a push result whose response the cache did
// not keep.
var ErrNotCacheable = errors.New("not cacheable")

// Push fetches rawURL (absolute http or https) through the pipeline into
// the cache. It returns when the response is read, or when ctx ends (the
// fill then goes on in the background).
func (p *Proxy) Push(ctx context.Context, rawURL string) PushResult {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return PushResult{Err: fmt.Errorf("not an absolute http or https URL")}
	}
	r := &http.Request{
		Method: http.MethodGet, URL: &url.URL{Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery},
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Host: u.Host,
		Header:     http.Header{"User-Agent": {"strata-push"}, PushHeader: {"1"}},
		RemoteAddr: "127.0.0.1:0", Body: http.NoBody,
	}
	r.RequestURI = r.URL.RequestURI()
	if r.URL.Path == "" {
		r.URL.Path, r.RequestURI = "/", "/"+strings.TrimPrefix(r.RequestURI, "/")
	}
	done := make(chan PushResult, 1)
	go func() { done <- p.push(r.WithContext(context.WithoutCancel(ctx)), u.Scheme == "https") }()
	select {
	case res := <-done:
		return res
	case <-ctx.Done():
		return PushResult{Err: fmt.Errorf("no complete response: %w", context.Cause(ctx))}
	}
}

func (p *Proxy) push(r *http.Request, tls bool) (res PushResult) {
	st := &stdState{stdView: newStdView(r, tls)}
	rec := &pushWriter{header: http.Header{}}
	st.w = &statusWriter{ResponseWriter: rec, p: p, f: &st.flow}
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				panic(v)
			}
			res = PushResult{Status: rec.code, Bytes: rec.bytes, Err: errors.New("the response broke off")}
		}
	}()
	p.handle(st, &st.flow)
	res = PushResult{Status: rec.code, Bytes: rec.bytes, CacheStatus: rec.header.Get(cache.StatusHeader)}
	if res.Status == 0 {
		res.Status = http.StatusOK
	}
	plan := &st.flow.plan
	switch {
	case st.flow.app == nil:
		res.Err = fmt.Errorf("no app serves %s on this node's %s listener (status %d)", st.Host(), st.Scheme(), res.Status)
	case res.Status >= 400:
		res.Err = fmt.Errorf("status %d", res.Status)
	case plan.Kind != route.Proxy:
		res.Err = fmt.Errorf("%w: no proxy rule answers this URL", ErrNotCacheable)
	case !p.useCache(plan, http.MethodGet, false):
		res.Err = fmt.Errorf("%w: no cache rule for this URL", ErrNotCacheable)
	case plan.Cache.Bypass:
		res.Err = fmt.Errorf("%w: a cache rule bypasses the cache for this URL", ErrNotCacheable)
	case res.CacheStatus == cache.StatusHit:
		res.Cached = true
	default:
		res.Cached = p.opts.Cache.Fresh(stdCacheRequest(r, st.Host()), plan.Cache)
		if !res.Cached {
			res.Err = fmt.Errorf("%w: the response (status %d) was not stored (Cache-Control, Vary, size or the cache rule's status codes)",
				ErrNotCacheable, res.Status)
		}
	}
	return res
}

// pushWriter is the ResponseWriter of a push: it keeps the head and counts
// the body.
type pushWriter struct {
	header http.Header
	code   int
	bytes  int64
}

func (w *pushWriter) Header() http.Header { return w.header }
func (w *pushWriter) WriteHeader(code int) {
	if w.code == 0 && code >= 200 {
		w.code = code
	}
}
func (w *pushWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	w.bytes += int64(len(b))
	return len(b), nil
}
func (w *pushWriter) Flush() {}

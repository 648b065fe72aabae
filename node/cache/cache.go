package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Cache status values, sent to clients in X-Cache-Status.
const (
	StatusHit     = "HIT"
	StatusMiss    = "MISS"
	StatusExpired = "EXPIRED"
	StatusStale   = "STALE"
	StatusBypass  = "BYPASS"
)

// StatusHeader is the response header naming the cache status.
const StatusHeader = "X-Cache-Status"

// Response is an origin response. Its body is either complete in Body or,
// when Stream is set, still arriving: the cache tees a stream into the
// store while the client reads it (see fill.go).
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	// Stream, when not nil, is the body (Body is ignored) and Length its
	// size, -1 when unknown. Whoever ends up with it closes it.
	Stream io.ReadCloser
	Length int64
	// Parent names the parent-tier node that answered ("" for the origin).
	Parent string
}

// Fetcher fetches the full object from the origin (never a Range of it).
// cond carries If-None-Match / If-Modified-Since when revalidating a stored
// copy (nil otherwise); a 304 reply refreshes that copy. A fetch for a
// background revalidation runs after the client's request finished, so a
// Fetcher must not use request-scoped memory (fasthttp recycles it).
type Fetcher func(ctx context.Context, cond http.Header) (*Response, error)

// Result is what the proxy writes back. Header is shared with the store and
// read-only: copy it, then add Age (when AgeSeconds >= 0), X-Cache-Status,
// Content-Range (when set) and Content-Length = len(Body).
//
// A MISS (or refetch) may carry Stream instead of Body: the origin's body
// as it arrives, stored when it ends complete. The server copies it to the
// client (Content-Length = Length when >= 0) and must Close it; closing
// before the end aborts the fill and nothing is stored.
type Result struct {
	Status       int
	Header       http.Header
	Body         []byte
	Stream       io.ReadCloser
	Length       int64
	CacheStatus  string
	AgeSeconds   int64
	ContentRange string
	// Parent names the parent-tier node the response came from ("" for
	// the origin or the store).
	Parent string
	obj    *Object // the stored object served, if any (for Fields)
}

// Options configure a Cache.
type Options struct {
	// Open opens the store; the cache passes the eviction hook it needs.
	Open func(onEvict EvictFunc) (Store, error)
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Cache serves requests from a Store and keeps its purge indexes.
type Cache struct {
	store Store
	idx   *index
	now   func() time.Time
	// held is set while purges a node missed are being applied: nothing is
	// served from (or stored in) the cache then.
	held atomic.Bool

	mu      sync.Mutex
	flights map[string]*flight

	counts counters
}

// flight is one fetch of a key. The leader's stays in Cache.flights until
// its body has ended (a streamed fill ends when the client has read it),
// then done is closed and stored / err are final. Waiters only read stored.
type flight struct {
	done    chan struct{}
	waiters atomic.Int32
	resp    *Response
	stored  *Object // non-nil when the response was stored
	err     error
	// streamAge is the Age of a streamed response that will be stored
	// (the origin's Age), -1 when it will not be.
	streamAge int64
	// rangeMax bounds what a Range request buffers of a streamed body.
	rangeMax int64
	// ready is closed once the leader has the response headers; lead is
	// then its result when waiters may follow its streamed body.
	ready chan struct{}
	lead  *flight
}

// New opens the store and rebuilds the indexes from what it holds.
func New(opts Options) (*Cache, error) {
	c := &Cache{idx: newIndex(), now: opts.Now, flights: map[string]*flight{}}
	if c.now == nil {
		c.now = time.Now
	}
	if opts.Open == nil {
		return nil, errors.New("cache: Options.Open is required")
	}
	s, err := opts.Open(c.idx.remove)
	if err != nil {
		return nil, fmt.Errorf("cache: open store: %w", err)
	}
	c.store = s
	s.Range(func(m *Meta) bool { c.idx.add(m); return true })
	return c, nil
}

// Store returns the underlying store.
func (c *Cache) Store() Store { return c.store }

// Len is the number of stored objects.
func (c *Cache) Len() int { return c.idx.len() }

// Hold stops serving from the cache (requests are BYPASS) until Release; a
// node holds its cache while it applies purges it missed.
func (c *Cache) Hold()    { c.held.Store(true) }
func (c *Cache) Release() { c.held.Store(false) }

// Close closes the store.
func (c *Cache) Close() error { return c.store.Close() }

// Do answers r under policy p from the cache, or through fetch.
func (c *Cache) Do(ctx context.Context, r *Request, p *Policy, fetch Fetcher) (*Result, error) {
	if p == nil || p.Bypass || (r.Method != http.MethodGet && r.Method != http.MethodHead) || c.held.Load() {
		c.counts.status[statusBypass].Add(1)
		resp, err := fetch(ctx, nil)
		if err != nil {
			return nil, err
		}
		return &Result{Status: resp.Status, Header: resp.Header, Body: resp.Body, Stream: resp.Stream, Length: resp.Length,
			Parent: resp.Parent, CacheStatus: StatusBypass, AgeSeconds: -1}, nil
	}
	primary := p.Key.Build(r)
	key := varyKey(primary, c.idx.vary(primary), r)
	now := c.now()
	obj, ok := c.store.Get(key)
	if !ok {
		c.counts.status[statusMiss].Add(1)
		f, err := c.fetchShared(ctx, key, primary, r, p, fetch, nil)
		if err != nil {
			return nil, err
		}
		return c.result(r, f, StatusMiss, now), nil
	}
	m := &obj.Meta
	if now.Before(m.FreshUntil) && !m.SoftPurged {
		c.counts.status[statusHit].Add(1)
		return c.result(r, &flight{stored: obj}, StatusHit, now), nil
	}
	staleEnd := m.FreshUntil
	if m.SoftPurged && now.Before(staleEnd) {
		staleEnd = now
	}
	if now.Before(staleEnd.Add(m.StaleWhileRevalidate)) {
		go func() { // refresh behind the client's back, at most one per key
			f, err := c.fetchShared(context.WithoutCancel(ctx), key, primary, r, p, fetch, obj)
			if err == nil {
				drain(f.resp) // nobody reads it: run the fill to its end
			}
		}()
		c.counts.status[statusStale].Add(1)
		return c.result(r, &flight{stored: obj}, StatusStale, now), nil
	}
	f, err := c.fetchShared(ctx, key, primary, r, p, fetch, obj)
	if (err != nil || f.resp.Status >= 500) && now.Before(staleEnd.Add(m.StaleIfError)) {
		if err == nil && f.resp.Stream != nil {
			f.resp.Stream.Close()
		}
		c.counts.status[statusStale].Add(1)
		return c.result(r, &flight{stored: obj}, StatusStale, now), nil
	}
	c.counts.status[statusExpired].Add(1)
	if err != nil {
		return nil, err
	}
	return c.result(r, f, StatusExpired, now), nil
}

// result is what the client gets from f: the stored object, or the
// response (complete, or streaming while it is stored).
func (c *Cache) result(r *Request, f *flight, status string, now time.Time) *Result {
	res := &Result{CacheStatus: status, AgeSeconds: -1}
	if obj := f.stored; obj != nil {
		res.Status, res.Header, res.Body, res.obj = obj.Meta.Status, obj.Meta.Header, obj.Body, obj
		res.AgeSeconds = int64((now.Sub(obj.Meta.StoredAt) + obj.Meta.InitialAge) / time.Second)
		if res.AgeSeconds < 0 {
			res.AgeSeconds = 0
		}
	} else {
		resp := f.resp
		res.Status, res.Header, res.Body, res.Stream, res.Length = resp.Status, resp.Header, resp.Body, resp.Stream, resp.Length
		if resp.Stream != nil {
			res.AgeSeconds = f.streamAge
		}
	}
	if f.resp != nil {
		res.Parent = f.resp.Parent
	}
	if res.Status == http.StatusOK && r.Method == http.MethodGet {
		if res.Stream != nil && r.header("Range") != "" {
			bufferStream(res, f.rangeMax)
		}
		if res.Stream == nil {
			applyRange(r, res)
		}
	}
	return res
}

// bufferStream reads a streamed body of at most max bytes into res.Body so
// a Range can be cut from it (the fill stores it meanwhile). A longer body
// keeps streaming: the client gets all of it, as RFC 9110 allows.
func bufferStream(res *Result, max int64) {
	if res.Length > max {
		return
	}
	b, err := io.ReadAll(io.LimitReader(res.Stream, max+1))
	if err == nil && int64(len(b)) <= max {
		res.Stream.Close()
		res.Body, res.Stream, res.Length = b, nil, -1
		return
	}
	res.Stream = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(b), errReader{err}, res.Stream), res.Stream}
}

// errReader ends a MultiReader with err (nil: go on to the next reader).
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	return 0, io.EOF
}

package cache

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
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

// Response is an origin response.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
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
type Result struct {
	Status       int
	Header       http.Header
	Body         []byte
	CacheStatus  string
	AgeSeconds   int64
	ContentRange string
	obj          *Object // the stored object served, if any (for Fields)
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
}

type flight struct {
	done    chan struct{}
	waiters atomic.Int32
	resp    *Response
	stored  *Object // non-nil when the response was stored
	err     error
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
		resp, err := fetch(ctx, nil)
		if err != nil {
			return nil, err
		}
		return &Result{Status: resp.Status, Header: resp.Header, Body: resp.Body, CacheStatus: StatusBypass, AgeSeconds: -1}, nil
	}
	primary := p.Key.Build(r)
	key := varyKey(primary, c.idx.vary(primary), r)
	now := c.now()
	obj, ok := c.store.Get(key)
	if !ok {
		f, err := c.fetchShared(ctx, key, primary, r, p, fetch, nil)
		if err != nil {
			return nil, err
		}
		return c.result(r, f.resp, f.stored, StatusMiss, now), nil
	}
	m := &obj.Meta
	if now.Before(m.FreshUntil) && !m.SoftPurged {
		return c.result(r, nil, obj, StatusHit, now), nil
	}
	staleEnd := m.FreshUntil
	if m.SoftPurged && now.Before(staleEnd) {
		staleEnd = now
	}
	if now.Before(staleEnd.Add(m.StaleWhileRevalidate)) {
		go func() { // refresh behind the client's back, at most one per key
			_, _ = c.fetchShared(context.WithoutCancel(ctx), key, primary, r, p, fetch, obj)
		}()
		return c.result(r, nil, obj, StatusStale, now), nil
	}
	f, err := c.fetchShared(ctx, key, primary, r, p, fetch, obj)
	if (err != nil || f.resp.Status >= 500) && now.Before(staleEnd.Add(m.StaleIfError)) {
		return c.result(r, nil, obj, StatusStale, now), nil
	}
	if err != nil {
		return nil, err
	}
	return c.result(r, f.resp, f.stored, StatusExpired, now), nil
}

// fetchShared runs one origin fetch per key at a time; concurrent callers
// wait for it. A waiter whose leader got an uncacheable response fetches for
// itself, so a private response is never handed to another client.
func (c *Cache) fetchShared(ctx context.Context, key, primary string, r *Request, p *Policy, fetch Fetcher, old *Object) (*flight, error) {
	c.mu.Lock()
	if f, ok := c.flights[key]; ok {
		f.waiters.Add(1)
		c.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if f.err == nil && f.stored != nil {
			return f, nil
		}
		return c.fetchOnce(ctx, key, primary, r, p, fetch, old)
	}
	f := &flight{done: make(chan struct{})}
	c.flights[key] = f
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.flights, key)
		c.mu.Unlock()
		close(f.done)
	}()
	res, err := c.fetchOnce(ctx, key, primary, r, p, fetch, old)
	if err != nil {
		f.err = err
		return nil, err
	}
	f.resp, f.stored = res.resp, res.stored
	return f, nil
}

func (c *Cache) fetchOnce(ctx context.Context, key, primary string, r *Request, p *Policy, fetch Fetcher, old *Object) (*flight, error) {
	var cond http.Header
	if old != nil {
		if et := old.Meta.Header.Get("Etag"); et != "" {
			cond = http.Header{"If-None-Match": {et}}
		} else if lm := old.Meta.Header.Get("Last-Modified"); lm != "" {
			cond = http.Header{"If-Modified-Since": {lm}}
		}
	}
	resp, err := fetch(ctx, cond)
	if err != nil {
		return nil, err
	}
	if resp.Header == nil {
		resp.Header = http.Header{}
	}
	if resp.Status == http.StatusNotModified && old != nil && cond != nil {
		// Refresh the stored copy: its body, updated headers.
		h := old.Meta.Header.Clone()
		for k, v := range resp.Header {
			h[k] = v
		}
		resp = &Response{Status: old.Meta.Status, Header: h, Body: old.Body}
	}
	return &flight{resp: resp, stored: c.store1(key, primary, r, p, resp)}, nil
}

// store1 stores resp when the policy and its headers allow; it returns the
// stored object or nil.
func (c *Cache) store1(key, primary string, r *Request, p *Policy, resp *Response) *Object {
	if c.held.Load() || r.Method != http.MethodGet { // a HEAD reply has no body to store
		return nil
	}
	max := p.MaxObjectSize
	if max <= 0 {
		max = defaultMaxObject
	}
	if int64(len(resp.Body)) > max || resp.Status == http.StatusPartialContent || resp.Status == http.StatusNotModified {
		return nil
	}
	now := c.now()
	fr := p.freshness(resp.Status, resp.Header, now)
	names, star := varyNames(resp.Header)
	if !fr.store || star {
		return nil
	}
	if vk := varyKey(primary, names, r); vk != key {
		key = vk
	}
	var age time.Duration
	if a, err := strconv.ParseInt(resp.Header.Get("Age"), 10, 64); err == nil && a > 0 {
		age = time.Duration(a) * time.Second
	}
	obj := &Object{
		Meta: Meta{
			Key: key, Primary: primary, Host: r.Host, Path: r.Path, RawQuery: r.RawQuery,
			KeyNoQuery: p.Key.IgnoreQuery, KeyArgs: p.Key.QueryArgs,
			Status: resp.Status, Header: resp.Header, Tags: tagsFrom(resp.Header, p.TagHeader), Vary: names,
			StoredAt: now, InitialAge: age, FreshUntil: now.Add(fr.ttl - age),
			StaleWhileRevalidate: fr.swr, StaleIfError: fr.sie,
		},
		Body: resp.Body,
	}
	if err := c.store.Put(obj); err != nil {
		return nil
	}
	c.idx.add(&obj.Meta)
	return obj
}

func (c *Cache) result(r *Request, resp *Response, obj *Object, status string, now time.Time) *Result {
	res := &Result{CacheStatus: status, AgeSeconds: -1}
	if obj != nil {
		res.Status, res.Header, res.Body, res.obj = obj.Meta.Status, obj.Meta.Header, obj.Body, obj
		res.AgeSeconds = int64((now.Sub(obj.Meta.StoredAt) + obj.Meta.InitialAge) / time.Second)
		if res.AgeSeconds < 0 {
			res.AgeSeconds = 0
		}
	} else {
		res.Status, res.Header, res.Body = resp.Status, resp.Header, resp.Body
	}
	if res.Status == http.StatusOK && r.Method == http.MethodGet {
		applyRange(r, res)
	}
	return res
}

package cache

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Fills: fetching a missing or expired object, coalesced per key, and
// storing it. A streamed origin body reaches the client as it arrives; the
// cache keeps a copy on the side and stores it only when the body ended
// complete (EOF, and as long as Content-Length said), within the policy's
// size limit. A body that grows past the limit passes through uncached; an
// aborted one (origin error, client gone) is never stored.

// errFillAborted ends a flight whose streamed body did not arrive whole.
var errFillAborted = errors.New("cache: fill aborted before the body ended")

// fetchShared runs one origin fetch per key at a time; concurrent callers
// share it. When the leader's body streams with a known length (so it will
// be stored unless it breaks off), they read it as it arrives, each at its
// own pace; otherwise they wait until it has ended and get the stored
// object. A waiter whose leader got an uncacheable response (or lost its
// body before the waiter got any of it) fetches for itself, so a private
// response is never handed to another client.
func (c *Cache) fetchShared(ctx context.Context, key, primary string, r *Request, p *Policy, fetch Fetcher, old *Object) (*flight, error) {
	c.mu.Lock()
	if f, ok := c.flights[key]; ok {
		f.waiters.Add(1)
		c.mu.Unlock()
		select {
		case <-f.ready:
		case <-f.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		select {
		case <-f.done: // ended already: the stored copy, if any
		default: // so ready was closed: lead is set or final
			if lead := f.lead; lead != nil {
				return lead.follow(), nil
			}
			select {
			case <-f.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if f.err == nil && f.stored != nil {
			return &flight{stored: f.stored, resp: &Response{Status: f.stored.Meta.Status}}, nil
		}
		return c.fetchOnce(ctx, key, primary, r, p, fetch, old, nil)
	}
	f := &flight{done: make(chan struct{}), ready: make(chan struct{})}
	c.flights[key] = f
	c.mu.Unlock()
	finish := func(stored *Object, err error) {
		f.stored, f.err = stored, err
		c.mu.Lock()
		delete(c.flights, key)
		c.mu.Unlock()
		close(f.done)
	}
	res, err := c.fetchOnce(ctx, key, primary, r, p, fetch, old, finish)
	if err != nil {
		finish(nil, err)
		close(f.ready)
		return nil, err
	}
	if fr, ok := res.resp.Stream.(*fillReader); ok && fr.want >= 0 {
		f.lead = res // waiters follow the stream
	}
	close(f.ready)
	return res, nil
}

// follow is what a waiter gets of a leader's streamed fill: the same
// response, its body read from the fill's copy as it grows.
func (lead *flight) follow() *flight {
	resp := *lead.resp
	fr := resp.Stream.(*fillReader)
	fr.followers.Add(1)
	resp.Stream = &follower{f: fr}
	return &flight{resp: &resp, streamAge: lead.streamAge, rangeMax: lead.rangeMax}
}

// fetchOnce fetches and stores. finish, when not nil, is called once with
// the stored object (or nil) when the body has ended: at once for a
// complete body, by the fill reader for a streamed one.
func (c *Cache) fetchOnce(ctx context.Context, key, primary string, r *Request, p *Policy, fetch Fetcher, old *Object, finish func(*Object, error)) (*flight, error) {
	if finish == nil {
		finish = func(*Object, error) {}
	}
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
		if resp.Stream != nil {
			resp.Stream.Close() // a 304 has no body
		}
		// Refresh the stored copy: its body, updated headers.
		h := old.Meta.Header.Clone()
		for k, v := range resp.Header {
			h[k] = v
		}
		resp = &Response{Status: old.Meta.Status, Header: h, Body: old.Body, Parent: resp.Parent}
	}
	obj := c.storable(key, primary, r, p, resp)
	if resp.Stream == nil {
		var stored *Object
		if obj != nil && int64(len(resp.Body)) <= maxObject(p) {
			obj.Body = resp.Body
			stored = c.put(obj)
		}
		finish(stored, nil)
		return &flight{resp: resp, stored: stored, streamAge: -1}, nil
	}
	if obj == nil || resp.Length > maxObject(p) {
		finish(nil, nil) // passes through; waiters fetch for themselves
		return &flight{resp: resp, streamAge: -1, rangeMax: maxObject(p)}, nil
	}
	fr := &fillReader{c: c, src: resp.Stream, obj: obj, max: maxObject(p), want: resp.Length, finish: finish}
	fr.more.L = &fr.mu
	if resp.Length > 0 {
		fr.buf = make([]byte, 0, resp.Length)
	}
	out := *resp
	out.Stream = fr
	return &flight{resp: &out, streamAge: int64(obj.Meta.InitialAge / time.Second), rangeMax: maxObject(p)}, nil
}

func maxObject(p *Policy) int64 {
	if p.MaxObjectSize > 0 {
		return p.MaxObjectSize
	}
	return defaultMaxObject
}

// storable returns the object resp would be stored as (without its body),
// or nil when the policy, the request or the response's headers forbid
// storing it.
func (c *Cache) storable(key, primary string, r *Request, p *Policy, resp *Response) *Object {
	if c.held.Load() || r.Method != http.MethodGet { // a HEAD reply has no body to store
		return nil
	}
	if resp.Status == http.StatusPartialContent || resp.Status == http.StatusNotModified {
		return nil
	}
	now := c.now()
	fr := p.freshness(resp.Status, resp.Header, now)
	names, star := varyNames(resp.Header)
	if !fr.store || star {
		return nil
	}
	key = varyKey(primary, names, r)
	var age time.Duration
	if a, err := strconv.ParseInt(resp.Header.Get("Age"), 10, 64); err == nil && a > 0 {
		age = time.Duration(a) * time.Second
	}
	return &Object{
		Meta: Meta{
			Key: key, Primary: primary, Host: r.Host, Path: r.Path, RawQuery: r.RawQuery,
			KeyNoQuery: p.Key.IgnoreQuery, KeyArgs: p.Key.QueryArgs,
			Status: resp.Status, Header: resp.Header, Tags: tagsFrom(resp.Header, p.TagHeader), Vary: names,
			StoredAt: now, InitialAge: age, FreshUntil: now.Add(fr.ttl - age),
			StaleWhileRevalidate: fr.swr, StaleIfError: fr.sie,
		},
	}
}

// put stores obj (its body set) and indexes it; nil when the store refused
// it or the cache is held.
func (c *Cache) put(obj *Object) *Object {
	if c.held.Load() {
		return nil
	}
	if err := c.store.Put(obj); err != nil {
		return nil
	}
	c.idx.add(&obj.Meta)
	return obj
}

// fillReader passes a streamed origin body to the client and keeps a copy
// of it; at the end of a complete body it stores the object. Read and
// Close are called from one goroutine at a time (the server's writer);
// followers read the copy under mu.
type fillReader struct {
	c      *Cache
	src    io.ReadCloser
	obj    *Object
	max    int64
	want   int64 // Content-Length, -1 when unknown
	finish func(*Object, error)

	followers atomic.Int32

	mu       sync.Mutex
	more     sync.Cond // followers wait on it for more bytes or the end
	buf      []byte
	tooBig   bool
	ended    bool
	complete bool
}

func (f *fillReader) Read(b []byte) (int, error) {
	n, err := f.src.Read(b)
	f.mu.Lock()
	if n > 0 && !f.tooBig {
		if int64(len(f.buf)+n) > f.max {
			f.tooBig, f.buf = true, nil // passes through, uncached
		} else {
			f.buf = append(f.buf, b[:n]...)
		}
	}
	f.mu.Unlock()
	switch {
	case err == io.EOF:
		f.end(true)
	case err != nil:
		f.end(false)
	default:
		f.more.Broadcast()
	}
	return n, err
}

// Close ends the leader's part: a body read up to its Content-Length is
// complete even if EOF was not seen yet; anything shorter is aborted,
// unless other clients follow the fill: then it reads on without its
// client (the body is bounded by the object limit) so they get all of it.
func (f *fillReader) Close() error {
	f.mu.Lock()
	ended := f.ended
	whole := f.want >= 0 && int64(len(f.buf)) == f.want && !f.tooBig
	f.mu.Unlock()
	if !ended && !whole && f.followers.Load() > 0 {
		go func() {
			_, _ = io.Copy(io.Discard, onlyReader{f})
			f.src.Close()
		}()
		return nil
	}
	f.end(whole)
	return f.src.Close()
}

// onlyReader hides io.WriterTo and friends, so io.Copy calls Read.
type onlyReader struct{ io.Reader }

func (f *fillReader) end(eof bool) {
	f.mu.Lock()
	if f.ended {
		f.mu.Unlock()
		return
	}
	f.ended = true
	f.complete = eof && !f.tooBig && (f.want < 0 || int64(len(f.buf)) == f.want)
	if !f.complete {
		f.buf = nil
	}
	body, complete, tooBig := f.buf, f.complete, f.tooBig
	f.mu.Unlock()
	f.more.Broadcast()
	switch {
	case complete:
		f.obj.Body = body // followers go on reading it: it is never written again
		f.finish(f.c.put(f.obj), nil)
	case tooBig:
		f.finish(nil, nil) // whole, just too big: waiters fetch for themselves
	default:
		f.finish(nil, errFillAborted)
	}
}

// follower reads a fill's copy as it grows; a fill that breaks off breaks
// its followers off too (they have sent part of the body already).
type follower struct {
	f   *fillReader
	off int
}

func (w *follower) Read(b []byte) (int, error) {
	f := w.f
	f.mu.Lock()
	defer f.mu.Unlock()
	for w.off >= len(f.buf) && !f.ended {
		f.more.Wait()
	}
	if w.off < len(f.buf) {
		n := copy(b, f.buf[w.off:])
		w.off += n
		return n, nil
	}
	if f.complete {
		return 0, io.EOF
	}
	return 0, errFillAborted
}

func (w *follower) Close() error { return nil }

// drain reads a response's stream to its end and closes it (a background
// refresh, which no client reads).
func drain(resp *Response) {
	if resp == nil || resp.Stream == nil {
		return
	}
	_, _ = io.Copy(io.Discard, resp.Stream)
	resp.Stream.Close()
}

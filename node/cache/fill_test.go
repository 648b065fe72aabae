package cache

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// streamOrigin is a fetcher whose body the test feeds through a pipe; it
// counts the fetches.
type streamOrigin struct {
	mu      sync.Mutex
	fetches int
	pw      *io.PipeWriter
	length  int64
	header  http.Header
	ready   chan struct{} // one value per fetch, once the pipe is set
}

func newStreamOrigin(length int64) *streamOrigin {
	return &streamOrigin{length: length, ready: make(chan struct{}, 8),
		header: http.Header{"Cache-Control": {"max-age=60"}}}
}

func (o *streamOrigin) fetch(context.Context, http.Header) (*Response, error) {
	pr, pw := io.Pipe()
	o.mu.Lock()
	o.fetches++
	o.pw = pw
	o.mu.Unlock()
	o.ready <- struct{}{}
	return &Response{Status: 200, Header: o.header.Clone(), Stream: pr, Length: o.length}, nil
}

func (o *streamOrigin) writer() *io.PipeWriter { o.mu.Lock(); defer o.mu.Unlock(); return o.pw }

func newStreamCache(t *testing.T) *Cache {
	t.Helper()
	c, err := New(Options{Open: func(ev EvictFunc) (Store, error) { return NewMemory(1<<20, ev), nil }})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var streamPolicy = &Policy{TTLByStatus: map[int]time.Duration{0: time.Minute}}

// A streamed MISS reaches the caller before the origin has sent it all; it
// is stored once the body ended complete, and the next request is a HIT.
func TestFillStreamsThenStores(t *testing.T) {
	c := newStreamCache(t)
	o := newStreamOrigin(10)
	r := &Request{Method: "GET", Host: "h", Path: "/s"}
	res, err := c.Do(context.Background(), r, streamPolicy, o.fetch)
	if err != nil {
		t.Fatal(err)
	}
	if res.Stream == nil || res.CacheStatus != StatusMiss || res.Length != 10 || res.AgeSeconds != 0 {
		t.Fatalf("result: stream %v status %s length %d age %d", res.Stream != nil, res.CacheStatus, res.Length, res.AgeSeconds)
	}
	go func() { _, _ = o.writer().Write([]byte("hello")) }()
	first := make([]byte, 5)
	if _, err := io.ReadFull(res.Stream, first); err != nil || string(first) != "hello" {
		t.Fatalf("first half: %q %v", first, err)
	}
	if c.Len() != 0 {
		t.Fatal("stored before the body ended")
	}
	go func() { _, _ = o.writer().Write([]byte("world")); o.writer().Close() }()
	rest, err := io.ReadAll(res.Stream)
	if err != nil || string(rest) != "world" {
		t.Fatalf("rest: %q %v", rest, err)
	}
	res.Stream.Close()
	hit, err := c.Do(context.Background(), r, streamPolicy, o.fetch)
	if err != nil || hit.CacheStatus != StatusHit || string(hit.Body) != "helloworld" {
		t.Fatalf("second request: %v %+v", err, hit)
	}
}

// A body that breaks off (origin error, or the client closing early) is
// never stored; a body longer than the policy's limit passes through.
func TestFillAbortedOrTooBigNotStored(t *testing.T) {
	for _, tc := range []struct {
		name   string
		length int64
		max    int64
		feed   func(w *io.PipeWriter, s io.ReadCloser)
	}{
		{"origin error", 10, 0, func(w *io.PipeWriter, s io.ReadCloser) {
			go func() { _, _ = w.Write([]byte("hello")); w.CloseWithError(errors.New("reset")) }()
			_, _ = io.ReadAll(s)
		}},
		{"client gone", 10, 0, func(w *io.PipeWriter, s io.ReadCloser) {
			go func() { _, _ = w.Write([]byte("hello")) }()
			_, _ = s.Read(make([]byte, 5))
		}},
		{"short body", 10, 0, func(w *io.PipeWriter, s io.ReadCloser) {
			go func() { _, _ = w.Write([]byte("hello")); w.Close() }()
			_, _ = io.ReadAll(s)
		}},
		{"too big, length unknown", -1, 8, func(w *io.PipeWriter, s io.ReadCloser) {
			go func() { _, _ = w.Write([]byte("helloworld")); w.Close() }()
			if b, _ := io.ReadAll(s); string(b) != "helloworld" {
				panic("passed through: " + string(b))
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newStreamCache(t)
			o := newStreamOrigin(tc.length)
			p := &Policy{TTLByStatus: streamPolicy.TTLByStatus, MaxObjectSize: tc.max}
			r := &Request{Method: "GET", Host: "h", Path: "/a"}
			res, err := c.Do(context.Background(), r, p, o.fetch)
			if err != nil || res.Stream == nil {
				t.Fatalf("Do: %v, stream %v", err, res != nil && res.Stream != nil)
			}
			tc.feed(o.writer(), res.Stream)
			res.Stream.Close()
			if c.Len() != 0 {
				t.Fatalf("%d objects stored", c.Len())
			}
			go func() { <-o.ready; <-o.ready; o.writer().Close() }()
			again, err := c.Do(context.Background(), r, p, o.fetch)
			if err != nil || again.CacheStatus != StatusMiss {
				t.Fatalf("next request: %v %+v", err, again)
			}
			again.Stream.Close()
		})
	}
}

// Requests for a key being streamed wait for the fill and get the stored
// copy: one origin fetch for all of them.
func TestFillCoalescesWaiters(t *testing.T) {
	c := newStreamCache(t)
	o := newStreamOrigin(-1)
	r := &Request{Method: "GET", Host: "h", Path: "/c"}
	res, err := c.Do(context.Background(), r, streamPolicy, o.fetch)
	if err != nil {
		t.Fatal(err)
	}
	const n = 5
	type got struct {
		res *Result
		err error
	}
	out := make(chan got, n)
	for range n {
		go func() {
			res, err := c.Do(context.Background(), r, streamPolicy, o.fetch)
			out <- got{res, err}
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for waiting := int32(0); waiting != n; { // poll until all wait on the flight
		if time.Now().After(deadline) {
			t.Fatalf("%d waiters, want %d", waiting, n)
		}
		time.Sleep(time.Millisecond)
		c.mu.Lock()
		for _, f := range c.flights {
			waiting = f.waiters.Load()
		}
		c.mu.Unlock()
	}
	go func() { _, _ = o.writer().Write([]byte(strings.Repeat("x", 100))); o.writer().Close() }()
	if b, err := io.ReadAll(res.Stream); err != nil || len(b) != 100 {
		t.Fatalf("leader body: %d bytes, %v", len(b), err)
	}
	res.Stream.Close()
	for range n {
		g := <-out
		if g.err != nil || g.res.Stream != nil || len(g.res.Body) != 100 || g.res.CacheStatus != StatusMiss {
			t.Fatalf("waiter: %v %+v", g.err, g.res)
		}
	}
	if o.mu.Lock(); o.fetches != 1 {
		t.Fatalf("%d origin fetches, want 1", o.fetches)
	}
}

// With a known length, requests for a key being streamed follow the fill:
// they read what has arrived while the origin is still sending, one origin
// fetch for all; when the fill breaks off, so do they.
func TestFillWaitersFollowStream(t *testing.T) {
	for _, abort := range []bool{false, true} {
		t.Run(map[bool]string{false: "complete", true: "aborted"}[abort], func(t *testing.T) {
			c := newStreamCache(t)
			o := newStreamOrigin(10)
			r := &Request{Method: "GET", Host: "h", Path: "/f"}
			lead, err := c.Do(context.Background(), r, streamPolicy, o.fetch)
			if err != nil {
				t.Fatal(err)
			}
			const n = 3
			var followers []*Result
			for range n {
				res, err := c.Do(context.Background(), r, streamPolicy, o.fetch)
				if err != nil || res.Stream == nil || res.CacheStatus != StatusMiss || res.Length != 10 {
					t.Fatalf("waiter: %v %+v", err, res)
				}
				followers = append(followers, res)
			}
			go func() { _, _ = o.writer().Write([]byte("hello")) }()
			if _, err := io.ReadFull(lead.Stream, make([]byte, 5)); err != nil {
				t.Fatal(err)
			}
			for _, f := range followers { // before the origin sent the rest
				b := make([]byte, 5)
				if _, err := io.ReadFull(f.Stream, b); err != nil || string(b) != "hello" {
					t.Fatalf("follower: %q %v", b, err)
				}
			}
			go func() {
				if abort {
					o.writer().CloseWithError(errors.New("reset"))
					return
				}
				_, _ = o.writer().Write([]byte("world"))
				o.writer().Close()
			}()
			_, _ = io.ReadAll(lead.Stream)
			lead.Stream.Close()
			for _, f := range followers {
				rest, err := io.ReadAll(f.Stream)
				f.Stream.Close()
				if abort && !errors.Is(err, errFillAborted) {
					t.Fatalf("follower of an aborted fill: %q %v", rest, err)
				}
				if !abort && (err != nil || string(rest) != "world") {
					t.Fatalf("follower rest: %q %v", rest, err)
				}
			}
			if o.mu.Lock(); o.fetches != 1 {
				t.Fatalf("%d origin fetches, want 1", o.fetches)
			}
			o.mu.Unlock()
			if want := map[bool]int{false: 1, true: 0}[abort]; c.Len() != want {
				t.Fatalf("%d objects stored, want %d", c.Len(), want)
			}
		})
	}
}

// The leader's client going away does not cut its followers off: the fill
// reads on for them and is stored.
func TestFillOutlivesLeaderForFollowers(t *testing.T) {
	c := newStreamCache(t)
	o := newStreamOrigin(10)
	r := &Request{Method: "GET", Host: "h", Path: "/g"}
	lead, err := c.Do(context.Background(), r, streamPolicy, o.fetch)
	if err != nil {
		t.Fatal(err)
	}
	follower, err := c.Do(context.Background(), r, streamPolicy, o.fetch)
	if err != nil || follower.Stream == nil {
		t.Fatalf("waiter: %v %+v", err, follower)
	}
	go func() { _, _ = o.writer().Write([]byte("hello")) }()
	if _, err := io.ReadFull(lead.Stream, make([]byte, 5)); err != nil {
		t.Fatal(err)
	}
	lead.Stream.Close() // the leader's client is gone
	go func() { _, _ = o.writer().Write([]byte("world")); o.writer().Close() }()
	b, err := io.ReadAll(follower.Stream)
	if err != nil || string(b) != "helloworld" {
		t.Fatalf("follower: %q %v", b, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for c.Len() != 1 { // stored by the background read, just after the end
		if time.Now().After(deadline) {
			t.Fatal("the fill was not stored")
		}
		time.Sleep(time.Millisecond)
	}
}

package cache

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// origin is a real HTTP server whose handler a test chooses.
type origin struct {
	srv   *httptest.Server
	hits  atomic.Int32
	mu    sync.Mutex
	h     http.HandlerFunc
	conds []string
}

func newOrigin(t *testing.T, h http.HandlerFunc) *origin {
	o := &origin{h: h}
	o.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.hits.Add(1)
		o.mu.Lock()
		o.conds = append(o.conds, r.Header.Get("If-None-Match"))
		h := o.h
		o.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(o.srv.Close)
	return o
}

func (o *origin) set(h http.HandlerFunc) { o.mu.Lock(); o.h = h; o.mu.Unlock() }

// fetcher fetches path from the origin, forwarding the request headers.
func (o *origin) fetcher(r *Request, hdr http.Header) Fetcher {
	return func(ctx context.Context, cond http.Header) (*Response, error) {
		req, _ := http.NewRequestWithContext(ctx, "GET", o.srv.URL+r.Path, nil)
		for k, v := range hdr {
			if k != "Range" {
				req.Header[k] = v
			}
		}
		for k, v := range cond {
			req.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, err
	}
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func newClock() *clock                   { return &clock{t: time.Unix(1_700_000_000, 0)} }

type env struct {
	t   *testing.T
	c   *Cache
	o   *origin
	clk *clock
}

func newEnv(t *testing.T, h http.HandlerFunc) *env {
	clk := newClock()
	c, err := New(Options{Open: func(ev EvictFunc) (Store, error) { return NewMemory(64<<20, ev), nil }, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, c: c, o: newOrigin(t, h), clk: clk}
}

func (e *env) get(p *Policy, host, path string, hdr http.Header) *Result {
	e.t.Helper()
	if hdr == nil {
		hdr = http.Header{}
	}
	u := path
	q := ""
	if i := len(path); i > 0 {
		for j := range path {
			if path[j] == '?' {
				u, q = path[:j], path[j+1:]
				break
			}
		}
	}
	r := &Request{Method: "GET", Host: host, Path: u, RawQuery: q, Header: hdr.Get}
	res, err := e.c.Do(context.Background(), r, p, e.o.fetcher(r, hdr))
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

func text(body string, hdr ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(hdr); i += 2 {
			w.Header().Add(hdr[i], hdr[i+1])
		}
		io.WriteString(w, body)
	}
}

func (e *env) expect(res *Result, status string, body string) {
	e.t.Helper()
	if res.CacheStatus != status || string(res.Body) != body {
		e.t.Fatalf("got %s %q, want %s %q", res.CacheStatus, res.Body, status, body)
	}
}

var ttl60 = &Policy{TTLByStatus: map[int]time.Duration{200: time.Minute}}

func TestMissThenHitWithAge(t *testing.T) {
	e := newEnv(t, text("hello"))
	e.expect(e.get(ttl60, "a.com", "/x", nil), StatusMiss, "hello")
	e.clk.advance(5 * time.Second)
	res := e.get(ttl60, "a.com", "/x", nil)
	e.expect(res, StatusHit, "hello")
	if res.AgeSeconds != 5 {
		t.Fatalf("age %d, want 5", res.AgeSeconds)
	}
	if e.o.hits.Load() != 1 {
		t.Fatalf("origin hits %d", e.o.hits.Load())
	}
	e.clk.advance(time.Minute)
	e.expect(e.get(ttl60, "a.com", "/x", nil), StatusExpired, "hello")
	if e.o.hits.Load() != 2 {
		t.Fatalf("origin hits %d", e.o.hits.Load())
	}
}

func TestFreshnessRules(t *testing.T) {
	override := &Policy{OverrideOrigin: true, TTLByStatus: map[int]time.Duration{200: time.Minute}}
	tests := []struct {
		name    string
		p       *Policy
		handler http.HandlerFunc
		cached  bool
	}{
		{"ttl by status", ttl60, text("x"), true},
		{"status not listed", ttl60, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(404) }, false},
		{"any status key", &Policy{TTLByStatus: map[int]time.Duration{0: time.Minute}}, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(404) }, true},
		{"max-age honoured without rule", &Policy{}, text("x", "Cache-Control", "max-age=30"), true},
		{"no-store honoured", ttl60, text("x", "Cache-Control", "no-store"), false},
		{"private honoured", ttl60, text("x", "Cache-Control", "private, max-age=60"), false},
		{"set-cookie never shared", ttl60, text("x", "Set-Cookie", "s=1"), false},
		{"override ignores no-store", override, text("x", "Cache-Control", "no-store"), true},
		{"expires honoured", &Policy{}, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Expires", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
			w.Header().Set("Date", time.Now().UTC().Format(http.TimeFormat))
		}, true},
		{"vary star", ttl60, text("x", "Vary", "*"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.handler)
			e.get(tc.p, "a.com", "/x", nil)
			got := e.get(tc.p, "a.com", "/x", nil).CacheStatus == StatusHit
			if got != tc.cached {
				t.Fatalf("cached=%v, want %v", got, tc.cached)
			}
		})
	}
}

func TestRevalidationUsesETag(t *testing.T) {
	e := newEnv(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Etag", `"v1"`)
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(304)
			return
		}
		io.WriteString(w, "body")
	})
	e.get(ttl60, "a.com", "/x", nil)
	e.clk.advance(2 * time.Minute)
	e.expect(e.get(ttl60, "a.com", "/x", nil), StatusExpired, "body")
	e.expect(e.get(ttl60, "a.com", "/x", nil), StatusHit, "body")
	if fmt.Sprint(e.o.conds) != `[ "v1"]` {
		t.Fatalf("conditional headers %q", e.o.conds)
	}
}

func checkFor(t *testing.T, d time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestStaleWhileRevalidate(t *testing.T) {
	p := &Policy{TTLByStatus: map[int]time.Duration{200: time.Minute}, StaleWhileRevalidate: time.Minute}
	e := newEnv(t, text("v1"))
	e.get(p, "a.com", "/x", nil)
	e.o.set(text("v2"))
	e.clk.advance(90 * time.Second)
	e.expect(e.get(p, "a.com", "/x", nil), StatusStale, "v1")
	checkFor(t, 5*time.Second, func() error {
		if res := e.get(p, "a.com", "/x", nil); res.CacheStatus != StatusHit || string(res.Body) != "v2" {
			return fmt.Errorf("after background refresh: %s %q", res.CacheStatus, res.Body)
		}
		return nil
	})
}

func TestStaleIfError(t *testing.T) {
	p := &Policy{TTLByStatus: map[int]time.Duration{200: time.Minute}, StaleIfError: time.Minute}
	e := newEnv(t, text("good"))
	e.get(p, "a.com", "/x", nil)
	e.o.set(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) })
	e.clk.advance(90 * time.Second)
	e.expect(e.get(p, "a.com", "/x", nil), StatusStale, "good")
	e.clk.advance(time.Minute) // past the stale-if-error window
	if res := e.get(p, "a.com", "/x", nil); res.Status != 503 || res.CacheStatus != StatusExpired {
		t.Fatalf("got %d %s", res.Status, res.CacheStatus)
	}
}

func TestVary(t *testing.T) {
	e := newEnv(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Vary", "Accept-Language")
		io.WriteString(w, "lang="+r.Header.Get("Accept-Language"))
	})
	en, fr := http.Header{"Accept-Language": {"en"}}, http.Header{"Accept-Language": {"fr"}}
	e.expect(e.get(ttl60, "a.com", "/x", en), StatusMiss, "lang=en")
	e.expect(e.get(ttl60, "a.com", "/x", fr), StatusMiss, "lang=fr")
	e.expect(e.get(ttl60, "a.com", "/x", en), StatusHit, "lang=en")
	e.expect(e.get(ttl60, "a.com", "/x", fr), StatusHit, "lang=fr")
}

func TestRangeFromFullObject(t *testing.T) {
	e := newEnv(t, text("0123456789"))
	tests := []struct {
		rng, want, cr string
		status        int
	}{
		{"bytes=2-4", "234", "bytes 2-4/10", 206},
		{"bytes=7-", "789", "bytes 7-9/10", 206},
		{"bytes=-2", "89", "bytes 8-9/10", 206},
		{"bytes=20-", "", "bytes */10", 416},
		{"bytes=1-2,5-6", "0123456789", "", 200},
		{"items=1-2", "0123456789", "", 200},
	}
	for i, tc := range tests {
		t.Run(tc.rng, func(t *testing.T) {
			res := e.get(ttl60, "a.com", "/x", http.Header{"Range": {tc.rng}})
			if res.Status != tc.status || string(res.Body) != tc.want || res.ContentRange != tc.cr {
				t.Fatalf("got %d %q %q", res.Status, res.Body, res.ContentRange)
			}
			if i > 0 && res.CacheStatus != StatusHit {
				t.Fatalf("status %s", res.CacheStatus)
			}
		})
	}
	e.expect(e.get(ttl60, "a.com", "/x", nil), StatusHit, "0123456789")
}

func TestCoalescing(t *testing.T) {
	release := make(chan struct{})
	e := newEnv(t, func(w http.ResponseWriter, r *http.Request) {
		<-release
		io.WriteString(w, "once")
	})
	const n = 20
	results := make(chan *Result, n)
	for range n {
		go func() {
			r := &Request{Method: "GET", Host: "a.com", Path: "/x", Header: http.Header{}.Get}
			res, err := e.c.Do(context.Background(), r, ttl60, e.o.fetcher(r, nil))
			if err != nil {
				t.Error(err)
			}
			results <- res
		}()
	}
	checkFor(t, 5*time.Second, func() error {
		e.c.mu.Lock()
		defer e.c.mu.Unlock()
		for _, f := range e.c.flights {
			if w := f.waiters.Load(); w == n-1 {
				return nil
			}
		}
		return fmt.Errorf("waiters not all parked")
	})
	close(release)
	for range n {
		if res := <-results; string(res.Body) != "once" {
			t.Fatalf("body %q", res.Body)
		}
	}
	if h := e.o.hits.Load(); h != 1 {
		t.Fatalf("origin fetched %d times for %d concurrent misses", h, n)
	}
}

func TestBypassAndHold(t *testing.T) {
	e := newEnv(t, text("x"))
	e.expect(e.get(&Policy{Bypass: true}, "a.com", "/x", nil), StatusBypass, "x")
	e.c.Hold()
	e.expect(e.get(ttl60, "a.com", "/x", nil), StatusBypass, "x")
	e.c.Release()
	e.expect(e.get(ttl60, "a.com", "/x", nil), StatusMiss, "x")
	e.expect(e.get(ttl60, "a.com", "/x", nil), StatusHit, "x")
}

func TestPurges(t *testing.T) {
	handler := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Tag", "all, "+r.URL.Path[1:2])
		if r.URL.Path == "/img/logo.png" {
			w.Header().Set("X-Kind", "image")
		}
		io.WriteString(w, r.URL.Path)
	}
	paths := []string{"/img/logo.png", "/img/a.png", "/images/b.png", "/css/site.css", "/index.html"}
	tests := []struct {
		name   string
		purge  Purge
		purged []string // paths on a.com
		alsoB  bool     // tags are not per host: b.com's objects go too
	}{
		{"url", Purge{Kind: PurgeURL, Values: []string{"https://a.com/img/a.png"}}, []string{"/img/a.png"}, false},
		{"prefix segment", Purge{Kind: PurgePrefix, Values: []string{"a.com/img/"}}, []string{"/img/logo.png", "/img/a.png"}, false},
		{"prefix string", Purge{Kind: PurgePrefix, Values: []string{"a.com/im"}}, []string{"/img/logo.png", "/img/a.png", "/images/b.png"}, false},
		{"host", Purge{Kind: PurgeHost, Values: []string{"a.com"}}, paths, false},
		{"tag", Purge{Kind: PurgeTag, Values: []string{"c"}}, []string{"/css/site.css"}, true},
		{"condition", Purge{Kind: PurgeCondition, Condition: &Condition{Host: "a.com", PathRegex: `\.png$`, Header: "X-Kind", HeaderValue: "image"}}, []string{"/img/logo.png"}, false},
	}
	for _, tc := range tests {
		for _, soft := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s soft=%v", tc.name, soft), func(t *testing.T) {
				e := newEnv(t, handler)
				for _, h := range []string{"a.com", "b.com"} {
					for _, p := range paths {
						e.get(ttl60, h, p, nil)
					}
				}
				tc.purge.Soft = soft
				n, err := e.c.Purge(tc.purge)
				wantN := len(tc.purged)
				if tc.alsoB {
					wantN *= 2
				}
				if err != nil || n != wantN {
					t.Fatalf("purged %d (%v), want %d", n, err, len(tc.purged))
				}
				want := map[string]bool{}
				for _, p := range tc.purged {
					want[p] = true
				}
				for _, p := range paths {
					got := e.get(ttl60, "a.com", p, nil).CacheStatus
					exp := StatusHit
					if want[p] {
						exp = map[bool]string{false: StatusMiss, true: StatusExpired}[soft]
					}
					if got != exp {
						t.Errorf("%s: %s, want %s", p, got, exp)
					}
					if got := e.get(ttl60, "b.com", p, nil).CacheStatus; got != StatusHit && !(tc.alsoB && want[p]) {
						t.Errorf("b.com%s: %s, want HIT", p, got)
					}
				}
			})
		}
	}
}

func TestDiskCacheKeepsIndexAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	open := func(ev EvictFunc) (Store, error) { return OpenDisk(dir, 1<<20, ev) }
	o := newOrigin(t, text("x", "Cache-Tag", "prod"))
	c, _ := New(Options{Open: open})
	r := &Request{Method: "GET", Host: "a.com", Path: "/p", Header: http.Header{}.Get}
	if _, err := c.Do(context.Background(), r, ttl60, o.fetcher(r, nil)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	c2, err := New(Options{Open: open})
	if err != nil {
		t.Fatal(err)
	}
	if res, _ := c2.Do(context.Background(), r, ttl60, o.fetcher(r, nil)); res.CacheStatus != StatusHit {
		t.Fatalf("after restart %s", res.CacheStatus)
	}
	if n, _ := c2.Purge(Purge{Kind: PurgeTag, Values: []string{"prod"}}); n != 1 {
		t.Fatalf("tag purge after restart removed %d", n)
	}
}

func TestPurgeRejectsBadInput(t *testing.T) {
	e := newEnv(t, text("x"))
	for _, p := range []Purge{
		{Kind: PurgeURL, Values: []string{"/no-host"}},
		{Kind: PurgeCondition},
		{Kind: PurgeCondition, Condition: &Condition{Host: "a.com", PathRegex: "("}},
		{Kind: 99},
	} {
		if _, err := e.c.Purge(p); err == nil {
			t.Errorf("%+v accepted", p)
		}
	}
}

// A purge by URL removes every object cached for that URL as the cache key
// sees it, whatever extra arguments or argument order the request that stored
// it had, and nothing cached for another key query.
func TestPurgeURLMatchesKeyQuery(t *testing.T) {
	onlyV := &Policy{TTLByStatus: ttl60.TTLByStatus, Key: KeySpec{QueryArgs: []string{"v"}}}
	noQuery := &Policy{TTLByStatus: ttl60.TTLByStatus, Key: KeySpec{IgnoreQuery: true}}
	tests := []struct {
		name   string
		policy *Policy
		stored string // request that stored the object
		purge  string
		want   bool // purged
	}{
		{"kept arg, extra arg stored", onlyV, "/p?v=1&utm=a", "https://a.com/p?v=1", true},
		{"kept arg, other extra arg in purge", onlyV, "/p?v=1&utm=a", "https://a.com/p?utm=b&v=1", true},
		{"kept arg differs", onlyV, "/p?v=1&utm=a", "https://a.com/p?v=2", false},
		{"kept arg absent from purge", onlyV, "/p?v=1", "https://a.com/p", false},
		{"kept arg absent from both", onlyV, "/p?utm=a", "https://a.com/p?utm=z", true},
		{"all args, other order", ttl60, "/p?b=2&a=1", "https://a.com/p?a=1&b=2", true},
		{"all args, encoding", ttl60, "/p?a=x%20y", "a.com/p?a=x+y", true},
		{"all args, one missing", ttl60, "/p?a=1&b=2", "https://a.com/p?a=1", false},
		{"query ignored", noQuery, "/p?a=1", "https://a.com/p?zzz", true},
		{"host case", ttl60, "/p", "https://A.COM/p", true},
		{"other path", ttl60, "/p", "https://a.com/q", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, text("x"))
			e.expect(e.get(tc.policy, "a.com", tc.stored, nil), StatusMiss, "x")
			n, err := e.c.Purge(Purge{Kind: PurgeURL, Values: []string{tc.purge}})
			if err != nil {
				t.Fatal(err)
			}
			if got := n == 1; got != tc.want {
				t.Fatalf("purge %s removed %d objects stored as %s", tc.purge, n, tc.stored)
			}
			want := StatusHit
			if tc.want {
				want = StatusMiss
			}
			if got := e.get(tc.policy, "a.com", tc.stored, nil).CacheStatus; got != want {
				t.Fatalf("after purge %s: %s, want %s", tc.purge, got, want)
			}
		})
	}
}

// Every Vary and header/cookie variant of the URL goes too.
func TestPurgeURLRemovesVariants(t *testing.T) {
	byLang := &Policy{TTLByStatus: ttl60.TTLByStatus, Key: KeySpec{QueryArgs: []string{"v"}, Headers: []string{"X-Dev"}}}
	e := newEnv(t, text("x", "Vary", "Accept-Language"))
	for _, lang := range []string{"en", "fr"} {
		for _, dev := range []string{"m", "d"} {
			e.get(byLang, "a.com", "/p?v=1&utm="+lang, http.Header{"Accept-Language": {lang}, "X-Dev": {dev}})
		}
	}
	if n, err := e.c.Purge(Purge{Kind: PurgeURL, Values: []string{"https://a.com/p?v=1"}}); err != nil || n != 4 {
		t.Fatalf("purged %d (%v), want 4", n, err)
	}
	if e.c.Len() != 0 {
		t.Fatalf("%d objects left", e.c.Len())
	}
}

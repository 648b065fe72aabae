package cache

import (
	"net/http"
	"testing"
	"time"
)

// hit runs Hit for a GET of host+path with hdr.
func (e *env) hit(p *Policy, host, path, query string, hdr http.Header) (Result, bool) {
	if hdr == nil {
		hdr = http.Header{}
	}
	var res Result
	ok := e.c.Hit(&Request{Method: "GET", Host: host, Path: path, RawQuery: query, Header: hdr.Get}, p, &res)
	return res, ok
}

// Hit answers exactly when Do would answer HIT, with the same result.
func TestHitAgreesWithDo(t *testing.T) {
	e := newEnv(t, text("hello", "Content-Type", "text/plain", "Cache-Tag", "t1"))
	if _, ok := e.hit(ttl60, "a.com", "/x", "b=2&a=1", nil); ok {
		t.Fatal("Hit on an empty cache")
	}
	e.expect(e.get(ttl60, "a.com", "/x?a=1&b=2", nil), StatusMiss, "hello")
	e.clk.advance(3 * time.Second)
	res, ok := e.hit(ttl60, "A.COM", "/x", "b=2&a=1", nil) // same key: host case, arg order
	if !ok || res.CacheStatus != StatusHit || string(res.Body) != "hello" || res.Status != 200 || res.AgeSeconds != 3 {
		t.Fatalf("Hit = %v %+v, want HIT hello age 3", ok, res)
	}
	do := e.get(ttl60, "a.com", "/x?a=1&b=2", nil)
	if do.CacheStatus != StatusHit || do.AgeSeconds != res.AgeSeconds || string(do.Body) != string(res.Body) {
		t.Fatalf("Do = %+v, Hit = %+v", do, res)
	}
	if _, ok := e.hit(ttl60, "a.com", "/y", "", nil); ok {
		t.Fatal("Hit for another path")
	}
	if _, ok := e.hit(&Policy{Bypass: true}, "a.com", "/x", "a=1&b=2", nil); ok {
		t.Fatal("Hit under a bypass policy")
	}
	e.c.Hold()
	if _, ok := e.hit(ttl60, "a.com", "/x", "a=1&b=2", nil); ok {
		t.Fatal("Hit while the cache is held")
	}
	e.c.Release()
	if _, err := e.c.Purge(Purge{Kind: PurgeHost, Values: []string{"a.com"}, Soft: true}); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.hit(ttl60, "a.com", "/x", "a=1&b=2", nil); ok {
		t.Fatal("Hit on a soft-purged object (must revalidate)")
	}
	e.expect(e.get(ttl60, "a.com", "/x?a=1&b=2", nil), StatusExpired, "hello")
	e.clk.advance(time.Minute)
	if _, ok := e.hit(ttl60, "a.com", "/x", "a=1&b=2", nil); ok {
		t.Fatal("Hit on an expired object")
	}
}

func TestHitVaryAndRange(t *testing.T) {
	e := newEnv(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Vary", "Accept-Language")
		w.Write([]byte("lang=" + r.Header.Get("Accept-Language")))
	})
	en, fr := http.Header{"Accept-Language": {"en"}}, http.Header{"Accept-Language": {"fr"}}
	e.expect(e.get(ttl60, "a.com", "/x", en), StatusMiss, "lang=en")
	if _, ok := e.hit(ttl60, "a.com", "/x", "", fr); ok {
		t.Fatal("Hit for a variant never stored")
	}
	e.expect(e.get(ttl60, "a.com", "/x", fr), StatusMiss, "lang=fr")
	for _, h := range []http.Header{en, fr} {
		res, ok := e.hit(ttl60, "a.com", "/x", "", h)
		if want := "lang=" + h.Get("Accept-Language"); !ok || string(res.Body) != want {
			t.Fatalf("Hit(%v) = %v %q, want %q", h, ok, res.Body, want)
		}
	}
	res, ok := e.hit(ttl60, "a.com", "/x", "", http.Header{"Accept-Language": {"en"}, "Range": {"bytes=0-3"}})
	if !ok || res.Status != 206 || string(res.Body) != "lang" || res.ContentRange != "bytes 0-3/7" {
		t.Fatalf("range Hit = %v %+v", ok, res)
	}
}

// Fields are the stored headers minus those the server sets itself.
func TestResultFields(t *testing.T) {
	e := newEnv(t, text("hello", "Content-Type", "text/plain", "Age", "7", StatusHeader, "HIT", "X-A", "1", "X-A", "2"))
	e.get(ttl60, "a.com", "/x", nil)
	res, ok := e.hit(ttl60, "a.com", "/x", "", nil)
	if !ok {
		t.Fatal("no hit")
	}
	got := map[string][]string{}
	for _, f := range res.Fields() {
		got[f.Name] = append(got[f.Name], f.Value)
	}
	if len(got["X-A"]) != 2 || got["Content-Type"][0] != "text/plain" || got["Age"] != nil || got[StatusHeader] != nil || got["Content-Length"] != nil {
		t.Fatalf("fields %v", got)
	}
	if f2 := res.Fields(); &f2[0] != &res.Fields()[0] {
		t.Fatal("fields recomputed per hit")
	}
}

// A hit allocates nothing: no key string, no result, no header map walk.
func TestHitDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	e := newEnv(t, text("hello", "Content-Type", "text/plain"))
	p := &Policy{TTLByStatus: map[int]time.Duration{200: time.Minute}, Key: KeySpec{Headers: []string{"Accept-Language"}}}
	hdr := http.Header{"Accept-Language": {"en"}}
	e.get(p, "a.com", "/static/app.js?b=1&v=3", hdr)
	r := &Request{Method: "GET", Host: "a.com", Path: "/static/app.js", RawQuery: "v=3&b=1", Header: hdr.Get}
	var res Result
	n := testing.AllocsPerRun(100, func() {
		if !e.c.Hit(r, p, &res) {
			t.Fatal("no hit")
		}
		_ = res.Fields()
	})
	if n != 0 {
		t.Fatalf("%v allocations per hit, want 0", n)
	}
}

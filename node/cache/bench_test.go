package cache

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

const benchObjects = 1_000_000

var (
	bigOnce  sync.Once
	bigCache *Cache
	bigBody  = make([]byte, 100)
)

// bigPut stores object i: host a.com, path /d<i/1000>/o<i%1000>, tag t<i/1000>.
func bigPut(c *Cache, i int) {
	path := fmt.Sprintf("/d%d/o%d", i/1000, i%1000)
	obj := &Object{Meta: Meta{Key: "a.com" + path + "?", Host: "a.com", Path: path, Status: 200,
		Tags: []string{fmt.Sprint("t", i/1000)}, FreshUntil: time.Unix(1<<40, 0)}, Body: bigBody}
	_ = c.store.Put(obj)
	c.idx.add(&obj.Meta)
}

func bigMemoryCache(b *testing.B) *Cache {
	bigOnce.Do(func() {
		c, err := New(Options{Open: func(ev EvictFunc) (Store, error) { return NewMemory(1<<40, ev), nil }})
		if err != nil {
			b.Fatal(err)
		}
		for i := range benchObjects {
			bigPut(c, i)
		}
		bigCache = c
	})
	return bigCache
}

// benchPurge purges 1,000 of 1,000,000 objects per op, then restores them
// outside the timer.
func benchPurge(b *testing.B, mk func(group int) Purge) {
	c := bigMemoryCache(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		g := i % (benchObjects / 1000)
		n, err := c.Purge(mk(g))
		if err != nil || n != 1000 {
			b.Fatalf("purged %d: %v", n, err)
		}
		b.StopTimer()
		for j := g * 1000; j < (g+1)*1000; j++ {
			bigPut(c, j)
		}
		b.StartTimer()
	}
	b.ReportMetric(1000, "objects/op")
}

func BenchmarkPurgePrefix1M(b *testing.B) {
	benchPurge(b, func(g int) Purge { return Purge{Kind: PurgePrefix, Values: []string{fmt.Sprintf("a.com/d%d/", g)}} })
}

func BenchmarkPurgeTag1M(b *testing.B) {
	benchPurge(b, func(g int) Purge { return Purge{Kind: PurgeTag, Values: []string{fmt.Sprint("t", g)}} })
}

func BenchmarkPurgeURL1M(b *testing.B) {
	c := bigMemoryCache(b)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		j := i % benchObjects
		if n, _ := c.Purge(Purge{Kind: PurgeURL, Values: []string{fmt.Sprintf("a.com/d%d/o%d", j/1000, j%1000)}}); n != 1 {
			b.Fatalf("purged %d", n)
		}
		b.StopTimer()
		bigPut(c, j)
		b.StartTimer()
	}
}

// BenchmarkHit measures the hit path: key build, store lookup, result.
func BenchmarkHit(b *testing.B) {
	c, _ := New(Options{Open: func(ev EvictFunc) (Store, error) { return NewMemory(1<<30, ev), nil }})
	hdr := http.Header{"Accept": {"*/*"}}
	r := &Request{Method: "GET", Host: "a.com", Path: "/static/app.js", RawQuery: "v=3", Header: hdr.Get}
	body := make([]byte, 4096)
	fetch := func(context.Context, http.Header) (*Response, error) {
		return &Response{Status: 200, Header: http.Header{"Content-Type": {"text/javascript"}}, Body: body}, nil
	}
	if res, _ := c.Do(context.Background(), r, ttl60, fetch); res.CacheStatus != StatusMiss {
		b.Fatal(res.CacheStatus)
	}
	b.ReportAllocs()
	for b.Loop() {
		res, _ := c.Do(context.Background(), r, ttl60, fetch)
		if res.CacheStatus != StatusHit {
			b.Fatal(res.CacheStatus)
		}
	}
}

// BenchmarkHitOnly measures Hit, the fast path's lookup: no fetcher, no
// allocation.
func BenchmarkHitOnly(b *testing.B) {
	c, _ := New(Options{Open: func(ev EvictFunc) (Store, error) { return NewMemory(1<<30, ev), nil }})
	hdr := http.Header{"Accept": {"*/*"}}
	r := &Request{Method: "GET", Host: "a.com", Path: "/static/app.js", RawQuery: "v=3", Header: hdr.Get}
	body := make([]byte, 4096)
	fetch := func(context.Context, http.Header) (*Response, error) {
		return &Response{Status: 200, Header: http.Header{"Content-Type": {"text/javascript"}}, Body: body}, nil
	}
	if res, _ := c.Do(context.Background(), r, ttl60, fetch); res.CacheStatus != StatusMiss {
		b.Fatal(res.CacheStatus)
	}
	var res Result
	b.ReportAllocs()
	for b.Loop() {
		if !c.Hit(r, ttl60, &res) {
			b.Fatal("no hit")
		}
	}
}

func BenchmarkKeyBuild(b *testing.B) {
	hdr := http.Header{"Accept-Language": {"en"}}
	r := &Request{Method: "GET", Host: "a.com", Path: "/static/app.js", RawQuery: "v=3&utm=x", Header: hdr.Get}
	spec := KeySpec{QueryArgs: []string{"v"}, Headers: []string{"Accept-Language"}}
	b.ReportAllocs()
	for b.Loop() {
		_ = spec.Build(r)
	}
}

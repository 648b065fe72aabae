package proxy_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/node/cache"
	"github.com/strata-edge/strata/node/proxy"
)

// Push runs a URL through the pipeline into the cache on either scheme: a
// client's next request is a HIT without another origin request; URLs the
// cache does not keep report why.
func TestPushFillsTheCache(t *testing.T) {
	up := newEcho(t, "origin")
	c := newMemCache(t)
	p := startProxy(t, proxy.Options{Cache: c})
	app := simpleApp("shop", "shop.example.com", up.addr())
	app.Rules = []*configv1.Rule{
		cacheRule("static", `PathPrefix("/static")`, &configv1.CacheAction{TtlS: 60}),
		cacheRule("cart", `PathPrefix("/cart")`, &configv1.CacheAction{Bypass: true}),
		{Name: "rest", When: `PathPrefix("/")`, Actions: []*configv1.Action{{Action: &configv1.Action_Proxy{Proxy: &configv1.ProxyAction{
			Upstreams: []*configv1.WeightedUpstream{{Upstream: "main", Weight: 1}}}}}}},
	}
	mustUpdate(t, p, 1, app)
	cl := httpClient(t)
	for _, scheme := range []string{"http", "https"} {
		path := "/static/" + scheme + ".css"
		n := up.reqs.Load()
		r := p.Push(t.Context(), scheme+"://shop.example.com"+path)
		if r.Err != nil || !r.Cached || r.Status != 200 || r.Bytes == 0 || r.CacheStatus != "MISS" || up.reqs.Load() != n+1 {
			t.Fatalf("push %s: %+v, origin requests %d", path, r, up.reqs.Load()-n)
		}
		if got := do(t, cl, "GET", httpBase(p), "shop.example.com", path, ""); got.status != 200 || got.header.Get("X-Cache-Status") != "HIT" || up.reqs.Load() != n+1 {
			t.Fatalf("GET %s after the push: %d %s, origin requests %d", path, got.status, got.header.Get("X-Cache-Status"), up.reqs.Load()-n)
		}
		if r := p.Push(t.Context(), scheme+"://shop.example.com"+path); !r.Cached || r.CacheStatus != "HIT" || up.reqs.Load() != n+1 {
			t.Fatalf("second push %s: %+v", path, r)
		}
	}
	for _, tt := range []struct{ url, want string }{
		{"http://shop.example.com/page", "no cache rule"},
		{"http://shop.example.com/cart/1", "bypasses the cache"},
		{"http://other.example.com/x", "no app serves other.example.com on this node's http listener"},
		{"ftp://shop.example.com/x", "absolute http or https"},
	} {
		r := p.Push(t.Context(), tt.url)
		if r.Err == nil || r.Cached || !strings.Contains(r.Err.Error(), tt.want) {
			t.Errorf("push %s: %+v, want an error with %q", tt.url, r, tt.want)
		}
		if strings.HasPrefix(tt.want, "no cache") && !errors.Is(r.Err, proxy.ErrNotCacheable) {
			t.Errorf("push %s: %v is not ErrNotCacheable", tt.url, r.Err)
		}
	}
}

// BenchmarkPush: one pushed URL per op (a MISS filled from a loopback
// origin and stored), then the same URLs again (HITs).
func BenchmarkPush(b *testing.B) {
	up := newEcho(b, "origin")
	c, err := cache.New(cache.Options{Open: func(ev cache.EvictFunc) (cache.Store, error) { return cache.NewMemory(256<<20, ev), nil }})
	if err != nil {
		b.Fatal(err)
	}
	p, err := proxy.New(proxy.Options{HTTPAddr: "127.0.0.1:0", HTTPSAddr: "127.0.0.1:0", Cache: c, Logger: discardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Start(b.Context()); err != nil {
		b.Fatal(err)
	}
	defer p.Stop(context.Background())
	app := simpleApp("shop", "shop.example.com", up.addr())
	app.Rules = []*configv1.Rule{cacheRule("static", `PathPrefix("/")`, &configv1.CacheAction{TtlS: 600})}
	if err := p.Update(&syncv1.Snapshot{Version: 1, Apps: []*configv1.App{app}}); err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"miss", "hit"} {
		b.Run(mode, func(b *testing.B) {
			i := 0
			for b.Loop() {
				if r := p.Push(b.Context(), "http://shop.example.com/static/"+strconv.Itoa(i)); !r.Cached {
					b.Fatalf("push %d: %+v", i, r)
				}
				i++
			}
		})
	}
}

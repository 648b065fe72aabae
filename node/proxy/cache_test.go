package proxy_test

import (
	"strconv"
	"testing"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/node/cache"
	"github.com/strata-edge/strata/node/proxy"
)

func newMemCache(t *testing.T) *cache.Cache {
	t.Helper()
	c, err := cache.New(cache.Options{Open: func(ev cache.EvictFunc) (cache.Store, error) { return cache.NewMemory(64<<20, ev), nil }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func cacheRule(name, when string, c *configv1.CacheAction) *configv1.Rule {
	return &configv1.Rule{Name: name, When: when, Actions: []*configv1.Action{
		{Action: &configv1.Action_Cache{Cache: c}},
		{Action: &configv1.Action_Proxy{Proxy: &configv1.ProxyAction{Upstreams: []*configv1.WeightedUpstream{{Upstream: "main", Weight: 1}}}}},
		{Action: &configv1.Action_ResponseHeaders{ResponseHeaders: &configv1.HeaderOps{Set: map[string]string{"X-Rule": name}}}},
	}}
}

// Requests whose rule has a cache action are served from the node cache on
// both listeners (fasthttp and net/http): MISS then HIT without another
// origin request, Range served from the cached whole object (the fill asks
// for all of it), BYPASS always reaching the origin, and a purge making the
// next request a MISS.
func TestCacheActionThroughProxy(t *testing.T) {
	up := newEcho(t, "origin")
	c := newMemCache(t)
	p := startProxy(t, proxy.Options{Cache: c})
	app := simpleApp("shop", "shop.example.com", up.addr())
	app.Rules = []*configv1.Rule{
		cacheRule("static", `PathPrefix("/static")`, &configv1.CacheAction{TtlS: 60, KeyQueryArgs: []string{"v"}}),
		cacheRule("cart", `PathPrefix("/cart")`, &configv1.CacheAction{Bypass: true}),
	}
	mustUpdate(t, p, 1, app)
	cl := httpClient(t)

	both(t, p, func(t *testing.T, base string) {
		path := "/static/" + base[:5] + ".css" // one object per listener
		get := func(uri string, hdr ...string) result {
			t.Helper()
			return do(t, cl, "GET", base, "shop.example.com", uri, "", hdr...)
		}
		want := func(r result, status int, cacheStatus string, origin int64) {
			t.Helper()
			if r.status != status || r.header.Get("X-Cache-Status") != cacheStatus || up.reqs.Load() != origin {
				t.Fatalf("status %d, X-Cache-Status %q, origin requests %d; want %d, %s, %d\n%v\n%s",
					r.status, r.header.Get("X-Cache-Status"), up.reqs.Load(), status, cacheStatus, origin, r.header, r.body)
			}
			if r.header.Get("X-Rule") == "" {
				t.Fatalf("rule response edits not applied: %v", r.header)
			}
		}
		n := up.reqs.Load()

		// A first request with a Range: the fill fetches the whole object.
		miss := get(path+"?v=1&utm=a", "Range", "bytes=0-3")
		want(miss, 206, "MISS", n+1)
		if len(miss.body) != 4 || miss.header.Get("Content-Range") == "" {
			t.Fatalf("range on a miss: %q, Content-Range %q", miss.body, miss.header.Get("Content-Range"))
		}
		hit := get(path + "?utm=b&v=1")
		want(hit, 200, "HIT", n+1)
		if hit.echo.URI != path+"?v=1&utm=a" || hit.echo.Header.Get("Range") != "" || hit.body[:4] != miss.body {
			t.Fatalf("cached object: uri %q, Range sent to origin %q, body %q", hit.echo.URI, hit.echo.Header.Get("Range"), hit.body)
		}
		if age, err := strconv.Atoi(hit.header.Get("Age")); err != nil || age < 0 {
			t.Fatalf("HIT Age %q", hit.header.Get("Age"))
		}
		if hit.echo.Header.Get("X-Forwarded-For") == "" || hit.echo.Host != "shop.example.com" {
			t.Fatalf("fill not forwarded like a proxied request: host %q, headers %v", hit.echo.Host, hit.echo.Header)
		}
		// Another key argument: another object.
		want(get(path+"?v=2"), 200, "MISS", n+2)

		// Bypass: every request reaches the origin.
		want(get("/cart"), 200, "BYPASS", n+3)
		want(get("/cart"), 200, "BYPASS", n+4)

		// Purge the URL (as the cache stored it: the first client's query): the
		// next request is a miss, then a hit again.
		if got, err := c.Purge(cache.Purge{Kind: cache.PurgeURL, Values: []string{"shop.example.com" + path + "?v=1&utm=a"}}); err != nil || got != 1 {
			t.Fatalf("purge: %d objects, %v; want 1", got, err)
		}
		want(get(path+"?v=1"), 200, "MISS", n+5)
		want(get(path+"?v=1"), 200, "HIT", n+5)
	})
}

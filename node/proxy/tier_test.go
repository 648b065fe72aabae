package proxy_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/node/proxy"
	"github.com/strata-edge/strata/node/tier"
)

// An edge cluster of two proxies whose misses go to a shield cluster of two
// (each with its own cache) before the origin: one origin request for a URL
// asked through both edges; the shield node the key hashes to is asked, its
// backup when it is down, the origin when every parent is down. The app is
// HTTPS-only: the shields find it for a tier request on their plain
// listener all the same.
func TestTieredCacheThroughProxies(t *testing.T) {
	up := newEcho(t, "origin")
	app := simpleApp("shop", "shop.example.com", up.addr())
	app.HttpsPorts = []uint32{443}
	app.Rules = []*configv1.Rule{cacheRule("all", "", &configv1.CacheAction{TtlS: 60})}

	shields := map[string]*proxy.Proxy{}
	var shieldNodes []tier.Node
	for _, id := range []string{"shield-1", "shield-2"} {
		p := startProxy(t, proxy.Options{Cache: newMemCache(t), HTTPSPort: 443})
		mustUpdate(t, p, 1, app)
		shields[id] = p
		shieldNodes = append(shieldNodes, tier.Node{ID: id, Addr: p.HTTPAddr().String()})
	}
	var edges []*proxy.Proxy
	var tiers []*tier.Tier
	for _, id := range []string{"edge-1", "edge-2"} {
		tr := tier.New(id)
		t.Cleanup(tr.Close)
		tr.SetParents([]string{"shield"})
		tr.SetNodes(map[string][]tier.Node{"shield": shieldNodes})
		p := startProxy(t, proxy.Options{Cache: newMemCache(t), Tier: tr, HTTPSPort: 443})
		mustUpdate(t, p, 1, app)
		edges = append(edges, p)
		tiers = append(tiers, tr)
	}
	cl := httpClient(t)
	get := func(p *proxy.Proxy, uri string) result {
		t.Helper()
		return do(t, cl, "GET", httpsBase(p), "shop.example.com", uri, "")
	}

	n := up.reqs.Load()
	first := get(edges[0], "/a.css")
	owner := tier.Rank(tier.HashKey(keyOf("/a.css")), shieldNodes)[0].ID
	if first.status != 200 || first.header.Get("X-Cache-Status") != "MISS" || first.header.Get(tier.ParentHeader) != owner+"; status=MISS" {
		t.Fatalf("first request: %d %v", first.status, first.header)
	}
	second := get(edges[1], "/a.css")
	if second.header.Get("X-Cache-Status") != "MISS" || second.header.Get(tier.ParentHeader) != owner+"; status=HIT" || second.body != first.body {
		t.Fatalf("second edge: %v", second.header)
	}
	if got := up.reqs.Load(); got != n+1 {
		t.Fatalf("origin requests %d, want 1", got-n)
	}
	if h := first.echo.Header; h.Get("X-Forwarded-For") == "" || h.Get("X-Forwarded-Proto") != "https" || first.echo.Host != "shop.example.com" || h.Get(tier.HopsHeader) != "" {
		t.Fatalf("origin saw host %q, headers %v", first.echo.Host, h)
	}
	if hit := get(edges[1], "/a.css"); hit.header.Get("X-Cache-Status") != "HIT" || hit.header.Get(tier.ParentHeader) != "" {
		t.Fatalf("third request: %v", hit.header)
	}
	if st := tiers[0].Stats(); st.Fetches != 1 || st.Failures != 0 {
		t.Fatalf("edge-1 tier stats %+v", st)
	}

	// A shield is down (still listed: its heartbeats have not aged out
	// yet): keys it owned go to their backup.
	stopProxy(t, shields[owner])
	path := ""
	for i := 0; path == ""; i++ { // a key the stopped shield owns
		if p := "/b" + strconv.Itoa(i) + ".css"; tier.Rank(tier.HashKey(keyOf(p)), shieldNodes)[0].ID == owner {
			path = p
		}
	}
	backup := tier.Rank(tier.HashKey(keyOf(path)), shieldNodes)[1].ID
	if b := get(edges[1], path); b.status != 200 || b.header.Get(tier.ParentHeader) != backup+"; status=MISS" {
		t.Fatalf("with %s down: %d, parent %q, want %s", owner, b.status, b.header.Get(tier.ParentHeader), backup)
	}
	if st := tiers[1].Stats(); st.Failures != 1 {
		t.Fatalf("edge-2 tier stats %+v: want the failed attempt counted", st)
	}

	// Every parent down: the origin directly.
	for id, p := range shields {
		if id != owner {
			stopProxy(t, p)
		}
	}
	n = up.reqs.Load()
	c := get(edges[0], "/c.css")
	if c.status != 200 || c.header.Get(tier.ParentHeader) != "" || up.reqs.Load() != n+1 {
		t.Fatalf("all parents down: %d %v, origin requests %d", c.status, c.header, up.reqs.Load()-n)
	}
}

// keyOf is the cache key the proxies build for a path of shop.example.com
// (the default key spec: host, path, sorted query).
func keyOf(uri string) string {
	path, query, _ := strings.Cut(uri, "?")
	return "shop.example.com" + path + "?" + query
}

func stopProxy(t *testing.T, p *proxy.Proxy) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

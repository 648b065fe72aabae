package proxy_test

import (
	"context"
	"net"
	"net/http"
	"net/netip"
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
		p := startProxy(t, proxy.Options{Cache: newMemCache(t), HTTPSPort: 443, Tier: peerTier(t, id, "127.0.0.1")})
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

// peerTier is a node's Tier with peers: the addresses other nodes of its
// partition connect from (on a node, from the gateway sets).
func peerTier(t *testing.T, id string, peers ...string) *tier.Tier {
	tr := tier.New(id)
	t.Cleanup(tr.Close)
	var addrs []netip.Addr
	for _, p := range peers {
		addrs = append(addrs, netip.MustParseAddr(p))
	}
	tr.SetPeers(addrs)
	return tr
}

// clientFrom is httpClient with connections from the local address ip.
func clientFrom(t *testing.T, ip string) *http.Client {
	c := httpClient(t)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	c.Transport.(*http.Transport).DialContext = d.DialContext
	return c
}

// Tier headers count only from a peer (another node of the partition,
// here 127.0.0.1). A client on 127.0.0.2 that sends Strata-Tier-Hops with
// X-Forwarded-Proto: https gets the app's http->https redirect (not the
// https site), and a hop count of 3 does not make a node skip its
// parents; a node on 127.0.0.1 gets the tier behaviour. A child whose
// parent does not count it as a peer goes to the origin rather than
// caching the parent's redirect. Both engines of the plain listener.
func TestTierHeadersOnlyFromPeers(t *testing.T) {
	for _, engine := range []string{proxy.EngineFast, proxy.EngineStd} {
		t.Run(engine, func(t *testing.T) { testTierHeadersOnlyFromPeers(t, engine) })
	}
}

func testTierHeadersOnlyFromPeers(t *testing.T, engine string) {
	up := newEcho(t, "origin")
	plain := simpleApp("shop-http", "shop.example.com", up.addr())
	plain.HttpPorts = []uint32{80}
	plain.Rules = []*configv1.Rule{{Name: "to-https", When: "PathPrefix(`/`)", Actions: []*configv1.Action{{Action: &configv1.Action_Redirect{
		Redirect: &configv1.RedirectAction{Url: "https://$host$request_uri", Status: 301}}}}}}
	secure := simpleApp("shop", "shop.example.com", up.addr())
	secure.HttpsPorts = []uint32{443}
	secure.Rules = []*configv1.Rule{cacheRule("all", "", &configv1.CacheAction{TtlS: 60})}
	node := func(id string, tr *tier.Tier) *proxy.Proxy {
		p := startProxy(t, proxy.Options{Cache: newMemCache(t), HTTPPort: 80, HTTPSPort: 443, Tier: tr, HTTPEngine: engine})
		mustUpdate(t, p, 1, plain, secure)
		return p
	}
	shield := node("shield-1", peerTier(t, "shield-1", "127.0.0.1"))
	edgeTier := peerTier(t, "edge-1", "127.0.0.1")
	edgeTier.SetParents([]string{"shield"})
	edgeTier.SetNodes(map[string][]tier.Node{"shield": {{ID: "shield-1", Addr: shield.HTTPAddr().String()}}})
	edge := node("edge-1", edgeTier)
	nodeClient, stranger := httpClient(t), clientFrom(t, "127.0.0.2")
	tierHeaders := []string{tier.HopsHeader, "1", "X-Forwarded-Proto", "https"}

	n := up.reqs.Load()
	r := do(t, stranger, "GET", httpBase(shield), "shop.example.com", "/a.css", "", tierHeaders...)
	if r.status != 301 || r.header.Get("Location") != "https://shop.example.com/a.css" || r.header.Get(tier.AcceptedHeader) != "" {
		t.Fatalf("non-peer with tier headers: %d %v, want the http->https redirect", r.status, r.header)
	}
	r = do(t, nodeClient, "GET", httpBase(shield), "shop.example.com", "/a.css", "", tierHeaders...)
	if r.status != 200 || r.header.Get("X-Cache-Status") != "MISS" || r.header.Get(tier.AcceptedHeader) != "1" {
		t.Fatalf("peer with tier headers: %d %v, want the https site", r.status, r.header)
	}
	if r.echo.Header.Get("X-Forwarded-Proto") != "https" || up.reqs.Load() != n+1 {
		t.Fatalf("origin saw %v after %d requests", r.echo.Header, up.reqs.Load()-n)
	}

	// A client's hop count does not make the edge skip its parent.
	r = do(t, stranger, "GET", httpsBase(edge), "shop.example.com", "/b.css", "", tier.HopsHeader, strconv.Itoa(tier.MaxHops))
	if r.status != 200 || r.header.Get(tier.ParentHeader) != "shield-1; status=MISS" || r.header.Get(tier.AcceptedHeader) != "" {
		t.Fatalf("non-peer hop count: %d %v, want the parent asked", r.status, r.header)
	}
	if h := r.echo.Header; h.Get("X-Forwarded-For") != "127.0.0.2, 127.0.0.1" {
		t.Fatalf("origin saw X-Forwarded-For %q", h.Get("X-Forwarded-For"))
	}

	// A child that its parent does not count as a peer (the shield's
	// peers are elsewhere): the shield answers with the redirect, which
	// the child takes for a failed attempt and goes to the origin.
	strict := node("shield-2", peerTier(t, "shield-2", "127.0.0.3"))
	edgeTier.SetNodes(map[string][]tier.Node{"shield": {{ID: "shield-2", Addr: strict.HTTPAddr().String()}}})
	before := edgeTier.Stats()
	for _, want := range []string{"MISS", "HIT"} {
		r = do(t, nodeClient, "GET", httpsBase(edge), "shop.example.com", "/c.css", "", "X-Forwarded-Proto", "http")
		if r.status != 200 || r.header.Get("X-Cache-Status") != want || r.header.Get(tier.ParentHeader) != "" || r.echo.Server != "origin" {
			t.Fatalf("child not a peer of its parent: %d %v %q", r.status, r.header, r.body)
		}
	}
	if st := edgeTier.Stats(); st.Failures != before.Failures+1 || st.Fallbacks != before.Fallbacks+1 {
		t.Fatalf("tier stats %+v, before %+v", st, before)
	}
}

// A parent's tier mark is the node's statement that it took the request
// as a peer's, so the rules' response edits run before it: a rule that
// removes or sets Strata-Tier-Accepted changes nothing for a peer, on a
// proxied answer and on a rule's own. Both engines, both listeners (the
// net/http engine used to edit after marking).
func TestTierMarkAfterRuleEdits(t *testing.T) {
	up := newEcho(t, "origin")
	app := simpleApp("shop", "shop.example.com", up.addr())
	app.Rules = []*configv1.Rule{
		{Name: "gone", When: "Path(`/gone`)", Actions: []*configv1.Action{
			{Action: &configv1.Action_Respond{Respond: &configv1.RespondAction{Status: 410, Body: "gone"}}},
			respHeaders(&configv1.HeaderOps{Remove: []string{tier.AcceptedHeader}}),
		}},
		{Name: "forge", When: "Path(`/forged`)", Actions: []*configv1.Action{
			respHeaders(&configv1.HeaderOps{Set: map[string]string{tier.AcceptedHeader: "forged", "X-Edited": "1"}}),
		}},
	}
	for _, engine := range []string{proxy.EngineFast, proxy.EngineStd} {
		t.Run(engine, func(t *testing.T) {
			p := startProxy(t, proxy.Options{Tier: peerTier(t, "shield-1", "127.0.0.1"), HTTPEngine: engine})
			mustUpdate(t, p, 1, app)
			c := httpClient(t)
			both(t, p, func(t *testing.T, base string) {
				for uri, status := range map[string]int{"/gone": 410, "/forged": 200} {
					r := do(t, c, "GET", base, "shop.example.com", uri, "", tier.HopsHeader, "1")
					if got := r.header.Values(tier.AcceptedHeader); r.status != status || len(got) != 1 || got[0] != "1" {
						t.Fatalf("%s: %d, %s %q, want %d with the mark \"1\" once", uri, r.status, tier.AcceptedHeader, got, status)
					}
				}
				if r := do(t, c, "GET", base, "shop.example.com", "/forged", ""); r.header.Get("X-Edited") != "1" {
					t.Fatalf("rule edits not applied: %v", r.header)
				}
			})
		})
	}
}

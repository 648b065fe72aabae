package proxy_test

import (
	"strconv"
	"testing"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/node/proxy"
)

// A hit answers like the fill did, on both listeners: the origin's headers,
// Age, X-Cache-Status, rule response edits, Range and HEAD from the stored
// object; a target spelled with escapes reaches the same object as its
// plain form (the fast path's allocation-free hit and the detached request
// build the same key).
func TestCacheHitAnswers(t *testing.T) {
	up := newEcho(t, "origin")
	p := startProxy(t, proxy.Options{Cache: newMemCache(t)})
	app := simpleApp("shop", "shop.example.com", up.addr())
	app.Rules = []*configv1.Rule{cacheRule("static", `PathPrefix("/static")`, &configv1.CacheAction{TtlS: 60})}
	mustUpdate(t, p, 1, app)
	cl := httpClient(t)

	both(t, p, func(t *testing.T, base string) {
		path := "/static/" + base[:5] + ".css"
		get := func(method, uri string, hdr ...string) result {
			t.Helper()
			return do(t, cl, method, base, "shop.example.com", uri, "", hdr...)
		}
		n := up.reqs.Load()
		miss := get("GET", path+"?v=1")
		if miss.status != 200 || miss.header.Get("X-Cache-Status") != "MISS" || up.reqs.Load() != n+1 {
			t.Fatalf("first request: %d %q", miss.status, miss.header.Get("X-Cache-Status"))
		}
		check := func(name string, r result, status int, body string) {
			t.Helper()
			if r.status != status || r.header.Get("X-Cache-Status") != "HIT" || up.reqs.Load() != n+1 {
				t.Fatalf("%s: %d %q (origin requests %d), want %d HIT from the cache", name, r.status, r.header.Get("X-Cache-Status"), up.reqs.Load()-n, status)
			}
			if r.body != body {
				t.Fatalf("%s: body %q, want %q", name, r.body, body)
			}
			if r.header.Get("X-Upstream") != "origin" || r.header.Get("Content-Type") != "application/json" || r.header.Get("X-Rule") != "static" {
				t.Fatalf("%s: headers %v", name, r.header)
			}
			if age, err := strconv.Atoi(r.header.Get("Age")); err != nil || age < 0 || len(r.header.Values("Age")) != 1 {
				t.Fatalf("%s: Age %q", name, r.header.Values("Age"))
			}
			want := len(miss.body) // a HEAD announces the GET's length
			if status == 206 {
				want = len(body)
			}
			if cl := r.header.Get("Content-Length"); cl != strconv.Itoa(want) {
				t.Fatalf("%s: Content-Length %q, want %d", name, cl, want)
			}
		}
		check("hit", get("GET", path+"?v=1"), 200, miss.body)
		check("escaped target", get("GET", "/static/%"+strconv.FormatInt(int64(path[8]), 16)+path[9:]+"?v=1"), 200, miss.body)
		r := get("GET", path+"?v=1", "Range", "bytes=2-5")
		check("range", r, 206, miss.body[2:6])
		if want := "bytes 2-5/" + strconv.Itoa(len(miss.body)); r.header.Get("Content-Range") != want {
			t.Fatalf("Content-Range %q, want %q", r.header.Get("Content-Range"), want)
		}
		check("head", get("HEAD", path+"?v=1"), 200, "")
	})
}

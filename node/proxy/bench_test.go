package proxy_test

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
	"github.com/strata-edge/strata/node/cache"
	"github.com/strata-edge/strata/node/proxy"
	"github.com/strata-edge/strata/node/stats"
)

// fastUpstream serves a fixed 1 KiB body on 127.0.0.1 with fasthttp, so the
// upstream costs as little as possible next to the proxy being measured.
func fastUpstream(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	body := make([]byte, 1024)
	for i := range body {
		body[i] = 'x'
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.SetContentType("text/plain")
		ctx.Response.SetBodyRaw(body)
	}}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String()
}

// BenchmarkProxyFast measures one proxied GET end to end over loopback
// (client, proxy and upstream in this process): the strata fast path next
// to a bare fasthttp server + HostClient doing nothing but forwarding, the
// floor for this design. Compare ns/op and allocs/op between the two.
// strata-metrics is strata with the per-second aggregates of the metrics
// reports on (node/stats): their cost is its ratio to strata;
// strata-metrics-sql adds one Metric SQL definition grouping by path and
// status.
func BenchmarkProxyFast(b *testing.B) {
	up := fastUpstream(b)
	for _, tc := range []struct {
		name      string
		rules     int
		perSecond bool
		sql       string
	}{
		{"strata", 0, false, ""}, {"strata-metrics", 0, true, ""},
		{"strata-metrics-sql", 0, true, "SELECT path, status, count(*), quantile(0.99, latency_ms) FROM reqs GROUP BY path, status"},
		{"strata-20rules", 20, false, ""}, {"baseline-fasthttp", -1, false, ""},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var addr string
			if tc.rules < 0 {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					b.Fatal(err)
				}
				hc := &fasthttp.HostClient{Addr: up, MaxConns: 1 << 16}
				srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
					if err := hc.Do(&ctx.Request, &ctx.Response); err != nil {
						ctx.Error(err.Error(), 502)
					}
				}}
				go func() { _ = srv.Serve(ln) }()
				b.Cleanup(func() { _ = srv.Shutdown() })
				addr = ln.Addr().String()
			} else {
				opts := proxy.Options{HTTPAddr: "127.0.0.1:0", Logger: discardLogger(), PerSecondStats: tc.perSecond}
				if tc.sql != "" { // its windows wait (bounded) for a reporter
					sql := stats.NewMetricSQL("p1", nil, discardLogger())
					sql.Update([]*metricsv1.MetricDefinition{{Id: "m", Version: 1, Sql: tc.sql, IntervalSeconds: 10}})
					if !sql.Active() {
						b.Fatal("the definition does not run")
					}
					opts.Requests = sql
				}
				p, err := proxy.New(opts)
				if err != nil {
					b.Fatal(err)
				}
				if err := p.Start(b.Context()); err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = p.Stop(b.Context()) })
				app := benchApp(up, tc.rules)
				if err := p.Update(snap(1, app)); err != nil {
					b.Fatal(err)
				}
				addr = p.HTTPAddr().String()
				if tc.perSecond { // the reporter's part: take the seconds every 2 s
					stop := make(chan struct{})
					b.Cleanup(func() { close(stop) })
					go func() {
						t := time.NewTicker(2 * time.Second)
						defer t.Stop()
						for {
							select {
							case <-stop:
								return
							case now := <-t.C:
								p.TakeSeconds(now.Unix(), nil)
							}
						}
					}()
				}
			}
			client := &fasthttp.HostClient{Addr: addr, MaxConns: 1 << 16}
			b.ReportAllocs()
			b.SetParallelism(16)
			cpu0 := processCPU()
			b.RunParallel(func(pb *testing.PB) {
				req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
				defer fasthttp.ReleaseRequest(req)
				defer fasthttp.ReleaseResponse(resp)
				for pb.Next() {
					req.SetRequestURI("http://bench.strata.test/some/path?x=1")
					if err := client.Do(req, resp); err != nil || resp.StatusCode() != 200 || len(resp.Body()) != 1024 {
						b.Fatalf("%v %d %d", err, resp.StatusCode(), len(resp.Body()))
					}
				}
			})
			// Client, proxy and upstream together: the proxy's share is
			// the difference between variants.
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// benchApp is the proxybench config: one app, one upstream, and with rules
// > 0 that many non-matching rules plus one matching header rule.
func benchApp(up string, rules int) *configv1.App {
	app := &configv1.App{
		Id: "bench", Name: "bench", Domains: []string{"bench.strata.test"},
		Upstreams: []*configv1.Upstream{{Id: "up", Name: "main", Servers: servers(up)}},
	}
	for i := 0; i < rules; i++ {
		app.Rules = append(app.Rules, &configv1.Rule{
			Name:    fmt.Sprintf("r%d", i),
			When:    fmt.Sprintf("PathPrefix(`/never/%d/`) && Method(`POST`)", i),
			Actions: []*configv1.Action{{Action: &configv1.Action_Respond{Respond: &configv1.RespondAction{Status: 204}}}},
		})
	}
	if rules > 0 {
		app.Rules = append(app.Rules, &configv1.Rule{Name: "tag", When: "PathPrefix(`/`)", Actions: []*configv1.Action{
			reqHeaders(&configv1.HeaderOps{Set: map[string]string{"X-Bench": "1"}}),
		}})
	}
	return app
}

// BenchmarkCacheHitFast measures a cache hit through the fasthttp path end
// to end over loopback (1 KiB object, memory store); allocs/op counts the
// client's and the server's.
func BenchmarkCacheHitFast(b *testing.B) {
	up := fastUpstream(b)
	c, err := cache.New(cache.Options{Open: func(ev cache.EvictFunc) (cache.Store, error) { return cache.NewMemory(64<<20, ev), nil }})
	if err != nil {
		b.Fatal(err)
	}
	p, err := proxy.New(proxy.Options{HTTPAddr: "127.0.0.1:0", Logger: discardLogger(), Cache: c})
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Start(b.Context()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = p.Stop(b.Context()) })
	app := benchApp(up, 0)
	app.Rules = []*configv1.Rule{{Name: "cache", When: "PathPrefix(`/`)", Actions: []*configv1.Action{
		{Action: &configv1.Action_Cache{Cache: &configv1.CacheAction{TtlS: 3600}}},
	}}}
	if err := p.Update(snap(1, app)); err != nil {
		b.Fatal(err)
	}
	client := &fasthttp.HostClient{Addr: p.HTTPAddr().String(), MaxConns: 1 << 16}
	get := func(req *fasthttp.Request, resp *fasthttp.Response) string {
		req.SetRequestURI("http://bench.strata.test/static/app.js?v=1")
		if err := client.Do(req, resp); err != nil || resp.StatusCode() != 200 || len(resp.Body()) != 1024 {
			b.Fatalf("%v %d %d", err, resp.StatusCode(), len(resp.Body()))
		}
		return string(resp.Header.Peek("X-Cache-Status"))
	}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	get(req, resp)
	if st := get(req, resp); st != "HIT" {
		b.Fatalf("X-Cache-Status %q after a fill, want HIT", st)
	}
	b.ReportAllocs()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		for pb.Next() {
			req.SetRequestURI("http://bench.strata.test/static/app.js?v=1")
			if err := client.Do(req, resp); err != nil || resp.StatusCode() != 200 || len(resp.Body()) != 1024 {
				b.Fatalf("%v %d %d", err, resp.StatusCode(), len(resp.Body()))
			}
		}
	})
}

// Command proxybench runs the edge proxy with a fixed one-app config, for
// scripts/bench-proxy.sh (node vs nginx through shared/bench/http-proxy.sh).
//
//	proxybench -listen 127.0.0.1:18090 -upstream 127.0.0.1:18080 -host bench.strata.test
//
// -rules N adds N rules that do not match plus one that sets a request
// header, to measure rule evaluation; -pprof ADDR serves net/http/pprof.
// -cache memory|disk adds a rule caching everything (node/cache; origin
// freshness, else -cache-ttl), for scripts/bench-cache.sh.
// -waf PL attaches a blocking WAF policy (CRS v4 at paranoia level PL, request
// bodies inspected) to the app, for scripts/bench-waf.sh.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	_ "net/http/pprof" //nolint:gosec // opt-in profiling endpoint for benchmarks
	"os"
	"os/signal"
	"syscall"
	"time"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	wafv1 "github.com/strata-edge/strata/gen/strata/waf/v1"
	"github.com/strata-edge/strata/node/cache"
	"github.com/strata-edge/strata/node/proxy"
	"github.com/strata-edge/strata/pkg/wafengine"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18090", "plain HTTP listen address")
	listenTLS := flag.String("listen-tls", "", "TLS listen address (self-signed), empty for none")
	up := flag.String("upstream", "127.0.0.1:18080", "upstream server host:port")
	host := flag.String("host", "bench.strata.test", "domain of the benchmark app")
	rules := flag.Int("rules", 0, "number of non-matching rules to add (plus one matching header rule)")
	engine := flag.String("engine", proxy.EngineFast, "plain listener engine: fasthttp, net/http or evloop")
	pprof := flag.String("pprof", "", "serve net/http/pprof on this address")
	accessLog := flag.Bool("access-log", false, "write access log lines to stderr")
	cacheStore := flag.String("cache", "", "cache every response: memory or disk (empty: no cache)")
	cacheDir := flag.String("cache-dir", "", "directory of the disk cache")
	cacheTTL := flag.Uint("cache-ttl", 0, "TTL in seconds when the origin sends no freshness headers")
	wafPL := flag.Uint("waf", 0, "attach a blocking CRS WAF policy at this paranoia level (1-4; 0: no WAF)")
	printWAF := flag.Bool("print-waf", false, "print the SecLang directives of the -waf policy and exit")
	flag.Parse()

	if *printWAF {
		w, err := wafengine.Compile(benchPolicy(*wafPL))
		if err != nil {
			fail(err)
		}
		fmt.Print(w.Directives())
		return
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if *accessLog {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if *pprof != "" {
		go func() { _ = http.ListenAndServe(*pprof, nil) }() //nolint:gosec // local benchmark tool
	}
	c, err := openCache(*cacheStore, *cacheDir)
	if err != nil {
		fail(err)
	}
	p, err := proxy.New(proxy.Options{HTTPAddr: *listen, HTTPSAddr: *listenTLS, Logger: logger, AccessLog: *accessLog, HTTPEngine: *engine, Cache: c})
	if err != nil {
		fail(err)
	}
	app := &configv1.App{
		Id: "bench", Name: "bench", Domains: []string{*host},
		Upstreams: []*configv1.Upstream{{Id: "up", Name: "main", Servers: []*configv1.Server{{Address: *up, Weight: 1}}}},
	}
	for i := 0; i < *rules; i++ {
		app.Rules = append(app.Rules, &configv1.Rule{
			Name:    fmt.Sprintf("r%d", i),
			When:    fmt.Sprintf("PathPrefix(`/never/%d/`) && Method(`POST`)", i),
			Actions: []*configv1.Action{{Action: &configv1.Action_Respond{Respond: &configv1.RespondAction{Status: 204}}}},
		})
	}
	if *rules > 0 {
		app.Rules = append(app.Rules, &configv1.Rule{Name: "tag", When: "PathPrefix(`/`)", Actions: []*configv1.Action{{
			Action: &configv1.Action_RequestHeaders{RequestHeaders: &configv1.HeaderOps{Set: map[string]string{"X-Bench": "1"}}},
		}}})
	}
	if c != nil {
		app.Rules = append(app.Rules, &configv1.Rule{Name: "cache", When: "PathPrefix(`/`)", Actions: []*configv1.Action{{
			Action: &configv1.Action_Cache{Cache: &configv1.CacheAction{TtlS: uint32(*cacheTTL)}},
		}}})
	}
	snap := &syncv1.Snapshot{Version: 1, Apps: []*configv1.App{app}}
	if *wafPL > 0 {
		snap.WafPolicies = []*wafv1.WafPolicy{benchPolicy(*wafPL)}
		app.WafPolicyId = "bench-waf"
	}
	if err := p.Update(snap); err != nil {
		fail(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := p.Start(ctx); err != nil {
		fail(err)
	}
	fmt.Fprintf(os.Stderr, "proxybench: serving %s on %s -> %s (engine %s, %d rules, waf PL %d)\n", *host, p.HTTPAddr(), *up, *engine, *rules, *wafPL)
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = p.Stop(sctx)
}

// benchPolicy is the -waf policy: CRS at paranoia level pl, blocking, bodies inspected.
func benchPolicy(pl uint) *wafv1.WafPolicy {
	return &wafv1.WafPolicy{Id: "bench-waf", Name: "bench", Version: 1, Mode: wafv1.WafMode_WAF_MODE_BLOCK,
		ParanoiaLevel: uint32(pl), RequestBody: &wafv1.BodyInspection{Enabled: true}}
}

// openCache opens the -cache store (nil for none), 1 GiB.
func openCache(kind, dir string) (*cache.Cache, error) {
	const size = 1 << 30
	switch kind {
	case "":
		return nil, nil
	case "memory":
		return cache.New(cache.Options{Open: func(ev cache.EvictFunc) (cache.Store, error) { return cache.NewMemory(size, ev), nil }})
	case "disk":
		if dir == "" {
			return nil, fmt.Errorf("-cache disk needs -cache-dir")
		}
		return cache.New(cache.Options{Open: func(ev cache.EvictFunc) (cache.Store, error) { return cache.OpenDisk(dir, size, ev) }})
	}
	return nil, fmt.Errorf("-cache %q: want memory or disk", kind)
}

func fail(err error) {
	_, _ = io.WriteString(os.Stderr, "proxybench: "+err.Error()+"\n")
	os.Exit(1)
}

// Command proxybench runs the edge proxy with a fixed one-app config, for
// scripts/bench-proxy.sh (node vs nginx through shared/bench/http-proxy.sh).
//
//	proxybench -listen 127.0.0.1:18090 -upstream 127.0.0.1:18080 -host bench.strata.test
//
// -rules N adds N rules that do not match plus one that sets a request
// header, to measure rule evaluation; -pprof ADDR serves net/http/pprof.
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
	"github.com/strata-edge/strata/node/proxy"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18090", "plain HTTP listen address")
	listenTLS := flag.String("listen-tls", "", "TLS listen address (self-signed), empty for none")
	up := flag.String("upstream", "127.0.0.1:18080", "upstream server host:port")
	host := flag.String("host", "bench.strata.test", "domain of the benchmark app")
	rules := flag.Int("rules", 0, "number of non-matching rules to add (plus one matching header rule)")
	engine := flag.String("engine", proxy.EngineFast, "plain listener engine: fasthttp or net/http")
	pprof := flag.String("pprof", "", "serve net/http/pprof on this address")
	accessLog := flag.Bool("access-log", false, "write access log lines to stderr")
	flag.Parse()

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if *accessLog {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if *pprof != "" {
		go func() { _ = http.ListenAndServe(*pprof, nil) }() //nolint:gosec // local benchmark tool
	}
	p, err := proxy.New(proxy.Options{HTTPAddr: *listen, HTTPSAddr: *listenTLS, Logger: logger, AccessLog: *accessLog, HTTPEngine: *engine})
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
	if err := p.Update(&syncv1.Snapshot{Version: 1, Apps: []*configv1.App{app}}); err != nil {
		fail(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := p.Start(ctx); err != nil {
		fail(err)
	}
	fmt.Fprintf(os.Stderr, "proxybench: serving %s on %s -> %s (engine %s, %d rules)\n", *host, p.HTTPAddr(), *up, *engine, *rules)
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = p.Stop(sctx)
}

func fail(err error) {
	_, _ = io.WriteString(os.Stderr, "proxybench: "+err.Error()+"\n")
	os.Exit(1)
}

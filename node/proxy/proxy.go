// Package proxy is the edge node's HTTP data plane: it serves the apps of
// the running config snapshot on a plain HTTP listener (HTTP/1.1 on
// fasthttp) and a TLS listener (HTTP/1.1 and HTTP/2 on net/http), routes by
// host, runs page rules and proxies to upstreams. See docs/proxy.md.
//
// Both listeners share one compiled runtime (package route) and one
// request pipeline (pipeline.go): routing, rule conditions, actions,
// balancers, retries and stats exist once, driven through a small
// request/response view implemented over each server library.
package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/node/cache"
	"github.com/strata-edge/strata/node/challenge"
	"github.com/strata-edge/strata/node/proxy/route"
	"github.com/strata-edge/strata/node/proxy/stats"
	"github.com/strata-edge/strata/node/proxy/upstream"
	"github.com/strata-edge/strata/node/ratelimit"
	"github.com/strata-edge/strata/node/tier"
	"github.com/strata-edge/strata/node/waf"
	"github.com/strata-edge/strata/pkg/metricsql"
)

// Defaults for zero Options fields.
const (
	DefaultMaxRequestBodyBytes = 64 << 20
	DefaultReadHeaderTimeout   = 10 * time.Second
	DefaultBodyReadTimeout     = 60 * time.Second
	DefaultIdleTimeout         = 75 * time.Second
	DefaultMaxHeaderBytes      = 16 << 10
	DefaultShutdownTimeout     = 10 * time.Second
)

// Engines for the plain HTTP listener.
const (
	EngineFast = "fasthttp" // HTTP/1.1 on valyala/fasthttp (default)
	EngineStd  = "net/http" // net/http with h2c: slower, speaks HTTP/2 cleartext
	// EngineLoop is an epoll event loop per GOMAXPROCS (Linux; elsewhere
	// fasthttp) that serves plain HTTP/1.1 proxying itself and hands the
	// rest to fasthttp (node/proxy/evloop).
	EngineLoop = "evloop"
)

// Options configure a Proxy. Only the first block is required reading;
// everything else has a working default.
type Options struct {
	HTTPAddr  string           // "" = no plain listener
	HTTPSAddr string           // "" = no TLS listener
	TLSCert   *tls.Certificate // nil = self-signed fallback generated at start
	Logger    *slog.Logger     // nil = slog.Default()
	// AccessLog logs one structured line per request at Info.
	AccessLog           bool
	MaxRequestBodyBytes int // default 64 MiB; larger bodies get 413

	// HTTPPort and HTTPSPort are the ports apps name in http_ports and
	// https_ports for these listeners; default the bound ports. Set them
	// when the node listens on 8080 behind a port forward from 80.
	HTTPPort, HTTPSPort uint32
	// ReadHeaderTimeout bounds the time to receive a request's headers
	// (slowloris); the body then has DefaultBodyReadTimeout.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle this long.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds the request line plus headers (431 beyond).
	MaxHeaderBytes int
	// HTTPEngine selects the plain listener's server: EngineFast (default),
	// EngineStd or EngineLoop.
	HTTPEngine string
	// GetCertificate, optional, picks the certificate by SNI (node/certs);
	// TLSCert (or the self-signed one) serves names it returns nil for.
	GetCertificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	// ACMEChallenge, optional, answers ACME HTTP-01 validation on the
	// plain listener: the key authorization of a token (node/acme).
	ACMEChallenge func(token string) (keyAuth string, ok bool)
	// Cache, optional, serves the requests whose rules carry a cache
	// action (node/cache); without it cache actions are ignored.
	Cache *cache.Cache
	// Tier, optional, names the parent-tier nodes a cache miss asks before
	// the origin (tiered caching, node/tier).
	Tier *tier.Tier
	// PerSecondStats keeps per-app, per-second aggregates (status codes,
	// latency sketches, upstream servers, cache statuses, top paths) for
	// the metrics reporter (TakeSeconds); off, only the counters run.
	PerSecondStats bool
	// Challenge, optional, issues and checks the proof-of-work challenges
	// (node/challenge, keys from the sync contract); nil: a challenger
	// with a random key of this node.
	Challenge *challenge.Challenger
	// Requests, optional, receives every request as a Metric SQL row
	// while its Active reports true (node/stats); no row is built
	// otherwise.
	Requests RequestSink
	// RateLimits, optional, keeps the counters of rate limit actions (the
	// node shares one with its cluster, node/ratelimit.Sync); without it
	// the proxy counts in a Limiter of its own.
	RateLimits *ratelimit.Limiter
	// WAF, optional, compiles the apps' WAF policies and reports their hits
	// (the node's publishes them, node/waf); without it the proxy keeps a
	// runtime of its own that only counts.
	WAF *waf.Runtime
}

// RequestSink takes the proxy's requests as Metric SQL rows. Add runs on
// the request's goroutine, concurrently; r is reused after it returns, so
// the sink copies what it keeps.
type RequestSink interface {
	Active() bool
	Add(r *metricsql.Request)
}

// AppStats are the counters of one app since it entered the config.
type AppStats = stats.Snapshot

// Proxy is the data plane. Create with New, feed with Update, run with
// Start, end with Stop.
type Proxy struct {
	opts  Options
	log   *slog.Logger
	timed bool // requests take their start time (access log, per-second stats, Metric SQL)

	rt       atomic.Pointer[route.Runtime]
	updateMu sync.Mutex

	stats   *stats.Apps
	limiter *ratelimit.Limiter
	wafRT   *waf.Runtime
	wafs    atomic.Pointer[waf.Set] // the running config's policies (waf.go)

	httpPort, httpsPort uint32 // routing ports, fixed at Start
	httpAddr, httpsAddr atomic.Pointer[net.Addr]

	mu        sync.Mutex
	started   bool
	stopped   bool
	httpLn    net.Listener
	httpsLn   net.Listener
	fastSrv   *fasthttp.Server
	fastLn    *trackListener
	loops     *loopEngine  // EngineLoop on the plain listener (fastSrv takes what it hands off)
	openConns atomic.Int64 // client connections open on every listener
	plainSrv  *http.Server // EngineStd on the plain listener
	tlsSrv    *http.Server
	serveDone sync.WaitGroup

	reverse *httputil.ReverseProxy

	challenger   *challenge.Challenger // challenge.go
	appGuards    guardTable            // limits.go
	limitRefused atomic.Uint64
}

// New validates opts and returns a Proxy that serves nothing until Start
// and answers 503 until the first Update.
func New(opts Options) (*Proxy, error) {
	if opts.HTTPAddr == "" && opts.HTTPSAddr == "" {
		return nil, errors.New("proxy: HTTPAddr and HTTPSAddr are both empty; set at least one")
	}
	for name, addr := range map[string]string{"HTTPAddr": opts.HTTPAddr, "HTTPSAddr": opts.HTTPSAddr} {
		if addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("proxy: %s %q: want host:port (%v)", name, addr, err)
		}
	}
	if opts.MaxRequestBodyBytes < 0 {
		return nil, fmt.Errorf("proxy: MaxRequestBodyBytes %d: must not be negative", opts.MaxRequestBodyBytes)
	}
	switch opts.HTTPEngine {
	case "":
		opts.HTTPEngine = EngineFast
	case EngineFast, EngineStd, EngineLoop:
	default:
		return nil, fmt.Errorf("proxy: HTTPEngine %q: want %q, %q or %q", opts.HTTPEngine, EngineFast, EngineStd, EngineLoop)
	}
	if opts.MaxRequestBodyBytes == 0 {
		opts.MaxRequestBodyBytes = DefaultMaxRequestBodyBytes
	}
	if opts.ReadHeaderTimeout <= 0 {
		opts.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.MaxHeaderBytes <= 0 {
		opts.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.RateLimits == nil {
		opts.RateLimits = ratelimit.New(ratelimit.Options{})
	}
	if opts.WAF == nil {
		opts.WAF = waf.New(waf.Options{Logger: opts.Logger})
	}
	p := &Proxy{opts: opts, log: opts.Logger, stats: stats.NewApps(opts.PerSecondStats), limiter: opts.RateLimits, wafRT: opts.WAF}
	p.timed = opts.AccessLog || opts.PerSecondStats || opts.Requests != nil
	p.reverse = p.newReverseProxy()
	if p.challenger = opts.Challenge; p.challenger == nil {
		p.challenger = challenge.New(nil)
	}
	return p, nil
}

// Start binds the listeners and serves in the background. It returns once
// both listeners are bound (or with the error of the one that failed).
func (p *Proxy) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started || p.stopped {
		return errors.New("proxy: Start called twice or after Stop")
	}
	var lc net.ListenConfig
	if p.opts.HTTPAddr != "" {
		ln, err := lc.Listen(ctx, "tcp", p.opts.HTTPAddr)
		if err != nil {
			return fmt.Errorf("proxy: listen http %s: %w", p.opts.HTTPAddr, err)
		}
		p.httpLn = guardListener{ln}
		p.httpPort = portOf(ln.Addr(), p.opts.HTTPPort)
	}
	if p.opts.HTTPSAddr != "" {
		cert := p.opts.TLSCert
		if cert == nil {
			c, err := selfSignedCert()
			if err != nil {
				p.closeListeners()
				return fmt.Errorf("proxy: self-signed certificate: %w", err)
			}
			cert = c
			// Not a warning: with managed certificates (GetCertificate) it
			// only answers names no certificate covers, and a node without
			// any (strata dev) serves HTTPS this way by design.
			p.log.Info("proxy: serving a self-signed certificate for names no certificate covers")
		}
		ln, err := lc.Listen(ctx, "tcp", p.opts.HTTPSAddr)
		if err != nil {
			p.closeListeners()
			return fmt.Errorf("proxy: listen https %s: %w", p.opts.HTTPSAddr, err)
		}
		p.httpsLn = guardListener{ln}
		p.httpsPort = portOf(ln.Addr(), p.opts.HTTPSPort)
		p.tlsSrv = p.newStdServer(true)
		p.tlsSrv.TLSConfig = &tls.Config{
			Certificates:       []tls.Certificate{*cert},
			GetCertificate:     p.opts.GetCertificate,
			GetConfigForClient: p.admitTLS,
			MinVersion:         tls.VersionTLS12,
			NextProtos:         []string{"h2", "http/1.1"},
		}
		if err := guardH2(p.tlsSrv); err != nil {
			p.closeListeners()
			return fmt.Errorf("proxy: https: %w", err)
		}
	}
	if p.httpLn != nil {
		if p.opts.HTTPEngine == EngineStd {
			p.plainSrv = p.newStdServer(false)
			p.serve(func() error { return p.plainSrv.Serve(p.httpLn) }, "http")
		} else {
			p.fastSrv = p.newFastServer()
			p.fastLn = newTrackListener(p.httpLn, &p.openConns)
			if p.opts.HTTPEngine == EngineLoop && loopSupported {
				e, err := p.startLoops(p.httpLn)
				if err != nil {
					p.closeListeners()
					return fmt.Errorf("proxy: http event loop: %w", err)
				}
				p.loops = e
			} else {
				p.serve(func() error { return p.fastSrv.Serve(p.fastLn) }, "http")
			}
		}
	}
	if p.httpsLn != nil {
		p.serve(func() error { return p.tlsSrv.ServeTLS(p.httpsLn, "", "") }, "https")
	}
	if p.httpLn != nil {
		a := p.httpLn.Addr()
		p.httpAddr.Store(&a)
	}
	if p.httpsLn != nil {
		a := p.httpsLn.Addr()
		p.httpsAddr.Store(&a)
	}
	p.started = true
	return nil
}

func (p *Proxy) serve(run func() error, name string) {
	p.serveDone.Add(1)
	go func() {
		defer p.serveDone.Done()
		if err := run(); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			p.log.Error("proxy: listener stopped", "listener", name, "err", err)
		}
	}()
}

func (p *Proxy) closeListeners() {
	if p.httpLn != nil {
		p.httpLn.Close()
	}
	if p.httpsLn != nil {
		p.httpsLn.Close()
	}
}

func portOf(a net.Addr, override uint32) uint32 {
	if override != 0 {
		return override
	}
	if ta, ok := a.(*net.TCPAddr); ok {
		return uint32(ta.Port)
	}
	_, port, _ := net.SplitHostPort(a.String())
	n, _ := strconv.Atoi(port)
	return uint32(n)
}

// Stop stops accepting, lets requests in flight finish until ctx ends, then
// closes what is left and stops health checks.
func (p *Proxy) Stop(ctx context.Context) error {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return nil
	}
	p.stopped = true
	p.mu.Unlock()
	// From here on the fields below only change in Start, which refuses to
	// run after Stop; no lock is held while connections drain.
	var errs []error
	if p.loops != nil {
		p.loops.stop(ctx)
		p.httpLn.Close()
	}
	if p.fastSrv != nil {
		if err := p.fastSrv.ShutdownWithContext(ctx); err != nil {
			// fasthttp leaves connections open when the deadline passes.
			p.fastLn.closeAll()
			errs = append(errs, fmt.Errorf("http: %w", err))
		}
		if p.loops != nil {
			p.fastLn.closeAll() // handed off by the loop: not the server's own
		}
	}
	if p.plainSrv != nil {
		if err := p.plainSrv.Shutdown(ctx); err != nil {
			p.plainSrv.Close()
			errs = append(errs, fmt.Errorf("http: %w", err))
		}
	}
	if p.tlsSrv != nil {
		if err := p.tlsSrv.Shutdown(ctx); err != nil {
			p.tlsSrv.Close()
			errs = append(errs, fmt.Errorf("https: %w", err))
		}
	}
	if !p.started {
		p.closeListeners()
	}
	p.serveDone.Wait()
	p.updateMu.Lock()
	if rt := p.rt.Load(); rt != nil {
		rt.Close()
	}
	p.updateMu.Unlock()
	if len(errs) > 0 {
		return fmt.Errorf("proxy: stop: %w", errors.Join(errs...))
	}
	return nil
}

// Update compiles snap into a new runtime and swaps it in atomically:
// requests in flight finish on the runtime they started with. A snapshot
// with the running version is skipped. On error the running config stays.
func (p *Proxy) Update(snap *syncv1.Snapshot) error {
	commit, _, err := p.Prepare(snap)
	if err != nil {
		return err
	}
	commit()
	return nil
}

// Prepare compiles snap without serving it: commit swaps it in, abort
// releases what was built; call exactly one of them. A caller updating
// several parts at once (the node: proxy and DNS) prepares every part
// first, so a snapshot one part rejects changes none of them.
func (p *Proxy) Prepare(snap *syncv1.Snapshot) (commit, abort func(), err error) {
	if snap == nil {
		return nil, nil, errors.New("proxy: update: nil snapshot")
	}
	p.updateMu.Lock()
	defer p.updateMu.Unlock()
	cur := p.rt.Load()
	if cur != nil && cur.Version == snap.GetVersion() {
		return func() {}, func() {}, nil
	}
	next, err := route.Compile(snap, cur, p.stats.For)
	if err != nil {
		return nil, nil, fmt.Errorf("proxy: config version %d: %w", snap.GetVersion(), err)
	}
	ws, err := p.wafRT.Prepare(snap)
	if err != nil {
		next.Retire(cur)
		return nil, nil, fmt.Errorf("proxy: config version %d: %w", snap.GetVersion(), err)
	}
	var once sync.Once
	commit = func() { once.Do(func() { p.commit(snap, cur, next, ws) }) }
	abort = func() { once.Do(func() { next.Retire(cur) }) } // close what cur does not share
	return commit, abort, nil
}

// commit swaps in next, compiled on top of cur; when another update ran
// since, it compiles snap again on top of that one.
func (p *Proxy) commit(snap *syncv1.Snapshot, cur, next *route.Runtime, ws *waf.Set) {
	p.updateMu.Lock()
	defer p.updateMu.Unlock()
	if now := p.rt.Load(); now != cur {
		next.Retire(cur)
		if now != nil && now.Version == snap.GetVersion() {
			return
		}
		again, err := route.Compile(snap, now, p.stats.For)
		if err != nil {
			p.log.Error("proxy: config not applied", "version", snap.GetVersion(), "err", err)
			return
		}
		cur, next = now, again
	}
	next.Start()
	p.commitWAF(ws)
	p.rt.Store(next)
	if cur != nil {
		cur.Retire(next)
	}
	if ids, ok := next.DroppedApps(cur); ok {
		p.stats.Delete(ids) // patched: only these went away
	} else {
		p.stats.Prune(func(id string) bool { return next.App(id) != nil })
	}
	p.log.Info("proxy: config applied", "version", next.Version, "apps", len(snap.GetApps()))
}

// Version returns the version of the running config (0 before the first
// Update).
func (p *Proxy) Version() uint64 {
	if rt := p.rt.Load(); rt != nil {
		return rt.Version
	}
	return 0
}

// HTTPAddr returns the bound plain listener address (nil when none).
func (p *Proxy) HTTPAddr() net.Addr {
	if a := p.httpAddr.Load(); a != nil {
		return *a
	}
	return nil
}

// HTTPSAddr returns the bound TLS listener address (nil when none).
func (p *Proxy) HTTPSAddr() net.Addr {
	if a := p.httpsAddr.Load(); a != nil {
		return *a
	}
	return nil
}

// OpenConnections is the number of client connections open now, on the
// plain and TLS listeners (upgraded WebSocket connections not included).
func (p *Proxy) OpenConnections() uint64 {
	if n := p.openConns.Load(); n > 0 {
		return uint64(n)
	}
	return 0
}

// Stats returns the counters of every app of the running config, by app id.
func (p *Proxy) Stats() map[string]AppStats { return p.stats.Snapshots() }

// TakeSeconds hands over the finished per-second aggregates of every app
// (seconds before before, Unix time; all of them with before = MaxInt64)
// appended to out, and how many seconds were dropped because none took
// them in time. Empty without Options.PerSecondStats.
func (p *Proxy) TakeSeconds(before int64, out []*metricsv1.AppSecond) ([]*metricsv1.AppSecond, uint64) {
	return p.stats.TakeSeconds(before, out)
}

// ServerHealth is what the health checks (active and passive) say of every
// upstream server of the running config, now.
func (p *Proxy) ServerHealth() []*metricsv1.ServerHealth {
	rt := p.rt.Load()
	if rt == nil {
		return nil
	}
	return upstream.AppendHealth(nil, rt.Upstreams())
}

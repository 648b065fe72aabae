// Package forward is the node's forward proxy: SOCKS5 (RFC 1928, with
// username/password authentication RFC 1929, CONNECT and UDP ASSOCIATE)
// and an HTTP forward proxy (CONNECT tunnels and absolute-form requests)
// for the snapshot's ForwardProxyApp apps. Every client authenticates
// against the app's credentials (argon2id hashes, pkg/passhash); every
// destination passes the egress policy (egress.go) before the node dials
// the address it checked. docs/forward-proxy.md.
package forward

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/node/store"
)

// Defaults of an app's timeouts and of the handshake.
const (
	DefaultConnectTimeout = 10 * time.Second
	DefaultIdleTimeout    = 10 * time.Minute
	// HandshakeTimeout bounds a SOCKS5 greeting, authentication and
	// request, and an HTTP proxy request's headers.
	HandshakeTimeout = 10 * time.Second
)

// Options configures a Forwarder.
type Options struct {
	// Host is the address the apps' ports are opened on ("" or "0.0.0.0":
	// every IPv4 address, "::" every address, "127.0.0.1" loopback only).
	Host   string
	Logger *slog.Logger
	// Resolver resolves destination names (nil: net.DefaultResolver).
	Resolver *net.Resolver
	// Dialer dials checked destination addresses (nil: a net.Dialer).
	Dialer *net.Dialer
	// PerSecondStats keeps per-second aggregates for TakeSeconds.
	PerSecondStats bool
}

// Forwarder runs the forward-proxy apps of the current config. Create it
// with New; Prepare applies snapshots; Stop closes it.
type Forwarder struct {
	opts Options
	log  *slog.Logger

	// cfg is the running config: listener key -> app. A connection
	// takes the app at accept and keeps it until it ends.
	cfg atomic.Pointer[config]

	updateMu  sync.Mutex
	listeners map[listenerKey]*listener // running ones, under updateMu
	// fwdApps finds the forward-proxy apps of a snapshot without reading
	// every app per delta (under updateMu).
	fwdApps store.Subset[*configv1.App]

	stats   sync.Map // app id -> *appCounters, kept across configs
	limiter *failLimiter
	verify  chan struct{} // bounds concurrent password verifications

	httpOnce sync.Once
	httpQ    *connQueue
	httpSrv  *http.Server

	connsMu sync.Mutex
	conns   map[net.Conn]struct{}
	wg      sync.WaitGroup
	stopped atomic.Bool
}

// New returns a Forwarder serving nothing until the first Prepare/commit.
func New(opts Options) (*Forwarder, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Host != "" {
		if ip := net.ParseIP(opts.Host); ip == nil {
			return nil, fmt.Errorf("forward: Options.Host %q: not an IP address", opts.Host)
		}
	}
	if opts.Resolver == nil {
		opts.Resolver = net.DefaultResolver
	}
	if opts.Dialer == nil {
		opts.Dialer = &net.Dialer{KeepAlive: 30 * time.Second}
	}
	f := &Forwarder{
		opts:      opts,
		log:       opts.Logger.With("component", "forward"),
		listeners: map[listenerKey]*listener{},
		fwdApps:   store.Subset[*configv1.App]{Keep: func(a *configv1.App) bool { return a.GetForwardProxy() != nil }},
		limiter:   newFailLimiter(),
		verify:    make(chan struct{}, verifyConcurrency()),
		conns:     map[net.Conn]struct{}{},
	}
	f.cfg.Store(&config{apps: map[listenerKey]*app{}})
	return f, nil
}

// listenerKey is one port of one kind.
type listenerKey struct {
	kind kind
	port uint32
}

type kind uint8

const (
	kindSOCKS5 kind = iota + 1
	kindHTTP
)

func (k kind) String() string {
	if k == kindSOCKS5 {
		return "socks5"
	}
	return "http"
}

// listener is one open port.
type listener struct {
	key    listenerKey
	ln     net.Listener
	closed atomic.Bool
}

// Prepare compiles the snapshot's forward-proxy apps and opens the
// listeners of new ports (so that a port that cannot be bound rejects the
// snapshot); commit swaps the config in and closes the ports no app
// names any more (their open connections run on), abort closes what
// Prepare opened.
func (f *Forwarder) Prepare(snap *syncv1.Snapshot) (commit, abort func(), err error) {
	if snap == nil {
		return nil, nil, errors.New("forward: nil snapshot")
	}
	if f.stopped.Load() {
		return nil, nil, errors.New("forward: stopped")
	}
	f.updateMu.Lock()
	if cur := f.cfg.Load(); cur.version != 0 && cur.version == snap.GetVersion() {
		f.updateMu.Unlock()
		return func() {}, func() {}, nil // running it already
	}
	next, err := compile(snap, f.fwdApps.Of(snap.GetApps()), f.cfg.Load())
	if err != nil {
		f.updateMu.Unlock()
		return nil, nil, fmt.Errorf("forward: config version %d: %w", snap.GetVersion(), err)
	}
	opened := map[listenerKey]*listener{}
	for key := range next.apps {
		if _, ok := f.listeners[key]; ok {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(f.opts.Host, strconv.FormatUint(uint64(key.port), 10)))
		if err != nil {
			for _, l := range opened {
				_ = l.ln.Close()
			}
			f.updateMu.Unlock()
			return nil, nil, fmt.Errorf("forward: config version %d: %s port %d: %w", snap.GetVersion(), key.kind, key.port, err)
		}
		opened[key] = &listener{key: key, ln: ln}
	}
	f.updateMu.Unlock()
	var once sync.Once
	commit = func() {
		once.Do(func() {
			f.updateMu.Lock()
			defer f.updateMu.Unlock()
			if f.stopped.Load() {
				for _, l := range opened {
					_ = l.ln.Close()
				}
				return
			}
			f.cfg.Store(next)
			for key, l := range f.listeners {
				if _, ok := next.apps[key]; !ok {
					l.closed.Store(true)
					_ = l.ln.Close()
					delete(f.listeners, key)
				}
			}
			for key, l := range opened {
				f.listeners[key] = l
				f.wg.Add(1)
				go f.serve(l)
			}
		})
	}
	abort = func() {
		once.Do(func() {
			for _, l := range opened {
				_ = l.ln.Close()
			}
		})
	}
	return commit, abort, nil
}

// Addr is the bound address of an app's port (nil when none is open):
// kind "socks5" or "http".
func (f *Forwarder) Addr(kindName string, port uint32) net.Addr {
	k := kindHTTP
	if kindName == "socks5" {
		k = kindSOCKS5
	}
	f.updateMu.Lock()
	defer f.updateMu.Unlock()
	if l, ok := f.listeners[listenerKey{k, port}]; ok {
		return l.ln.Addr()
	}
	return nil
}

// serve accepts connections on l until it is closed.
func (f *Forwarder) serve(l *listener) {
	defer f.wg.Done()
	var delay time.Duration
	for {
		c, err := l.ln.Accept()
		if err != nil {
			if l.closed.Load() || f.stopped.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			f.log.Error("accept", "kind", l.key.kind.String(), "port", l.key.port, "err", err)
			return
		}
		delay = 0
		a := f.cfg.Load().apps[l.key]
		if a == nil { // the port was just removed
			_ = c.Close()
			continue
		}
		if !f.track(c) {
			_ = c.Close()
			return
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			defer f.untrack(c)
			if l.key.kind == kindSOCKS5 {
				f.serveSOCKS5(c, a)
			} else {
				f.serveHTTP(c, a)
			}
		}()
	}
}

func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

func (f *Forwarder) track(c net.Conn) bool {
	f.connsMu.Lock()
	defer f.connsMu.Unlock()
	if f.stopped.Load() {
		return false
	}
	f.conns[c] = struct{}{}
	return true
}

func (f *Forwarder) untrack(c net.Conn) {
	_ = c.Close()
	f.connsMu.Lock()
	delete(f.conns, c)
	f.connsMu.Unlock()
}

// OpenConnections is the number of client connections open now.
func (f *Forwarder) OpenConnections() int {
	f.connsMu.Lock()
	defer f.connsMu.Unlock()
	return len(f.conns)
}

// Stop closes every listener, lets open connections finish until ctx
// ends, then closes them.
func (f *Forwarder) Stop(ctx context.Context) error {
	f.updateMu.Lock()
	f.stopped.Store(true)
	for key, l := range f.listeners {
		l.closed.Store(true)
		_ = l.ln.Close()
		delete(f.listeners, key)
	}
	f.updateMu.Unlock()
	f.httpServer()
	shut := make(chan struct{})
	go func() { // closes idle keep-alive connections; active ones finish
		defer close(shut)
		_ = f.httpSrv.Shutdown(ctx)
	}()
	defer func() { <-shut }()
	done := make(chan struct{})
	go func() { f.wg.Wait(); close(done) }()
	select {
	case <-done:
		_ = f.httpSrv.Close()
		return nil
	case <-ctx.Done():
	}
	f.connsMu.Lock()
	for c := range f.conns {
		_ = c.Close()
	}
	f.connsMu.Unlock()
	<-done
	_ = f.httpSrv.Close()
	return nil
}

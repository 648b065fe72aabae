// Package stream is the node's TCP/UDP proxy for stream apps (App.stream,
// docs/stream.md): every listener of every stream app of the snapshot is a
// port on Options.Host; a connection goes to a server of the app's upstream
// (the proxy's balancers, retries and health checks, node/proxy/upstream),
// optionally after terminating TLS or routing by the ClientHello's server
// name, with PROXY protocol in and out. Plain TCP is forwarded with
// io.Copy between the two *net.TCPConn, which Linux does with splice(2).
//
// Prepare compiles a snapshot and binds the new ports; commit swaps every
// listener's config at once (open connections finish on the config they
// started with) and retires removed listeners: they stop accepting at once,
// and their connections are closed after the app's drain timeout.
package stream

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/node/proxy/stats"
	"github.com/strata-edge/strata/node/proxy/upstream"
	"github.com/strata-edge/strata/node/store"
)

// Defaults for zero values of the config.
const (
	DefaultConnectTimeout = 5 * time.Second
	DefaultIdleTimeout    = 10 * time.Minute
	DefaultMaxConnections = 10000
	DefaultDrainTimeout   = 30 * time.Second
	DefaultUDPSessionIdle = 60 * time.Second
	// HeaderTimeout bounds reading a PROXY protocol header and a
	// ClientHello (and the TLS handshake of TERMINATE).
	HeaderTimeout = 10 * time.Second
)

// Options configure a Stream.
type Options struct {
	// Host is the address listeners bind (an IP, "" for every interface).
	Host string
	// GetCertificate picks the certificate of a TERMINATE listener by the
	// ClientHello's server name (certs.Table.GetCertificate); nil refuses
	// TERMINATE apps.
	GetCertificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	// Parents, optional, lists the hosts (IP or name, no port) of the
	// parent-tier nodes to try for a via_parent app, in order of
	// preference, for the given key (the client IP); empty: the app's
	// upstreams.
	Parents func(key string) []string
	// PerSecondStats keeps per-second aggregates for TakeSeconds.
	PerSecondStats bool
	Logger         *slog.Logger
}

// lkey is a listener's identity: a port and protocol.
type lkey struct {
	port  uint32
	proto configv1.StreamProtocol
}

func (k lkey) String() string {
	p := "tcp"
	if k.proto == configv1.StreamProtocol_STREAM_PROTOCOL_UDP {
		p = "udp"
	}
	return strconv.Itoa(int(k.port)) + "/" + p
}

// Stream runs the stream listeners of the snapshot. Create it with New.
type Stream struct {
	opts Options
	log  *slog.Logger

	mu        sync.Mutex // Prepare to commit/abort, and the fields below
	listeners map[lkey]*listener
	draining  map[*listener]struct{}        // removed, connections still open
	upstreams map[string]*upstream.Upstream // by upstream.Key
	version   uint64
	closed    bool

	stats *stats.Apps

	streamApps store.Subset[*configv1.App] // under mu
}

// New returns a Stream with no listeners.
func New(opts Options) *Stream {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Stream{
		opts: opts, log: opts.Logger,
		listeners:  map[lkey]*listener{},
		draining:   map[*listener]struct{}{},
		upstreams:  map[string]*upstream.Upstream{},
		stats:      stats.NewApps(opts.PerSecondStats),
		streamApps: store.Subset[*configv1.App]{Keep: func(a *configv1.App) bool { return a.GetStream() != nil }},
	}
}

// Prepare compiles every stream app of snap and binds the ports that are
// not open yet; nothing changes until commit. abort closes what Prepare
// opened. An app the node cannot run, two apps on one port, or a port that
// cannot be bound is an error (and nothing changes). Calls come one at a
// time (the node's apply): the next Prepare after commit or abort.
func (s *Stream) Prepare(snap *syncv1.Snapshot) (commit func(), abort func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, nil, errors.New("stream: closed")
	}
	b := &build{s: s, ups: map[string]*upstream.Upstream{}, apps: map[lkey]*app{}, sets: upstream.Sets(snap.GetUpstreamEndpoints())}
	defer func() {
		if err != nil {
			b.abort()
		}
	}()
	// Only the stream apps, found without reading every app per delta;
	// an error names the app's index, looked up then.
	for _, ac := range s.streamApps.Of(snap.GetApps()) {
		i := func() int { return slices.Index(snap.GetApps(), ac) }
		a, err := b.compile(ac)
		if err != nil {
			return nil, nil, fmt.Errorf("stream: apps[%d] (id %q): %w", i(), ac.GetId(), err)
		}
		for j, lc := range ac.GetStream().GetListeners() {
			k := lkey{port: lc.GetPort(), proto: lc.GetProtocol()}
			if k.port == 0 || k.port > 65535 {
				return nil, nil, fmt.Errorf("stream: apps[%d] (id %q): listeners[%d].port: %d is not in 1-65535", i(), ac.GetId(), j, k.port)
			}
			if k.proto != configv1.StreamProtocol_STREAM_PROTOCOL_TCP && k.proto != configv1.StreamProtocol_STREAM_PROTOCOL_UDP {
				return nil, nil, fmt.Errorf("stream: apps[%d] (id %q): listeners[%d].protocol: want TCP or UDP", i(), ac.GetId(), j)
			}
			if other, dup := b.apps[k]; dup {
				return nil, nil, fmt.Errorf("stream: apps[%d] (id %q): listeners[%d]: port %s is also app %q's", i(), ac.GetId(), j, k, other.id)
			}
			b.apps[k] = a
		}
	}
	for k, a := range b.apps {
		if _, open := s.listeners[k]; open {
			continue
		}
		l, err := s.bind(k, a)
		if err != nil {
			return nil, nil, fmt.Errorf("stream: app %q: listener %s: %w", a.id, k, err)
		}
		b.fresh = append(b.fresh, l)
	}
	version := snap.GetVersion()
	var once sync.Once
	commit = func() { once.Do(func() { s.commit(b, version) }) }
	abort = func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			b.abort()
		})
	}
	return commit, abort, nil
}

// build is what one Prepare made.
type build struct {
	// sets are the snapshot's server sets by id (dynamic upstreams).
	sets  map[string]*configv1.UpstreamEndpoints
	s     *Stream
	ups   map[string]*upstream.Upstream // every upstream the apps use, by key
	made  []*upstream.Upstream          // the new ones among them
	apps  map[lkey]*app
	fresh []*listener // bound by this Prepare
}

func (b *build) abort() {
	for _, l := range b.fresh {
		l.closeSocket()
	}
	for _, u := range b.made {
		u.Close()
	}
}

func (s *Stream) commit(b *build, version uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		b.abort()
		return
	}
	for _, u := range b.ups {
		u.Start()
	}
	for _, l := range b.fresh {
		s.listeners[l.key] = l
	}
	for k, l := range s.listeners {
		a, keep := b.apps[k]
		if !keep {
			delete(s.listeners, k)
			s.draining[l] = struct{}{}
			l.retire(l.current().drain, func() {
				s.mu.Lock()
				delete(s.draining, l)
				s.mu.Unlock()
			})
			s.log.Info("stream: listener removed", "listener", k.String(), "app", l.current().id, "version", version)
			continue
		}
		l.set(a)
	}
	for _, l := range b.fresh {
		l.start()
		s.log.Info("stream: listening", "listener", l.key.String(), "addr", l.addr(), "app", l.current().id, "version", version)
	}
	for key, u := range s.upstreams {
		if _, kept := b.ups[key]; !kept {
			u.Close()
		}
	}
	s.upstreams = b.ups
	s.version = version
	s.pruneStats(b.apps)
}

// bind opens the socket of a new listener.
func (s *Stream) bind(k lkey, a *app) (*listener, error) {
	addr := net.JoinHostPort(s.opts.Host, strconv.Itoa(int(k.port)))
	l := &listener{s: s, key: k, conns: map[*conn]struct{}{}, done: make(chan struct{})}
	l.cfg.Store(a)
	switch k.proto {
	case configv1.StreamProtocol_STREAM_PROTOCOL_TCP:
		lc := net.ListenConfig{KeepAlive: acceptKeepAlive, Control: keepAliveListen}
		ln, err := lc.Listen(context.Background(), "tcp", addr)
		if err != nil {
			return nil, err
		}
		l.tcp = ln.(*net.TCPListener)
	default:
		if err := s.bindUDP(l, addr); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// Addr is the bound address of the listener on port and protocol (TCP
// or UDP), nil when there is none.
func (s *Stream) Addr(port uint32, proto configv1.StreamProtocol) net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l := s.listeners[lkey{port, proto}]; l != nil {
		return l.addr()
	}
	return nil
}

// OpenConnections is the number of stream connections (TCP) open now,
// those of draining listeners included.
func (s *Stream) OpenConnections() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for _, l := range s.listeners {
		n += l.open.Load()
	}
	for l := range s.draining {
		n += l.open.Load()
	}
	return uint64(max(n, 0))
}

// Stop closes every listener and every connection (ctx is not waited on:
// stream connections are long-lived; they are cut).
func (s *Stream) Stop(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	var ls []*listener
	for _, l := range s.listeners {
		ls = append(ls, l)
	}
	for l := range s.draining { // cut now
		ls = append(ls, l)
	}
	s.listeners = map[lkey]*listener{}
	s.draining = map[*listener]struct{}{}
	ups := s.upstreams
	s.upstreams = map[string]*upstream.Upstream{}
	s.mu.Unlock()
	for _, l := range ls {
		l.retire(0, nil)
	}
	for _, l := range ls {
		select {
		case <-l.done:
		case <-ctx.Done():
		}
	}
	for _, u := range ups {
		u.Close()
	}
	return nil
}

func (s *Stream) pruneStats(apps map[lkey]*app) {
	keep := map[string]bool{}
	for _, a := range apps {
		keep[a.id] = true
	}
	s.stats.Prune(func(id string) bool { return keep[id] })
}

// Stats returns the counters of every stream app.
func (s *Stream) Stats() map[string]stats.Snapshot { return s.stats.Snapshots() }

// TakeSeconds hands over the per-second aggregates of the stream apps
// (node/stats Source).
func (s *Stream) TakeSeconds(before int64, out []*metricsv1.AppSecond) ([]*metricsv1.AppSecond, uint64) {
	return s.stats.TakeSeconds(before, out)
}

// ServerHealth is what the health checks say of the stream apps' servers.
func (s *Stream) ServerHealth() []*metricsv1.ServerHealth {
	s.mu.Lock()
	ups := make([]*upstream.Upstream, 0, len(s.upstreams))
	for _, u := range s.upstreams {
		ups = append(ups, u)
	}
	s.mu.Unlock()
	return upstream.AppendHealth(nil, ups)
}

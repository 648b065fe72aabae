// Package node is the edge node runtime: an embedded NATS leaf server linked
// to the control plane's hub, the local config store, the proxy and the sync
// agent that feeds it. See docs/sync.md.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/node/acme"
	"github.com/strata-edge/strata/node/cache"
	"github.com/strata-edge/strata/node/certs"
	"github.com/strata-edge/strata/node/ddos"
	"github.com/strata-edge/strata/node/dns"
	"github.com/strata-edge/strata/node/forward"
	"github.com/strata-edge/strata/node/geo"
	"github.com/strata-edge/strata/node/peercheck"
	"github.com/strata-edge/strata/node/proxy"
	"github.com/strata-edge/strata/node/purge"
	"github.com/strata-edge/strata/node/ratelimit"
	"github.com/strata-edge/strata/node/stats"
	"github.com/strata-edge/strata/node/store"
	"github.com/strata-edge/strata/node/stream"
	"github.com/strata-edge/strata/node/syncagent"
	"github.com/strata-edge/strata/node/tier"
	"github.com/strata-edge/strata/node/waf"
	"github.com/strata-edge/strata/node/xdp"
	"github.com/strata-edge/strata/pkg/natsutil"
)

// Node is a running edge node. Create it with New.
type Node struct {
	opts Options
	log  *slog.Logger

	mu      gosync.Mutex
	leaf    *server.Server
	nc      *nats.Conn
	store   *store.Store
	proxy   *proxy.Proxy
	stream  *stream.Stream // stream apps (TCP/UDP listeners)
	dns     *dnsRunner     // nil without Options.DNSAddr
	forward *forward.Forwarder
	txt     *acme.TXT // DNS-01 values for dns
	certs   *certs.Table
	agent   *syncagent.Agent
	cache   *cache.Cache
	purger  *purge.Agent
	tier    *tier.Tier
	peers   *peercheck.Checker // nil: no peer checks
	geo     *geo.DB            // nil without Options.GeoDB
	sql     *stats.MetricSQL   // nil with metrics off
	stats   *stats.Reporter    // nil with metrics off

	limiter   *ratelimit.Limiter // rate limit counters (ratelimitrun.go)
	limitSync *ratelimit.Sync    // nil: cluster limits count per node

	// xdp is the DDoS filter (nil: none attached, xdpErr says why); its
	// own lock, as heartbeats read it while Start holds mu.
	xdpMu   gosync.Mutex
	xdp     *xdp.Filter
	xdpErr  string
	ddos    *ddos.Agent // the cluster's policy and blocks on xdp
	started bool
	stopped bool

	// proxyUp is closed once the proxy runs (pushes wait for it).
	proxyUp chan struct{}

	// roles are the app roles of the applied snapshot (roles.go), read by
	// heartbeats while Start holds mu.
	roles     atomic.Pointer[[]string]
	roleCount roleCount // the applied snapshot's apps by role (apply only)
	// waf compiles the apps' WAF policies and publishes hits (wafrun.go).
	waf atomic.Pointer[waf.Runtime]
}

// New validates opts.
func New(opts Options) (*Node, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Node{opts: opts, log: opts.Logger.With("node", opts.NodeID)}, nil
}

// Start brings the node up: leaf server, store, then the stored config is
// applied to the proxy before its listeners open (so it serves at once, even
// with the hub unreachable), then the sync agent follows the hub. On error,
// whatever was started is stopped again.
func (n *Node) Start(ctx context.Context) (err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.started {
		return errors.New("node: already started")
	}
	n.started = true
	defer func() {
		if err != nil {
			n.shutdown(context.WithoutCancel(ctx))
		}
	}()
	if err := os.MkdirAll(n.opts.DataDir, 0o700); err != nil {
		return fmt.Errorf("node: data dir: %w", err)
	}
	if n.leaf, err = n.startLeaf(); err != nil {
		return err
	}
	n.startXDP()
	n.nc, err = natsutil.ConnectInProcess(n.leaf,
		nats.Name("strata-node-"+n.opts.NodeID),
		nats.CustomInboxPrefix(natsutil.NodeInboxPrefix(n.opts.NodeID)),
		nats.MaxReconnects(-1),
	)
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	if n.store, err = store.Open(filepath.Join(n.opts.DataDir, StoreFile)); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	if err := n.startCache(ctx); err != nil {
		return err
	}
	if n.opts.GeoDB != "" {
		if n.geo, err = geo.Open(n.opts.GeoDB); err != nil {
			return fmt.Errorf("node: Options.GeoDB: %w", err)
		}
	}
	n.certs = certs.New(n.opts.KEK, n.opts.Logger)
	hubJS, err := jetstream.NewWithDomain(n.nc, natsutil.HubDomain)
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	challenges := acme.New(hubJS, 0, n.opts.Logger)
	n.tier = tier.New(n.opts.NodeID)
	metricsOn := n.opts.MetricsInterval >= 0
	n.startRateLimits()
	popts := proxy.Options{
		HTTPAddr: n.opts.HTTPAddr, HTTPSAddr: n.opts.HTTPSAddr, Logger: n.opts.Logger,
		HTTPPort: n.opts.HTTPPort, HTTPSPort: n.opts.HTTPSPort,
		GetCertificate: n.certs.GetCertificate,
		ACMEChallenge:  challenges.KeyAuth,
		Cache:          n.cache,
		Tier:           n.tier,
		PerSecondStats: metricsOn,
		RateLimits:     n.limiter,
		WAF:            n.newWAF(),
	}
	if metricsOn {
		n.sql = stats.NewMetricSQL(n.opts.PartitionID, n.geo, n.log)
		popts.Requests = n.sql
	}
	n.proxy, err = proxy.New(popts)
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	n.stream = n.newStream(metricsOn)
	if n.forward, err = forward.New(forward.Options{Host: n.opts.forwardHost(), Logger: n.opts.Logger, PerSecondStats: metricsOn}); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	if metricsOn {
		n.stats, err = stats.New(stats.Options{
			NATS: n.nc, NodeID: n.opts.NodeID, ClusterID: n.opts.ClusterID, PartitionID: n.opts.PartitionID,
			Source: statsSource{n.proxy, n.stream, n.forward}, MetricSQL: n.sql, DataDir: n.opts.DataDir, Interval: n.opts.MetricsInterval, Logger: n.log,
			XDP: func() map[string]uint64 {
				if f := n.XDP(); f != nil {
					return f.Counters()
				}
				return nil
			},
		})
		if err != nil {
			return fmt.Errorf("node: %w", err)
		}
	}
	if n.opts.DNSAddr != "" {
		n.txt = acme.NewTXT(hubJS, n.opts.Logger)
		n.dns, err = newDNSRunner(dns.Options{UDPAddr: n.opts.DNSAddr, TCPAddr: n.opts.DNSAddr, Geo: n.geo, Logger: n.opts.Logger,
			Challenges: n.txt}, n.opts.ClusterID, n.log)
		if err != nil {
			return fmt.Errorf("node: %w", err)
		}
	}
	if n.opts.PeerCheckInterval >= 0 {
		n.peers = peercheck.New(peercheck.Options{Self: n.opts.NodeID, Interval: n.opts.PeerCheckInterval})
		n.peers.Start()
	}
	if err := n.subscribeGateways(); err != nil {
		return fmt.Errorf("node: subscribe to gateway sets: %w", err)
	}
	if err := n.startDDoS(ctx); err != nil {
		return err
	}
	n.agent, err = syncagent.New(syncagent.Options{
		NATS:        n.nc,
		PartitionID: n.opts.PartitionID,
		Staging:     n.opts.Staging,
		NodeID:      n.opts.NodeID,
		ClusterID:   n.opts.ClusterID,
		Store:       n.store,
		Apply:       n.apply,
		Heartbeat:   n.opts.Heartbeat,
		Health:      n.health(),
		Status:      n.reportStatus,
		LinkID:      leafLinkID(n.leaf),
		Logger:      n.opts.Logger.With("node", n.opts.NodeID),
	})
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	if err := n.agent.Start(ctx); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	if err := n.proxy.Start(ctx); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	close(n.proxyUp)
	if n.stats != nil {
		if err := n.stats.Start(ctx); err != nil {
			return fmt.Errorf("node: %w", err)
		}
	}
	if n.dns != nil {
		if err := n.txt.Start(ctx); err != nil {
			return fmt.Errorf("node: %w", err)
		}
		// Listeners open unless the stored snapshot turned DNS off for
		// this node's cluster.
		if err := n.dns.start(); err != nil {
			return fmt.Errorf("node: %w", err)
		}
	}
	n.log.Info("node started", "partition", n.opts.PartitionID, "track", natsutil.Track(n.opts.Staging),
		"version", n.agent.Version(), "hub", n.opts.HubLeafURLs)
	return nil
}

// apply runs one snapshot on every part of the node, all or nothing: the
// proxy, the stream listeners and the DNS server each compile it first
// (the stream listeners bind their new ports), and only when all accept
// it do the certificates, routes, listeners and zones change (each swaps
// its runtime atomically). A snapshot a part rejects leaves the running
// config in place; the agent logs the error and reports the node
// unhealthy.
func (n *Node) apply(snap *syncv1.Snapshot) error {
	commitProxy, abortProxy, err := n.proxy.Prepare(snap)
	if err != nil {
		return err
	}
	commitStream, abortStream, err := n.stream.Prepare(snap)
	if err != nil {
		abortProxy()
		return err
	}
	commitDNS := func() {}
	if n.dns != nil {
		if commitDNS, err = n.dns.prepare(snap); err != nil {
			abortProxy()
			abortStream()
			return err
		}
	}
	commitForward, _, err := n.forward.Prepare(snap)
	if err != nil {
		abortProxy()
		abortStream()
		return err // the DNS runner's prepare holds nothing to release
	}
	// Certificates before routes, so that a new app's host has its
	// certificate when its routes appear. A certificate that cannot be
	// opened is logged and left out; it does not hold back the rest.
	_ = n.certs.Update(snap)
	n.applyChallengeKeys(snap)
	commitProxy()
	commitStream()
	commitDNS()
	commitForward()
	n.setRoles(snap)
	n.applyTiers(snap)
	if n.sql != nil {
		n.sql.Update(snap.GetMetrics()) // unchanged definitions keep their windows
	}
	// Logged and reported by the agent: a policy the filter refuses does
	// not hold back the rest of the config.
	_ = n.ddos.Update(snap)
	return nil
}

// health reports the proxy's requests per second since the previous
// heartbeat and its open connections.
func (n *Node) health() func() (bool, float64, uint64) {
	var (
		mu    gosync.Mutex
		last  uint64
		since = time.Now()
	)
	return func() (bool, float64, uint64) {
		var total uint64
		for _, s := range n.proxy.Stats() {
			total += s.Requests
		}
		for _, s := range n.stream.Stats() {
			total += s.Requests
		}
		mu.Lock()
		defer mu.Unlock()
		now := time.Now()
		var rps float64
		if total >= last && now.After(since) {
			rps = float64(total-last) / now.Sub(since).Seconds()
		}
		last, since = total, now
		return true, rps, n.proxy.OpenConnections() + n.stream.OpenConnections()
	}
}

// Stop stops the agent, then the proxy (requests in flight finish until ctx
// ends), then NATS, then closes the store.
func (n *Node) Stop(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.started || n.stopped {
		return nil
	}
	return n.shutdown(ctx)
}

func (n *Node) shutdown(ctx context.Context) error {
	n.stopped = true
	var errs []error
	stop := func(started bool, f func() error) { // in this order; errors.Join skips nils
		if started {
			errs = append(errs, f())
		}
	}
	stop(n.agent != nil, func() error { return n.agent.Stop(ctx) })
	stop(n.peers != nil, func() error { n.peers.Stop(); return nil })
	stop(n.proxy != nil, func() error { return n.proxy.Stop(ctx) })
	stop(n.stream != nil, func() error { return n.stream.Stop(ctx) })
	stop(n.forward != nil, func() error { return n.forward.Stop(ctx) })
	// After the proxy, so that the requests it finished are in the last
	// report; before NATS closes, so that the report can be sent.
	stop(n.stats != nil, func() error { return n.stats.Stop(ctx) })
	stop(n.dns != nil, func() error { return n.dns.stop(ctx) })
	stop(n.txt != nil, func() error { return n.txt.Stop(ctx) })
	stop(n.purger != nil, func() error { return n.purger.Stop(ctx) })
	stop(n.ddos != nil, func() error { return n.ddos.Stop(ctx) })
	stop(n.limitSync != nil, func() error { n.limitSync.Stop(); return nil })
	if n.nc != nil {
		n.nc.Close()
	}
	if n.tier != nil {
		n.tier.Close()
	}
	stop(n.cache != nil, func() error { return n.cache.Close() })
	if n.leaf != nil {
		n.leaf.Shutdown()
		n.leaf.WaitForShutdown()
	}
	stop(n.store != nil, func() error { return n.store.Close() })
	stop(n.geo != nil, func() error { return n.geo.Close() }) // after DNS and the proxy
	// Last: the filter protects the node while it drains.
	errs = append(errs, n.stopXDP())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("node: stop: %w", err)
	}
	return nil
}

// Version is the config version the proxy runs (0 before any).
func (n *Node) Version() uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.agent == nil {
		return 0
	}
	return n.agent.Version()
}

// Synced is closed once the node has caught up with its track after Start.
// Before Start it returns nil (blocks forever).
func (n *Node) Synced() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.agent == nil {
		return nil
	}
	return n.agent.Synced()
}

// ProxyHTTPAddr is the bound plain HTTP address of the proxy ("" when
// none).
func (n *Node) ProxyHTTPAddr() string { return n.proxyAddr((*proxy.Proxy).HTTPAddr) }

// ProxyHTTPSAddr is the bound HTTPS address of the proxy ("" when none).
func (n *Node) ProxyHTTPSAddr() string { return n.proxyAddr((*proxy.Proxy).HTTPSAddr) }

func (n *Node) proxyAddr(addr func(*proxy.Proxy) net.Addr) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proxy == nil {
		return ""
	}
	if a := addr(n.proxy); a != nil {
		return a.String()
	}
	return ""
}

// Package node is the edge node runtime: an embedded NATS leaf server linked
// to the control plane's hub, the local config store, the proxy and the sync
// agent that feeds it. See docs/sync.md.
package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	gosync "sync"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/node/acme"
	"github.com/strata-edge/strata/node/cache"
	"github.com/strata-edge/strata/node/certs"
	"github.com/strata-edge/strata/node/dns"
	"github.com/strata-edge/strata/node/join"
	"github.com/strata-edge/strata/node/proxy"
	"github.com/strata-edge/strata/node/purge"
	"github.com/strata-edge/strata/node/store"
	"github.com/strata-edge/strata/node/syncagent"
	"github.com/strata-edge/strata/node/tier"
	"github.com/strata-edge/strata/pkg/keywrap"
	"github.com/strata-edge/strata/pkg/natsauth"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/validate"
)

// File names under Options.DataDir; node/join has the identity files.
const (
	StoreFile       = "node.db"
	CredentialsFile = join.CredentialsFile
)

// Credentials are the node's NATS identity: the user JWT the control plane
// issued for the node's nkey, and the nkey seed (which never leaves the
// node).
type Credentials struct {
	JWT  string
	Seed []byte
}

// Options configures a Node.
type Options struct {
	// DataDir holds the store and the credentials file; created with mode
	// 0700 when missing.
	DataDir string
	// HubLeafURLs are the hub's leaf-node URLs (nats-leaf://, nats://,
	// tls://, ws:// or wss://). tls:// and wss:// use TLS.
	HubLeafURLs []string
	// TLSConfig, optional, is used for TLS hub URLs (e.g. a private CA in
	// RootCAs); nil means the system roots.
	TLSConfig *tls.Config
	// Credentials, optional, authenticate the leaf link (operator mode
	// hubs); nil connects without credentials.
	Credentials *Credentials

	NodeID, ClusterID, PartitionID string
	// Staging nodes follow the partition's staging track.
	Staging bool

	// HTTPAddr and HTTPSAddr are the proxy's listeners (host:port, port 0
	// picks one); at least one is required.
	HTTPAddr, HTTPSAddr string
	// HTTPPort and HTTPSPort are the ports apps name (http_ports,
	// https_ports) for these listeners; 0 means the bound ports. Set them
	// when the listeners sit behind a port forward (e.g. 7480 for 80).
	HTTPPort, HTTPSPort uint32
	// TierAddr is the host:port nodes of child clusters reach this node's
	// plain HTTP listener at for parent-tier cache fetches (tiered
	// caching), sent in heartbeats. Empty: the bound HTTP listener, its
	// unspecified host (0.0.0.0, ::) replaced by TierHost; with neither,
	// the node advertises none and is never asked as a parent.
	TierAddr, TierHost string
	// DNSAddr, optional, is where the authoritative DNS server listens
	// (host:port, UDP and TCP on the same port; port 0 picks one); empty
	// disables DNS on this node.
	DNSAddr string
	// GeoDB, optional, is an MMDB file for the DNS geo rules (country,
	// continent, ASN); CIDR rules work without it.
	GeoDB string
	// Heartbeat is the NodeStatus interval; 0 means the sync default.
	Heartbeat time.Duration
	Logger    *slog.Logger
	// CacheDiskBytes > 0 keeps the HTTP cache on disk in DataDir/cache,
	// bounded to that size, so it survives a restart; otherwise the cache
	// lives in memory, bounded to CacheMemoryBytes (default
	// DefaultCacheMemoryBytes).
	CacheDiskBytes   int64
	CacheMemoryBytes int64
	// KEK is the partition's node key-encryption key, which opens the
	// private keys of the snapshot's certificates (docs/certs.md); nil
	// means certificates are not served (the TLS listener's fallback is).
	KEK *keywrap.Keyring
}

func (o *Options) validate() error {
	if o.DataDir == "" {
		return errors.New("node: Options.DataDir: required")
	}
	if len(o.HubLeafURLs) == 0 {
		return errors.New("node: Options.HubLeafURLs: at least one hub URL is required")
	}
	for i, raw := range o.HubLeafURLs {
		if _, err := parseHubURL(raw); err != nil {
			return fmt.Errorf("node: Options.HubLeafURLs[%d] %q: %w", i, raw, err)
		}
	}
	for field, v := range map[string]string{"NodeID": o.NodeID, "PartitionID": o.PartitionID} {
		if v == "" {
			return fmt.Errorf("node: Options.%s: required", field)
		}
		if r := validate.SubjectToken(v); r != "" {
			return fmt.Errorf("node: Options.%s %q: %s", field, v, r)
		}
	}
	if o.HTTPAddr == "" && o.HTTPSAddr == "" {
		return errors.New("node: Options.HTTPAddr, HTTPSAddr: set at least one")
	}
	if c := o.Credentials; c != nil {
		if err := c.validate(); err != nil {
			return fmt.Errorf("node: Options.Credentials: %w", err)
		}
	}
	return nil
}

// validate checks that the JWT is a user JWT issued for the seed's key.
func (c *Credentials) validate() error {
	if c.JWT == "" || len(c.Seed) == 0 {
		return errors.New("JWT and Seed: both required")
	}
	kp, err := nkeys.FromSeed(c.Seed)
	if err != nil {
		return fmt.Errorf("Seed: not an nkey seed: %w", err)
	}
	pub, err := kp.PublicKey()
	if err != nil || !nkeys.IsValidPublicUserKey(pub) {
		return errors.New("Seed: not a user nkey seed (SU...)")
	}
	claims, err := jwt.DecodeUserClaims(c.JWT)
	if err != nil {
		return fmt.Errorf("JWT: not a user JWT: %w", err)
	}
	if claims.Subject != pub {
		return fmt.Errorf("JWT: issued for %s, but the seed's key is %s", claims.Subject, pub)
	}
	return nil
}

func parseHubURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	switch u.Scheme {
	case "nats-leaf", "nats", "tls", "ws", "wss":
	default:
		return nil, fmt.Errorf("scheme %q: want nats-leaf, nats, tls, ws or wss", u.Scheme)
	}
	if u.Host == "" {
		return nil, errors.New("host: required")
	}
	return u, nil
}

// Node is a running edge node. Create it with New.
type Node struct {
	opts Options
	log  *slog.Logger

	mu      gosync.Mutex
	leaf    *server.Server
	nc      *nats.Conn
	store   *store.Store
	proxy   *proxy.Proxy
	dns     *dnsRunner // nil without Options.DNSAddr
	txt     *acme.TXT  // DNS-01 values for dns
	certs   *certs.Table
	agent   *syncagent.Agent
	cache   *cache.Cache
	purger  *purge.Agent
	tier    *tier.Tier
	started bool
	stopped bool
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
	n.certs = certs.New(n.opts.KEK, n.opts.Logger)
	hubJS, err := jetstream.NewWithDomain(n.nc, natsutil.HubDomain)
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	challenges := acme.New(hubJS, 0, n.opts.Logger)
	n.tier = tier.New(n.opts.NodeID)
	if _, err := n.subscribeTiers(); err != nil { // dies with nc
		return fmt.Errorf("node: subscribe to gateway sets: %w", err)
	}
	n.proxy, err = proxy.New(proxy.Options{
		HTTPAddr: n.opts.HTTPAddr, HTTPSAddr: n.opts.HTTPSAddr, Logger: n.opts.Logger,
		HTTPPort: n.opts.HTTPPort, HTTPSPort: n.opts.HTTPSPort,
		GetCertificate: n.certs.GetCertificate,
		ACMEChallenge:  challenges.KeyAuth,
		Cache:          n.cache,
		Tier:           n.tier,
	})
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	if n.opts.DNSAddr != "" {
		n.txt = acme.NewTXT(hubJS, n.opts.Logger)
		n.dns, err = newDNSRunner(dns.Options{UDPAddr: n.opts.DNSAddr, TCPAddr: n.opts.DNSAddr, GeoDB: n.opts.GeoDB, Logger: n.opts.Logger,
			Challenges: n.txt}, n.opts.ClusterID, n.log)
		if err != nil {
			return fmt.Errorf("node: %w", err)
		}
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
	if n.dns != nil {
		if err := n.txt.Start(ctx); err != nil {
			return fmt.Errorf("node: %w", err)
		}
		// Listeners open unless the stored snapshot turned DNS off for
		// this node's cluster.
		if err := n.dns.start(); err != nil {
			return fmt.Errorf("node: %w", err)
		}
		// Gateway records answer with the clusters' healthy nodes, which the
		// nodes service publishes (core NATS; the subscription dies with nc).
		if _, err := n.subscribeGateways(); err != nil {
			return fmt.Errorf("node: subscribe to gateway sets: %w", err)
		}
	}
	n.log.Info("node started", "partition", n.opts.PartitionID, "track", natsutil.Track(n.opts.Staging),
		"version", n.agent.Version(), "hub", n.opts.HubLeafURLs)
	return nil
}

// Files and defaults of the node's HTTP cache.
const (
	CacheDir                = "cache"
	PurgePositionFile       = "purge.db"
	DefaultCacheMemoryBytes = 256 << 20
)

// startCache opens the HTTP cache and starts the purge agent, which holds
// the cache (every request BYPASS) until the purges stored while the node
// was away are applied.
func (n *Node) startCache(ctx context.Context) error {
	open := func(ev cache.EvictFunc) (cache.Store, error) {
		size := n.opts.CacheMemoryBytes
		if size <= 0 {
			size = DefaultCacheMemoryBytes
		}
		return cache.NewMemory(size, ev), nil
	}
	if n.opts.CacheDiskBytes > 0 {
		open = func(ev cache.EvictFunc) (cache.Store, error) {
			return cache.OpenDisk(filepath.Join(n.opts.DataDir, CacheDir), n.opts.CacheDiskBytes, ev)
		}
	}
	var err error
	if n.cache, err = cache.New(cache.Options{Open: open}); err != nil {
		return fmt.Errorf("node: cache: %w", err)
	}
	n.purger, err = purge.New(purge.Options{NATS: n.nc, NodeID: n.opts.NodeID, PartitionID: n.opts.PartitionID,
		Cache: n.cache, PositionPath: filepath.Join(n.opts.DataDir, PurgePositionFile), Domain: natsutil.HubDomain,
		Logger: n.opts.Logger.With("node", n.opts.NodeID)})
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	if err := n.purger.Start(ctx); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	return nil
}

// Cache is the node's HTTP cache (nil before Start).
func (n *Node) Cache() *cache.Cache {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cache
}

// PurgeApplied is the STRATA_PURGE stream sequence of the last purge this
// node applied (0 before Start or before any).
func (n *Node) PurgeApplied() uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.purger == nil {
		return 0
	}
	return n.purger.Applied()
}

// startLeaf writes the credentials file (mode 0600) and starts the embedded
// leaf server: no client port (the node connects in-process), no JetStream,
// one remote to the hub.
func (n *Node) startLeaf() (*server.Server, error) {
	remote := &server.RemoteLeafOpts{
		// nats-server's s2_auto picks "best" compression once the link's
		// RTT exceeds 100 ms, which costs the hub and the node CPU for
		// every delta; on a LAN (up to 10 ms) nothing is compressed, on
		// anything slower s2's fast mode is enough for config.
		Compression: server.CompressionOpts{
			Mode:          server.CompressionS2Auto,
			RTTThresholds: []time.Duration{10 * time.Millisecond, 50 * time.Millisecond},
		},
	}
	for _, raw := range n.opts.HubLeafURLs {
		u, _ := parseHubURL(raw) // validated in New
		remote.URLs = append(remote.URLs, u)
		if u.Scheme == "tls" || u.Scheme == "wss" {
			remote.TLS = true
		}
	}
	if remote.TLS && n.opts.TLSConfig != nil {
		remote.TLSConfig = n.opts.TLSConfig.Clone()
	}
	if c := n.opts.Credentials; c != nil {
		path := filepath.Join(n.opts.DataDir, CredentialsFile)
		if err := natsauth.WriteCredentials(path, c.JWT, c.Seed); err != nil {
			// A full disk must not keep a node that has credentials
			// stored from starting and serving its stored config.
			if _, serr := os.Stat(path); serr != nil {
				return nil, fmt.Errorf("node: write %s: %w", path, err)
			}
			n.log.Warn("could not write the new credentials; linking with the stored ones", "file", path, "err", err)
		}
		remote.Credentials = path
	}
	leaf, err := natsutil.StartServer(natsutil.ServerOptions{
		ServerName:  "node-" + n.opts.NodeID,
		DontListen:  true,
		NoJetStream: true,
		NoLog:       true,
		LeafRemotes: []*server.RemoteLeafOpts{remote},
	})
	if err != nil {
		return nil, fmt.Errorf("node: leaf server: %w", err)
	}
	leaf.SetLoggerV2(&natsLogger{log: n.opts.Logger.With("node", n.opts.NodeID, "component", "nats")}, false, false, false)
	return leaf, nil
}

// leafLinkID is the sync agent's Options.LinkID: the connection id of the
// leaf link to the hub, 0 while it is down.
func leafLinkID(s *server.Server) func() uint64 {
	return func() uint64 {
		lz, err := s.Leafz(nil)
		if err != nil {
			return 0
		}
		var id uint64
		for _, l := range lz.Leafs {
			id = max(id, l.ID)
		}
		return id
	}
}

// apply runs one snapshot on every part of the node, all or nothing: the
// proxy and the DNS server each compile it first, and only when both accept
// it do the certificates, routes and zones change (each swaps its runtime
// atomically). A snapshot either part rejects leaves the running config in
// place; the agent logs the error and reports the node unhealthy.
func (n *Node) apply(snap *syncv1.Snapshot) error {
	commitProxy, abortProxy, err := n.proxy.Prepare(snap)
	if err != nil {
		return err
	}
	commitDNS := func() {}
	if n.dns != nil {
		if commitDNS, err = n.dns.prepare(snap); err != nil {
			abortProxy()
			return err
		}
	}
	// Certificates before routes, so that a new app's host has its
	// certificate when its routes appear. A certificate that cannot be
	// opened is logged and left out; it does not hold back the rest.
	_ = n.certs.Update(snap)
	commitProxy()
	commitDNS()
	n.applyTiers(snap)
	return nil
}

// DNSAddr returns the DNS server's bound address ("" without DNS, before
// Start, or while the node's cluster has DNS turned off).
func (n *Node) DNSAddr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.dns == nil {
		return ""
	}
	if a := n.dns.addr(); a != nil {
		return a.String()
	}
	return ""
}

// DNSState is what the node's DNS server does.
type DNSState struct {
	// Configured: the node has a DNS address (Options.DNSAddr).
	Configured bool
	// Answering: its listeners are open.
	Answering bool
	// ClusterOff: the node's cluster turned DNS off (Cluster.dns_disabled).
	ClusterOff bool
	// Err is why the listeners could not open (nil when fine).
	Err error
}

// DNS reports the state of the node's DNS server.
func (n *Node) DNS() DNSState {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.dns == nil {
		return DNSState{}
	}
	on, off, err := n.dns.state()
	return DNSState{Configured: true, Answering: on, ClusterOff: off, Err: err}
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
		mu.Lock()
		defer mu.Unlock()
		now := time.Now()
		var rps float64
		if total >= last && now.After(since) {
			rps = float64(total-last) / now.Sub(since).Seconds()
		}
		last, since = total, now
		return true, rps, n.proxy.OpenConnections()
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
	if n.agent != nil {
		if err := n.agent.Stop(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if n.proxy != nil {
		if err := n.proxy.Stop(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if n.dns != nil {
		if err := n.dns.stop(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if n.txt != nil {
		if err := n.txt.Stop(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if n.purger != nil {
		if err := n.purger.Stop(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if n.nc != nil {
		n.nc.Close()
	}
	if n.tier != nil {
		n.tier.Close()
	}
	if n.cache != nil {
		if err := n.cache.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if n.leaf != nil {
		n.leaf.Shutdown()
		n.leaf.WaitForShutdown()
	}
	if n.store != nil {
		if err := n.store.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("node: stop: %w", errors.Join(errs...))
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
func (n *Node) ProxyHTTPAddr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proxy == nil {
		return ""
	}
	if a := n.proxy.HTTPAddr(); a != nil {
		return a.String()
	}
	return ""
}

// ProxyHTTPSAddr is the bound HTTPS address of the proxy ("" when none).
func (n *Node) ProxyHTTPSAddr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proxy == nil {
		return ""
	}
	if a := n.proxy.HTTPSAddr(); a != nil {
		return a.String()
	}
	return ""
}

// natsLogger sends the leaf server's log lines to slog.
type natsLogger struct{ log *slog.Logger }

func (l *natsLogger) Noticef(format string, v ...any) { l.log.Info(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Warnf(format string, v ...any)   { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Fatalf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Errorf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Debugf(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Tracef(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }

var _ server.Logger = (*natsLogger)(nil)

// Package upstream turns an upstream of the config into the live thing the
// proxy sends requests to: its servers with their connection pools and health
// state, a balancer, and an active health checker.
//
// An Upstream is immutable once built except for the runtime state of its
// servers (connections, health, in-flight counts). The proxy keeps an
// Upstream across config releases as long as its content is unchanged (see
// Key), so keep-alive connections and health verdicts survive a release.
package upstream

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"google.golang.org/protobuf/proto"
)

// Defaults applied to zero values of the config.
const (
	DefaultConnectTimeout     = 5 * time.Second
	DefaultReadTimeout        = 60 * time.Second
	DefaultWriteTimeout       = 60 * time.Second
	DefaultKeepaliveIdle      = 30 * time.Second
	DefaultCheckInterval      = 10 * time.Second
	DefaultCheckTimeout       = 2 * time.Second
	DefaultHealthyThreshold   = 2
	DefaultUnhealthyThreshold = 3
	DefaultFailTimeout        = 10 * time.Second
)

// ErrNoServer means every server is down (or already tried for this request):
// the proxy answers 503.
var ErrNoServer = errors.New("no healthy server available")

// Request is what the balancer reads from a request to compute a
// consistent-hash key. Host is lower-case without port; Path is the decoded
// path; RequestURI is path and query as sent.
type Request interface {
	Path() string
	RequestURI() string
	Header(name string) (string, bool)
	Cookie(name string) (string, bool)
	Query(name string) (string, bool)
	ClientIP() netip.Addr
}

// Timeouts of one upstream; zero config values get the defaults above.
type Timeouts struct {
	Connect, Read, Write time.Duration
}

type healthConfig struct {
	enabled            bool
	path, host         string
	interval, timeout  time.Duration
	healthyThreshold   int
	unhealthyThreshold int
	expected           []int // empty: 200-399
	maxFails           int
	failTimeout        time.Duration
}

// Upstream is a compiled upstream of one app.
type Upstream struct {
	AppID, ID, Name string
	key             string
	settings        string // settingsKey
	// endpoints is the server set a dynamic upstream names (dynamic.go);
	// adopted the servers of the upstream it replaced whose pools it took.
	endpoints string
	adopted   []*Server

	servers []*Server // config order, primaries and backups
	primary balancer  // nil when no primary has weight > 0
	backup  balancer  // nil without backups
	hashKey hashKey

	timeouts      Timeouts
	retries       int
	tlsConf       *tls.Config
	health        healthConfig
	keepaliveIdle time.Duration
	// tcpProbe: active checks only connect (stream apps, NewTCP).
	tcpProbe bool

	startOnce sync.Once
	closeOnce sync.Once
	cancel    context.CancelFunc
	done      chan struct{}
}

// Key identifies an upstream's content within an app: two configs with the
// same key build identical Upstreams, so the running one can be kept.
func Key(appID string, cfg *configv1.Upstream) string {
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(cfg)
	sum := sha256.Sum256(b)
	return appID + "\x00" + cfg.GetId() + "\x00" + hex.EncodeToString(sum[:12])
}

// New validates cfg and builds an Upstream. It starts nothing: call Start to
// run active health checks and Close when the upstream leaves the config.
func New(appID string, cfg *configv1.Upstream) (*Upstream, error) {
	u := &Upstream{
		AppID:         appID,
		ID:            cfg.GetId(),
		Name:          cfg.GetName(),
		key:           Key(appID, cfg),
		settings:      settingsKey(appID, cfg),
		endpoints:     cfg.GetEndpoints(),
		retries:       int(cfg.GetRetries()),
		keepaliveIdle: DefaultKeepaliveIdle,
		done:          make(chan struct{}),
	}
	fail := func(format string, args ...any) (*Upstream, error) {
		return nil, fmt.Errorf("upstream %q: %s", cfg.GetName(), fmt.Sprintf(format, args...))
	}
	if u.Name == "" {
		return fail("name: must not be empty")
	}
	if len(cfg.GetServers()) == 0 && u.endpoints == "" {
		return fail("servers: at least one server is required")
	}
	t := cfg.GetTimeouts()
	u.timeouts = Timeouts{
		Connect: msOr(t.GetConnectMs(), DefaultConnectTimeout),
		Read:    msOr(t.GetReadMs(), DefaultReadTimeout),
		Write:   msOr(t.GetWriteMs(), DefaultWriteTimeout),
	}
	if u.retries > 16 {
		return fail("retries: %d is more than 16", u.retries)
	}

	if tc := cfg.GetTls(); tc.GetEnabled() {
		u.tlsConf = &tls.Config{
			ServerName:         tc.GetSni(),
			InsecureSkipVerify: !tc.GetVerify(), //nolint:gosec // the operator turned verification off
			MinVersion:         tls.VersionTLS12,
			NextProtos:         []string{"http/1.1"},
			ClientSessionCache: tls.NewLRUClientSessionCache(64),
		}
	}

	hc := cfg.GetHealthCheck()
	u.health = healthConfig{
		enabled:            hc.GetEnabled(),
		path:               hc.GetPath(),
		host:               hc.GetHost(),
		interval:           msOr(hc.GetIntervalMs(), DefaultCheckInterval),
		timeout:            msOr(hc.GetTimeoutMs(), min(DefaultCheckTimeout, msOr(hc.GetIntervalMs(), DefaultCheckInterval)/2)),
		healthyThreshold:   intOr(hc.GetHealthyThreshold(), DefaultHealthyThreshold),
		unhealthyThreshold: intOr(hc.GetUnhealthyThreshold(), DefaultUnhealthyThreshold),
		maxFails:           int(hc.GetMaxFails()),
		failTimeout:        msOr(hc.GetFailTimeoutMs(), DefaultFailTimeout),
	}
	if u.health.path == "" {
		u.health.path = "/"
	}
	if u.health.path[0] != '/' {
		return fail("health_check.path %q: must start with \"/\"", u.health.path)
	}
	for _, st := range hc.GetExpectedStatuses() {
		if st < 100 || st > 599 {
			return fail("health_check.expected_statuses: %d is not an HTTP status (100-599)", st)
		}
		u.health.expected = append(u.health.expected, int(st))
	}

	var primaries, backups []*Server
	for i, sc := range cfg.GetServers() {
		host, port, err := net.SplitHostPort(sc.GetAddress())
		if err != nil {
			return fail("servers[%d].address %q: want host:port (%v)", i, sc.GetAddress(), err)
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			return fail("servers[%d].address %q: port %q is not a number in 1-65535", i, sc.GetAddress(), port)
		}
		if host == "" {
			return fail("servers[%d].address %q: host is empty", i, sc.GetAddress())
		}
		s := newServer(u, sc.GetAddress(), int(sc.GetWeight()), sc.GetBackup(), i)
		u.servers = append(u.servers, s)
		if s.Weight <= 0 {
			continue // configured, takes no traffic
		}
		if s.Backup {
			backups = append(backups, s)
		} else {
			primaries = append(primaries, s)
		}
	}

	if len(primaries) == 0 && u.endpoints == "" {
		// As the control plane refuses it: weight 0 drains a server, and
		// draining them all is not a configuration.
		return fail("servers: no non-backup server has a weight above 0 (weight 0 takes no traffic)")
	}
	policy := cfg.GetPolicy()
	if policy == configv1.BalancePolicy_BALANCE_POLICY_CONSISTENT_HASH {
		k, err := parseHashKey(cfg.GetHashKey())
		if err != nil {
			return fail("hash_key: %v", err)
		}
		u.hashKey = k
	} else if cfg.GetHashKey() != "" {
		return fail("hash_key %q: only used with policy BALANCE_POLICY_CONSISTENT_HASH", cfg.GetHashKey())
	}
	mk := func(servers []*Server) (balancer, error) {
		if len(servers) == 0 {
			return nil, nil
		}
		switch policy {
		case configv1.BalancePolicy_BALANCE_POLICY_UNSPECIFIED,
			configv1.BalancePolicy_BALANCE_POLICY_ROUND_ROBIN,
			configv1.BalancePolicy_BALANCE_POLICY_WEIGHTED:
			return newSmoothRR(servers), nil
		case configv1.BalancePolicy_BALANCE_POLICY_LEAST_CONNECTIONS:
			return &leastConn{servers: servers}, nil
		case configv1.BalancePolicy_BALANCE_POLICY_CONSISTENT_HASH:
			return newRing(servers, u.hashKey), nil
		}
		return nil, fmt.Errorf("policy: unknown value %d", policy)
	}
	var err error
	if u.primary, err = mk(primaries); err != nil {
		return fail("%v", err)
	}
	if u.backup, err = mk(backups); err != nil {
		return fail("%v", err)
	}
	return u, nil
}

// NewTCP builds the upstream of a TCP stream app (node/stream): the same
// servers, balancing, retries and passive health as New, but an enabled
// health check is a TCP connect probe every interval (path, host and
// expected statuses do not apply) and TLS settings are not used (the stream
// forwards bytes as they come).
func NewTCP(appID string, cfg *configv1.Upstream) (*Upstream, error) {
	u, err := New(appID, cfg)
	if err != nil {
		return nil, err
	}
	u.tcpProbe = true
	u.tlsConf = nil
	for _, s := range u.servers {
		s.tlsConf = nil
	}
	return u, nil
}

// Key returns the content key the upstream was built with.
func (u *Upstream) Key() string { return u.key }

// Servers returns every configured server, in config order.
func (u *Upstream) Servers() []*Server { return u.servers }

// Timeouts returns the effective timeouts.
func (u *Upstream) Timeouts() Timeouts { return u.timeouts }

// Retries is how many other servers a request may try after connecting failed.
func (u *Upstream) Retries() int { return u.retries }

// TLS reports whether the upstream is spoken to over TLS.
func (u *Upstream) TLS() bool { return u.tlsConf != nil }

// Tried is the set of servers a request has already been sent to.
type Tried struct{ bits uint64 }

// Add marks s as tried. Only the first 64 servers of an upstream are tracked.
func (t *Tried) Add(s *Server) {
	if s.index < 64 {
		t.bits |= 1 << uint(s.index)
	}
}

// Has reports whether s was tried.
func (t Tried) Has(s *Server) bool { return s.index < 64 && t.bits&(1<<uint(s.index)) != 0 }

// Pick chooses a server for r among those available and not tried: primary
// servers by the upstream's policy, backup servers only when no primary is
// available. It returns ErrNoServer when there is none.
func (u *Upstream) Pick(r Request, tried Tried) (*Server, error) {
	if u.primary == nil && u.backup == nil && u.endpoints != "" {
		return nil, u.noEndpoints()
	}
	if u.primary != nil {
		if s := u.primary.pick(r, tried); s != nil {
			return s, nil
		}
	}
	if u.backup != nil {
		if s := u.backup.pick(r, tried); s != nil {
			return s, nil
		}
	}
	return nil, ErrNoServer
}

// Start runs the active health checker, if configured, until Close.
func (u *Upstream) Start() {
	u.startOnce.Do(func() {
		for _, p := range u.adopted {
			p.handedOver.Store(true) // its pools are ours now: prev's Close keeps them
		}
		if !u.health.enabled {
			close(u.done)
			return
		}
		ctx, cancel := context.WithCancel(context.Background())
		u.cancel = cancel
		go u.checkLoop(ctx)
	})
}

// Close stops the health checker and closes idle connections. Requests in
// flight finish; their connections are closed when released later by the
// pools' idle timeout.
func (u *Upstream) Close() {
	u.closeOnce.Do(func() {
		u.startOnce.Do(func() { close(u.done) }) // never started
		if u.cancel != nil {
			u.cancel()
		}
		<-u.done
		for _, s := range u.servers {
			s.closeIdle()
		}
	})
}

func msOr(ms uint32, def time.Duration) time.Duration {
	if ms == 0 {
		return def
	}
	return time.Duration(ms) * time.Millisecond
}

func intOr(v uint32, def int) int {
	if v == 0 {
		return def
	}
	return int(v)
}

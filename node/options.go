package node

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"

	"github.com/strata-edge/strata/node/join"
	"github.com/strata-edge/strata/pkg/keywrap"
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
	// StreamHost is the address stream apps' listeners bind (node/stream:
	// an IP, the ports come from the apps). Empty: the host part of
	// HTTPAddr (else HTTPSAddr).
	StreamHost string
	// DNSAddr, optional, is where the authoritative DNS server listens
	// (host:port, UDP and TCP on the same port; port 0 picks one); empty
	// disables DNS on this node.
	DNSAddr string
	// GeoDB, optional, is an MMDB file (node/geo) for the DNS geo rules
	// (country, continent, ASN; CIDR rules work without it) and the
	// Metric SQL columns country and asn (empty without it).
	GeoDB string
	// Heartbeat is the NodeStatus interval; 0 means the sync default.
	Heartbeat time.Duration
	// PeerCheckInterval is how often the node probes the other nodes of its
	// gateway set (node/peercheck, reported in heartbeats); 0 means
	// peercheck.DefaultInterval, negative no checks.
	PeerCheckInterval time.Duration
	Logger            *slog.Logger
	// CacheDiskBytes > 0 keeps the HTTP cache on disk in DataDir/cache,
	// bounded to that size, so it survives a restart; otherwise the cache
	// lives in memory, bounded to CacheMemoryBytes (default
	// DefaultCacheMemoryBytes).
	CacheDiskBytes   int64
	CacheMemoryBytes int64
	// MetricsInterval is how often the node sends its metrics report
	// (per-second traffic per app, system samples, Metric SQL windows,
	// upstream health; node/stats) to the metrics service: 0 means
	// stats.DefaultInterval (1 s), negative turns the reports and the
	// per-second aggregates off.
	MetricsInterval time.Duration
	// KEK is the partition's node key-encryption key, which opens the
	// private keys of the snapshot's certificates (docs/certs.md); nil
	// means certificates are not served (the TLS listener's fallback is).
	KEK *keywrap.Keyring
	// XDPIfaces are the interfaces the XDP DDoS filter is attached to
	// (node/xdp; native mode where the driver has it, else generic); none:
	// no filter. Attach failing (no privileges, old kernel) is logged and
	// reported in heartbeats; the node runs on.
	XDPIfaces []string
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
	if len(o.XDPIfaces) > 64 {
		return fmt.Errorf("node: Options.XDPIfaces: %d interfaces, at most 64", len(o.XDPIfaces))
	}
	for i, name := range o.XDPIfaces {
		if name == "" || len(name) > 15 || strings.ContainsAny(name, "/ \t\n") {
			return fmt.Errorf("node: Options.XDPIfaces[%d] %q: not an interface name (1-15 characters, no '/' or space)", i, name)
		}
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

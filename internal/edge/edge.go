// Package edge runs an edge node: it joins the control plane (node/join)
// and starts the node runtime (package node). It links no control-plane
// service: `go list -deps ./internal/edge | grep services/` is empty.
package edge

import (
	"time"

	"context"
	"log/slog"

	"github.com/strata-edge/strata/node"
	"github.com/strata-edge/strata/node/join"
	"github.com/strata-edge/strata/pkg/keywrap"
)

// Options configures Start: how the node joins (join.Options: data
// directory, name, join token, public IPs) and what it serves.
type Options struct {
	join.Options
	// HTTPAddr and HTTPSAddr are the proxy listeners; HTTPPort and
	// HTTPSPort the ports apps name for them (0: the bound ports).
	HTTPAddr, HTTPSAddr string
	HTTPPort, HTTPSPort uint32
	// DNSAddr, optional, is the authoritative DNS server's address (UDP and
	// TCP); empty: no DNS.
	DNSAddr string
	// StreamHost is the IP stream apps' listeners bind
	// (node.Options.StreamHost); empty: the host of HTTPAddr.
	StreamHost string
	// GeoDB, optional, is an MMDB file for DNS geo rules and the Metric SQL
	// columns country and asn (node.Options.GeoDB).
	GeoDB string
	// TierAddr, optional, is the host:port child clusters' nodes reach the
	// HTTP listener at for parent-tier cache fetches; empty: the bound HTTP
	// address, an unspecified host replaced by the first of PublicIPs.
	TierAddr string
	// MetricsInterval is how often the node reports its metrics (0: every
	// 1 s; negative: no reports, node.Options.MetricsInterval).
	MetricsInterval time.Duration
	// PeerCheckInterval is how often the node probes its partition's nodes
	// (0: every 2 s; negative: no checks, node.Options.PeerCheckInterval).
	PeerCheckInterval time.Duration
	// KEK, optional, returns the node KEK of the node's partition (the dev
	// node derives it from the control KEK); nil: join.LoadKEK
	// (STRATA_NODE_KEK or DATA_DIR/node.kek), else certificates are not served.
	KEK func(partitionID string) (*keywrap.Keyring, error)
	// XDPIfaces are the interfaces of the XDP DDoS filter
	// (node.Options.XDPIfaces); none: off.
	XDPIfaces []string
}

// Edge is a running edge node with the identity it joined with.
type Edge struct {
	node  *node.Node
	state join.State
}

// Start joins the control plane (join.Run: when a join token is given,
// else from the stored identity) and starts the edge node.
func Start(ctx context.Context, o Options) (*Edge, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	id, err := join.Run(ctx, o.Options)
	if err != nil {
		return nil, err
	}
	var kek *keywrap.Keyring
	if o.KEK != nil {
		kek, err = o.KEK(id.PartitionID)
	} else {
		kek, err = join.LoadKEK(o.DataDir)
	}
	if err != nil {
		return nil, err
	}
	n, err := node.New(node.Options{
		KEK:     kek,
		DataDir: o.DataDir, HubLeafURLs: id.LeafURLs, Credentials: &node.Credentials{JWT: id.JWT, Seed: id.Seed},
		NodeID: id.NodeID, ClusterID: id.ClusterID, PartitionID: id.PartitionID, Staging: id.Staging,
		HTTPAddr: o.HTTPAddr, HTTPSAddr: o.HTTPSAddr, HTTPPort: o.HTTPPort, HTTPSPort: o.HTTPSPort,
		DNSAddr: o.DNSAddr, StreamHost: o.StreamHost, GeoDB: o.GeoDB, Logger: o.Logger,
		TierAddr: o.TierAddr, TierHost: firstOf(o.PublicIPs),
		MetricsInterval:   o.MetricsInterval,
		PeerCheckInterval: o.PeerCheckInterval,
		XDPIfaces:         o.XDPIfaces,
	})
	if err != nil {
		return nil, err
	}
	if err := n.Start(ctx); err != nil {
		return nil, err
	}
	return &Edge{node: n, state: id.State}, nil
}

// Stop stops the node.
func (e *Edge) Stop(ctx context.Context) error { return e.node.Stop(ctx) }

// Node is the running node.
func (e *Edge) Node() *node.Node { return e.node }

// NodeID is the id the control plane gave the node.
func (e *Edge) NodeID() string { return e.state.NodeID }

// Name is the node's name in its cluster.
func (e *Edge) Name() string { return e.state.Name }

// ClusterID and PartitionID are where the node belongs.
func (e *Edge) ClusterID() string   { return e.state.ClusterID }
func (e *Edge) PartitionID() string { return e.state.PartitionID }

// DNSAddr is the bound DNS address ("" when none).
func (e *Edge) DNSAddr() string { return e.node.DNSAddr() }

// HTTPAddr and HTTPSAddr are the bound proxy addresses ("" when none).
func (e *Edge) HTTPAddr() string  { return e.node.ProxyHTTPAddr() }
func (e *Edge) HTTPSAddr() string { return e.node.ProxyHTTPSAddr() }

// firstOf is the first element of s, "" when empty.
func firstOf(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

package node

import (
	"time"

	"github.com/strata-edge/strata/node/cache"
	"github.com/strata-edge/strata/node/dns"
	"github.com/strata-edge/strata/node/forward"
	"github.com/strata-edge/strata/node/proxy"
	"github.com/strata-edge/strata/node/ratelimit"
	"github.com/strata-edge/strata/node/stats"
	"github.com/strata-edge/strata/node/syncagent"
	"github.com/strata-edge/strata/node/tier"
	"github.com/strata-edge/strata/node/waf"
	"github.com/strata-edge/strata/node/xdp"
)

// Observation is what the node's counters and state say at one moment. The
// parts keep their counters in atomics as they serve; Observe only reads
// them, so the metrics collectors (node/metrics) cost the hot paths
// nothing.
type Observation struct {
	NodeID, ClusterID, PartitionID string
	Staging                        bool

	// Apps are the proxy's counters of every app of the running config,
	// by app id.
	Apps map[string]proxy.AppStats
	// OpenConnections are the client connections open now.
	OpenConnections uint64
	// Cache holds the HTTP cache's counters.
	Cache cache.Stats
	// Tier holds the parent-tier counters (tiered caching).
	Tier tier.Stats
	// PurgePosition is the purge stream sequence of the last purge
	// applied.
	PurgePosition uint64
	// DNS is nil on a node without a DNS address.
	DNS *DNSObservation
	// Version is the config version the node runs; LastApply when it was
	// applied; ApplyErr why the newest snapshot was rejected (nil: it
	// was not).
	Version   uint64
	LastApply time.Time
	ApplyErr  error
	Sync      syncagent.Stats
	// Reports are the metrics reporter's counters; nil with the reports
	// off (Options.MetricsInterval < 0).
	Reports *stats.Counters
	// XDP is nil on a node without Options.XDPIfaces.
	XDP *XDPObservation
	// Forward are the forward proxy's counters (SOCKS5 and HTTP proxy
	// apps), by app id.
	Forward map[string]forward.AppStats
	// Stream are the stream apps' counters (node/stream), by app id, and
	// their open TCP connections.
	Stream     map[string]proxy.AppStats
	StreamOpen uint64
	// RateLimits are the rate limiter's counters (node/ratelimit).
	RateLimits ratelimit.Counts
	// WAF holds the WAF policies' counters (node/waf).
	WAF waf.Stats
}

// XDPObservation is the DDoS filter's part of an Observation.
type XDPObservation struct {
	// Packets per reason (xdp.Reasons), summed over CPUs; nil when the
	// filter is not attached.
	Packets map[string]uint64
	Ifaces  []xdp.IfaceStatus
}

// DNSObservation is the DNS server's part of an Observation.
type DNSObservation struct {
	DNSState
	dns.Stats
}

// Observe reads the node's counters; false before Start.
func (n *Node) Observe() (Observation, bool) {
	n.mu.Lock()
	px, c, pg, d, ag, tr, rep := n.proxy, n.cache, n.purger, n.dns, n.agent, n.tier, n.stats
	n.mu.Unlock()
	o := Observation{NodeID: n.opts.NodeID, ClusterID: n.opts.ClusterID, PartitionID: n.opts.PartitionID, Staging: n.opts.Staging}
	if px == nil || c == nil || pg == nil || ag == nil {
		return o, false
	}
	o.Apps, o.OpenConnections = px.Stats(), px.OpenConnections()
	o.Cache = c.Stats()
	if tr != nil {
		o.Tier = tr.Stats()
	}
	o.PurgePosition = pg.Applied()
	if d != nil {
		o.DNS = &DNSObservation{DNSState: d.state(), Stats: d.counters().Stats()}
	}
	o.Version = ag.Version()
	o.LastApply, o.ApplyErr = ag.LastApply()
	o.Sync = ag.Stats()
	if rep != nil {
		rc := rep.Counters()
		o.Reports = &rc
	}
	if len(n.opts.XDPIfaces) > 0 {
		o.XDP = &XDPObservation{Ifaces: n.XDPStatus()}
		if f := n.XDP(); f != nil {
			o.XDP.Packets = f.Counters()
		}
	}
	if fw := n.Forward(); fw != nil {
		o.Forward = fw.Stats()
	}
	o.Stream = n.StreamStats()
	o.StreamOpen = n.streamOpen()
	o.RateLimits = n.RateLimits()
	if w := n.WAF(); w != nil {
		o.WAF = w.Stats()
	}
	return o, true
}

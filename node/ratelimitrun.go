package node

import (
	"github.com/strata-edge/strata/node/ratelimit"
)

// The node's rate limit counters (node/ratelimit): one Limiter for the
// proxy across config updates, and the exchange of cluster-scoped counters
// with the other nodes of the cluster over the node's NATS connection.
// Without a cluster id, or when the exchange cannot start, cluster limits
// count per node: rate limiting never waits on NATS.

func (n *Node) startRateLimits() {
	n.limiter = ratelimit.New(ratelimit.Options{})
	if n.opts.ClusterID == "" {
		n.log.Info("rate limits: no cluster id; cluster-scoped limits count per node")
		return
	}
	s, err := ratelimit.NewSync(n.limiter, ratelimit.SyncOptions{NATS: n.nc, PartitionID: n.opts.PartitionID,
		ClusterID: n.opts.ClusterID, NodeID: n.opts.NodeID, Logger: n.log})
	if err == nil {
		err = s.Start()
	}
	if err != nil {
		n.log.Warn("rate limits: cluster counters not shared; cluster-scoped limits count per node", "err", err)
		return
	}
	n.limitSync = s
}

// RateLimits are the counters of the node's rate limiter (zero before
// Start).
func (n *Node) RateLimits() ratelimit.Counts {
	if n.limiter == nil {
		return ratelimit.Counts{}
	}
	return n.limiter.Counts()
}

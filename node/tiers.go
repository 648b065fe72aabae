package node

import (
	"net"
	"strings"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/node/tier"
	"github.com/strata-edge/strata/pkg/natsutil"
)

// Tiered caching on the node: the parent clusters come from the snapshot
// (the node's own Cluster.parent_cluster_ids), their healthy nodes' tier
// addresses from the nodes service's gateway sets, and the node advertises
// its own tier address in every heartbeat (NodeStatus.tier_address).

// applyTiers takes the node's parent clusters from snap.
func (n *Node) applyTiers(snap *syncv1.Snapshot) {
	for _, c := range snap.GetClusters() {
		if c.GetId() == n.opts.ClusterID {
			n.tier.SetParents(c.GetParentClusterIds())
			return
		}
	}
	n.tier.SetParents(nil)
}

// subscribeTiers follows the partition's gateway sets for the parent
// nodes' tier addresses (a second subscription on the DNS feed's subject,
// so that nodes without DNS get them too).
func (n *Node) subscribeTiers() (*nats.Subscription, error) {
	subject := natsutil.GatewaysSubject(n.opts.PartitionID)
	var last *syncv1.GatewaySet // only touched by the subscription's goroutine
	return n.nc.Subscribe(subject, func(m *nats.Msg) {
		if m.Subject != subject || strings.HasPrefix(m.Reply, jsAckPrefix) {
			return
		}
		set := new(syncv1.GatewaySet)
		if err := proto.Unmarshal(m.Data, set); err != nil || set.GetPartitionId() != n.opts.PartitionID {
			return // the DNS feed logs these
		}
		if last != nil && set.GetTime().AsTime().Before(last.GetTime().AsTime()) {
			return
		}
		last = set
		byCluster := map[string][]tier.Node{}
		for _, c := range set.GetClusters() {
			for _, tn := range c.GetTierNodes() {
				byCluster[c.GetClusterId()] = append(byCluster[c.GetClusterId()], tier.Node{ID: tn.GetNodeId(), Addr: tn.GetAddress()})
			}
		}
		n.tier.SetNodes(byCluster)
	})
}

// reportStatus adds the node's own fields to a heartbeat: the DNS state
// and the tier address.
func (n *Node) reportStatus(st *syncv1.NodeStatus) {
	n.reportDNS(st)
	st.TierAddress = n.tierAddr()
}

// tierAddr is the address child nodes reach this node's plain listener at:
// Options.TierAddr, else the bound HTTP listener with an unspecified host
// (0.0.0.0, ::) replaced by Options.TierHost; "" when neither gives a host.
func (n *Node) tierAddr() string {
	if n.opts.TierAddr != "" {
		return n.opts.TierAddr
	}
	// Not ProxyHTTPAddr: heartbeats are also sent from inside Start, which
	// holds n.mu; n.proxy is set before the agent starts.
	if n.proxy == nil || n.proxy.HTTPAddr() == nil {
		return ""
	}
	host, port, err := net.SplitHostPort(n.proxy.HTTPAddr().String())
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if n.opts.TierHost == "" {
			return ""
		}
		host = n.opts.TierHost
	}
	return net.JoinHostPort(host, port)
}

// TierStats are the node's parent-tier counters (zero before Start).
func (n *Node) TierStats() tier.Stats {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.tier == nil {
		return tier.Stats{}
	}
	return n.tier.Stats()
}

package node

import (
	"context"
	"net"
	"net/netip"
	"time"

	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/node/tier"
	"github.com/strata-edge/strata/pkg/buildinfo"
)

// Tiered caching on the node: the parent clusters come from the snapshot
// (the node's own Cluster.parent_cluster_ids), their healthy nodes' tier
// addresses from the nodes service's gateway sets, and the node advertises
// its own tier address in every heartbeat (NodeStatus.tier_address). The
// same sets give the peers: the addresses of the partition's nodes, the
// only ones whose tier headers the node honours.

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

// tierSet takes the parent nodes' tier addresses and the partition's peers
// from a gateway set (gatewayFeed: every node follows the sets, with DNS or
// without).
func (f *gatewayFeed) tierSet(set *syncv1.GatewaySet) {
	if f.tierLast != nil && set.GetTime().AsTime().Before(f.tierLast.GetTime().AsTime()) {
		return
	}
	f.tierLast = set
	byCluster := map[string][]tier.Node{}
	for _, c := range set.GetClusters() {
		for _, tn := range c.GetTierNodes() {
			byCluster[c.GetClusterId()] = append(byCluster[c.GetClusterId()], tier.Node{ID: tn.GetNodeId(), Addr: tn.GetAddress()})
		}
	}
	f.n.tier.SetNodes(byCluster)
	ctx, cancel := context.WithTimeout(context.Background(), peerResolveTimeout)
	defer cancel()
	var peers []netip.Addr
	peers, f.resolved = tierPeers(ctx, set, f.resolved, net.DefaultResolver.LookupNetIP)
	f.n.tier.SetPeers(peers)
	f.n.setXDPPeers(peers)
}

// peerResolveTimeout bounds resolving the host names of tier addresses
// for one gateway set.
const peerResolveTimeout = 2 * time.Second

// tierPeers lists the addresses a request's tier headers are honoured from
// (tier.Tier.SetPeers): the public addresses of every cluster's nodes and
// the hosts of their tier addresses, names resolved with lookup. A name
// that does not resolve now keeps the addresses it had in prev; the
// returned map holds the current names' addresses for the next set.
func tierPeers(ctx context.Context, set *syncv1.GatewaySet, prev map[string][]netip.Addr,
	lookup func(ctx context.Context, network, host string) ([]netip.Addr, error)) ([]netip.Addr, map[string][]netip.Addr) {
	var out []netip.Addr
	names := map[string][]netip.Addr{}
	for _, c := range set.GetClusters() {
		for _, a := range c.GetAddresses() {
			if ip, err := netip.ParseAddr(a); err == nil {
				out = append(out, ip)
			}
		}
		for _, tn := range c.GetTierNodes() {
			host, _, err := net.SplitHostPort(tn.GetAddress())
			if err != nil || host == "" {
				continue
			}
			if ip, err := netip.ParseAddr(host); err == nil {
				out = append(out, ip)
				continue
			}
			if _, done := names[host]; done {
				continue
			}
			ips, err := lookup(ctx, "ip", host)
			if err != nil {
				ips = prev[host]
			}
			names[host] = ips
			out = append(out, ips...)
		}
	}
	return out, names
}

// reportStatus adds the node's own fields to a heartbeat: the DNS state,
// the tier address and the peer checks.
func (n *Node) reportStatus(st *syncv1.NodeStatus) {
	n.reportDNS(st)
	n.reportXDP(st)
	n.reportRoles(st)
	st.SoftwareVersion = buildinfo.Version()
	st.TierAddress = n.tierAddr()
	if n.peers != nil {
		st.PeerChecks = n.peers.Report()
	}
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

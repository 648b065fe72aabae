package nodes

import (
	"cmp"
	"context"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/pkg/natsutil"
)

// GatewaySets returns, per partition, the public addresses of the healthy
// online nodes of every cluster (what gateway DNS records answer) and
// their tier addresses (the parents a child cluster's nodes ask on a
// cache miss), with each cluster's location, the addresses of all its
// approved enabled nodes (GSLB's fallback) and, in its own partition's
// set, its online nodes' tier addresses (what the nodes probe,
// peercheck.go). Every
// partition gets every cluster (a gateway record may name a cluster of
// another partition; the addresses are public, DNS serves them anyway);
// clusters are sorted by id, addresses by value, and a cluster without a
// healthy node has none. Time is unset.
func (s *Service) GatewaySets() map[string]*syncv1.GatewaySet {
	statuses := s.Statuses()
	clusters, nodes := s.model.gatewayView()
	addrs := map[string][]string{}
	all := map[string][]string{}
	tiers := map[string][]*syncv1.TierNode{}
	checks := map[string][]*syncv1.TierNode{}
	for _, n := range nodes {
		st := statuses[n.GetId()]
		if n.GetApproved() && !n.GetDisabled() {
			for _, a := range []string{n.GetPublicIpv4(), n.GetPublicIpv6()} {
				if a != "" {
					all[n.GetClusterId()] = append(all[n.GetClusterId()], a)
				}
			}
		}
		if a := st.Status.GetTierAddress(); a != "" && st.Online {
			checks[n.GetClusterId()] = append(checks[n.GetClusterId()], &syncv1.TierNode{NodeId: n.GetId(), Address: a})
		}
		if !st.Healthy {
			continue
		}
		if a := st.Status.GetTierAddress(); a != "" {
			tiers[n.GetClusterId()] = append(tiers[n.GetClusterId()], &syncv1.TierNode{NodeId: n.GetId(), Address: a})
		}
		for _, a := range []string{n.GetPublicIpv4(), n.GetPublicIpv6()} {
			if a != "" {
				addrs[n.GetClusterId()] = append(addrs[n.GetClusterId()], a)
			}
		}
	}
	slices.SortFunc(clusters, func(a, b *configv1.Cluster) int { return cmp.Compare(a.GetId(), b.GetId()) })
	byNode := func(a, b *syncv1.TierNode) int { return cmp.Compare(a.GetNodeId(), b.GetNodeId()) }
	list := make([]*syncv1.ClusterAddresses, 0, len(clusters))
	for _, c := range clusters {
		a := addrs[c.GetId()]
		slices.Sort(a)
		aa := all[c.GetId()]
		slices.Sort(aa)
		tn := tiers[c.GetId()]
		slices.SortFunc(tn, byNode)
		cn := checks[c.GetId()]
		slices.SortFunc(cn, byNode)
		list = append(list, &syncv1.ClusterAddresses{ClusterId: c.GetId(), ClusterName: c.GetName(), Addresses: a, TierNodes: tn,
			Location: c.GetLocation(), AllAddresses: aa})
		checks[c.GetId()] = cn
	}
	out := map[string]*syncv1.GatewaySet{}
	for _, c := range clusters {
		p := c.GetPartitionId()
		if p == "" || out[p] != nil {
			continue
		}
		// Check nodes only in their own partition's set: nodes probe the
		// nodes of their partition.
		own := make([]*syncv1.ClusterAddresses, len(list))
		for i, ca := range list {
			own[i] = ca
			if clusters[i].GetPartitionId() == p && len(checks[ca.GetClusterId()]) > 0 {
				cp := proto.Clone(ca).(*syncv1.ClusterAddresses)
				cp.CheckNodes = checks[ca.GetClusterId()]
				own[i] = cp
			}
		}
		out[p] = &syncv1.GatewaySet{PartitionId: p, Clusters: own}
	}
	return out
}

// kickGateways asks the publisher to recompute now (a node's liveness or the
// model changed); it never blocks.
func (s *Service) kickGateways() {
	select {
	case s.gwKick <- struct{}{}:
	default:
	}
}

// runGateways publishes each partition's gateway set on
// natsutil.GatewaysSubject when it changes (checked on every kick and five
// times per heartbeat interval, so a node going offline leaves within a
// fifth of an interval of its window closing) and every heartbeat interval
// regardless, so nodes that (re)connect get it soon. Core NATS, at most once:
// the periodic repeat covers losses.
func (s *Service) runGateways(ctx context.Context) {
	interval := s.opts.HeartbeatInterval
	check := time.NewTicker(interval / 5)
	defer check.Stop()
	last := map[string]*syncv1.GatewaySet{}
	var lastFull time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-check.C:
		case <-s.gwKick:
		}
		now := s.opts.Now()
		full := now.Sub(lastFull) >= interval
		if full {
			lastFull = now
		}
		for p, set := range s.GatewaySets() {
			if !full && proto.Equal(set, last[p]) {
				continue
			}
			last[p] = set
			msg := proto.Clone(set).(*syncv1.GatewaySet)
			msg.Time = timestamppb.New(now)
			data, err := proto.Marshal(msg)
			if err == nil {
				err = s.opts.Conn.Publish(natsutil.GatewaysSubject(p), data)
			}
			if err != nil {
				s.log.Warn("publish gateway set", "partition_id", p, "err", err)
			}
		}
	}
}

package node

import (
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/node/dns"
	"github.com/strata-edge/strata/node/peercheck"
	"github.com/strata-edge/strata/pkg/natsutil"
)

// jsAckPrefix starts the reply subject of JetStream push deliveries; another
// node of the partition can point a consumer at our gateway subject, and
// such deliveries are not gateway sets.
const jsAckPrefix = "$JS.ACK."

// maxGatewayReorder is how much older than the applied gateway set a set may
// be and still count as reordered rather than as a clock step.
const maxGatewayReorder = 2 * time.Second

// gatewayFeed follows the nodes service's live gateway sets
// (natsutil.GatewaysSubject; core NATS, the subscription dies with nc): the
// parent clusters' tier nodes and the partition's peers for tiered caching
// (tiers.go) and, when the node serves DNS, the addresses gateway records
// answer with. The sets are liveness, not config: they are not stored, and
// until the first one arrives the DNS server answers with the addresses the
// snapshot carries.
type gatewayFeed struct {
	n       *Node
	subject string
	// Only touched by the subscription's goroutine. last is the newest set
	// applied to DNS (its time orders repeats and changes) and applied the
	// map it gave; tierLast the newest applied to the tiers and resolved
	// the addresses of the tier addresses' host names.
	last     *syncv1.GatewaySet
	applied  map[string]dns.Gateway
	tierLast *syncv1.GatewaySet
	resolved map[string][]netip.Addr
}

// subscribeGateways starts the gateway feed; n.tier and n.dns are set.
func (n *Node) subscribeGateways() error {
	f := &gatewayFeed{n: n, subject: natsutil.GatewaysSubject(n.opts.PartitionID)}
	_, err := n.nc.Subscribe(f.subject, f.onMsg)
	return err
}

func (f *gatewayFeed) onMsg(m *nats.Msg) {
	if m.Subject != f.subject || strings.HasPrefix(m.Reply, jsAckPrefix) {
		return
	}
	set := new(syncv1.GatewaySet)
	if err := proto.Unmarshal(m.Data, set); err != nil {
		f.n.log.Warn("undecodable gateway set dropped", "err", err)
		return
	}
	if set.GetPartitionId() != f.n.opts.PartitionID {
		f.n.log.Warn("gateway set of another partition dropped", "partition_id", set.GetPartitionId())
		return
	}
	f.tierSet(set)
	if f.n.peers != nil {
		var ts []peercheck.Target
		for _, c := range set.GetClusters() {
			for _, cn := range c.GetCheckNodes() {
				ts = append(ts, peercheck.Target{NodeID: cn.GetNodeId(), Address: cn.GetAddress()})
			}
		}
		f.n.peers.SetTargets(ts)
	}
	if f.n.dns != nil {
		f.dnsSet(set)
	}
}

// gatewayEqual compares two clusters' live gateway states.
func gatewayEqual(a, b dns.Gateway) bool {
	return slices.Equal(a.Addresses, b.Addresses) && slices.Equal(a.All, b.All) && proto.Equal(a.Location, b.Location)
}

// dnsSet applies a set to the DNS server.
func (f *gatewayFeed) dnsSet(set *syncv1.GatewaySet) {
	if f.last != nil {
		// A set a little older than the one applied was reordered (two
		// control planes publish): drop it. One far older comes from a
		// control plane whose clock stepped back (NTP, a restart on
		// another host): waiting for its clock to pass the old time would
		// freeze the answers that long, so it is applied.
		if lag := f.last.GetTime().AsTime().Sub(set.GetTime().AsTime()); lag > 0 && lag <= maxGatewayReorder {
			return
		}
	}
	f.last = set
	// Records name a cluster by id or by name; both keys share the list.
	gw := map[string]dns.Gateway{}
	for _, c := range set.GetClusters() {
		g := dns.Gateway{Addresses: slices.Clone(c.GetAddresses()), All: slices.Clone(c.GetAllAddresses()), Location: c.GetLocation()}
		if g.Addresses == nil {
			g.Addresses = []string{} // present and empty: NODATA, not the snapshot's fallback
		}
		for _, k := range []string{c.GetClusterId(), c.GetClusterName()} {
			if k != "" {
				gw[k] = g
			}
		}
	}
	if f.applied != nil && maps.EqualFunc(gw, f.applied, gatewayEqual) {
		return // the periodic repeat: nothing to rebuild
	}
	if err := f.n.dns.setGateways(gw); err != nil {
		f.n.log.Warn("gateway set not applied", "err", err)
		return
	}
	f.applied = gw
}

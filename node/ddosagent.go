package node

import (
	"context"
	"fmt"
	"strings"

	"github.com/strata-edge/strata/node/ddos"
	"github.com/strata-edge/strata/pkg/natsutil"
)

// The DDoS service's side on the node (node/ddos): the cluster's policy
// from each snapshot onto the XDP filter (apply), block commands applied
// and acknowledged, filter counters reported.

// startDDoS starts the agent; before the sync agent, whose first apply
// hands it the stored policy.
func (n *Node) startDDoS(ctx context.Context) error {
	var err error
	n.ddos, err = ddos.New(ddos.Options{NATS: n.nc, NodeID: n.opts.NodeID, ClusterID: n.opts.ClusterID, PartitionID: n.opts.PartitionID,
		Filter: n.ddosFilter, Domain: natsutil.HubDomain, LinkID: leafLinkID(n.leaf), Logger: n.log})
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	return n.ddos.Start(ctx)
}

// ddosFilter is the attached filter, or nil and why there is none.
func (n *Node) ddosFilter() (ddos.Filter, string) {
	if f := n.XDP(); f != nil {
		return f, ""
	}
	if len(n.opts.XDPIfaces) == 0 {
		return nil, "the node runs without --xdp-iface"
	}
	var why []string
	for _, s := range n.XDPStatus() {
		if s.Error != "" {
			why = append(why, s.Name+": "+s.Error)
		}
	}
	if len(why) == 0 {
		return nil, "no interface attached"
	}
	return nil, strings.Join(why, "; ")
}

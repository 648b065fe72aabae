package node

import "github.com/strata-edge/strata/node/waf"

// newWAF creates the node's WAF runtime: the proxy compiles the apps'
// policies in it with each snapshot, and its hits go out on the node's
// NATS connection (natsutil.WafHitSubject), where services/waf keeps them.
func (n *Node) newWAF() *waf.Runtime {
	w := waf.New(waf.Options{NodeID: n.opts.NodeID, NATS: n.nc, Logger: n.log})
	n.waf.Store(w)
	return w
}

// WAF returns the node's WAF runtime (nil before Start). Rate limits and
// challenges report their outcomes as hits through its Publish.
func (n *Node) WAF() *waf.Runtime { return n.waf.Load() }

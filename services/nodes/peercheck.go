package nodes

import (
	"fmt"
	"time"
)

// PeerVerdict is what the other nodes' active checks (NodeStatus.peer_checks,
// a TCP connect to the node's tier address every few seconds) say about a
// node: how many online peers reported on it within the window and how
// many of them could not reach it.
type PeerVerdict struct {
	Reporters, Unreachable int
	// Failed: a majority of the reporters, and at least two of them (or
	// the only one), could not reach the node. A failed node leaves gateway
	// answers like one that stopped reporting.
	Failed bool
	// Ignored: peer checks fail most of the checked nodes, so none is failed
	// by them (peerVerdicts).
	Ignored bool
}

// String is the verdict as node list shows it: "3/3 reach it",
// "2/3 cannot reach it", "" when no peer reported.
func (v PeerVerdict) String() string {
	switch {
	case v.Reporters == 0:
		return ""
	case v.Unreachable == 0:
		return fmt.Sprintf("%d/%d reach it", v.Reporters, v.Reporters)
	case v.Ignored:
		return fmt.Sprintf("%d/%d cannot reach it (ignored: most nodes fail their checks)", v.Unreachable, v.Reporters)
	}
	return fmt.Sprintf("%d/%d cannot reach it", v.Unreachable, v.Reporters)
}

// peerFailed is the rule: a strict majority of the reporters, and at least
// two of them unless only one reports.
func peerFailed(reporters, unreachable int) bool {
	return reporters > 0 && 2*unreachable > reporters && unreachable >= min(2, reporters)
}

// peerVerdicts folds the peer checks of the online nodes' latest
// heartbeats. A check counts when it is at most window older than the
// heartbeat carrying it (both on the prober's clock, so clock skew between
// nodes does not matter); a node's checks of itself are ignored.
func peerVerdicts(statuses map[string]NodeStatus, window time.Duration) map[string]PeerVerdict {
	out := map[string]PeerVerdict{}
	for reporter, ns := range statuses {
		if !ns.Online {
			continue
		}
		sent := ns.Status.GetTime().AsTime()
		for _, pc := range ns.Status.GetPeerChecks() {
			target := pc.GetNodeId()
			if target == "" || target == reporter || sent.Sub(pc.GetTime().AsTime()) > window {
				continue
			}
			v := out[target]
			v.Reporters++
			if !pc.GetOk() {
				v.Unreachable++
			}
			out[target] = v
		}
	}
	failed := 0
	for id, v := range out {
		v.Failed = peerFailed(v.Reporters, v.Unreachable)
		if v.Failed {
			failed++
		}
		out[id] = v
	}
	// Most checked nodes failing says more about the probes (tier
	// addresses peers cannot route to, a firewall) than about the nodes:
	// then no node is failed by its peers, like a load balancer's panic
	// threshold, rather than emptying every gateway answer.
	if failed >= 2 && 2*failed > len(out) {
		for id, v := range out {
			v.Failed, v.Ignored = false, true
			out[id] = v
		}
	}
	return out
}

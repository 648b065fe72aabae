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
}

// String is the verdict as node list shows it: "3/3 reach it",
// "2/3 cannot reach it", "" when no peer reported.
func (v PeerVerdict) String() string {
	switch {
	case v.Reporters == 0:
		return ""
	case v.Unreachable == 0:
		return fmt.Sprintf("%d/%d reach it", v.Reporters, v.Reporters)
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
	for id, v := range out {
		v.Failed = peerFailed(v.Reporters, v.Unreachable)
		out[id] = v
	}
	return out
}

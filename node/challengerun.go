package node

import (
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/node/challenge"
)

// The challenge keys of the partition (sync kind "challenge_key", wrapped
// for the node's key-encryption key like certificate keys) sign and check
// the clearance cookies of challenge actions, so a client cleared on one
// node is cleared on every node of the partition. Without synced keys the
// challenger signs with a random key of this node.

// applyChallengeKeys gives the proxy's challenger the snapshot's keys. A
// key that cannot be opened is logged and left out; when none opens, the
// running keys stay.
func (n *Node) applyChallengeKeys(snap *syncv1.Snapshot) {
	c := n.proxy.Challenger()
	keys, err := challenge.OpenKeys(n.opts.KEK, snap.GetChallengeKeys())
	if err != nil {
		n.log.Warn("challenge keys", "err", err)
		if len(keys) == 0 {
			return
		}
	}
	if err := c.SetKeys(keys); err != nil {
		n.log.Warn("challenge keys", "err", err)
	}
}

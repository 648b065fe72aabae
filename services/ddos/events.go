package ddos

import (
	"google.golang.org/protobuf/proto"

	ev "github.com/strata-edge/strata/gen/strata/events/ddos/v1"
	"github.com/strata-edge/strata/pkg/eventtype"
)

// Stable event type ids: stored with every event, never derived from Go or
// proto names, never changed.
const (
	TypePolicyUpdated     = "ddos.policy.updated"
	TypePolicyReleased    = "ddos.policy.released"
	TypePolicyPromoted    = "ddos.policy.promoted"
	TypePolicyReverted    = "ddos.policy.reverted"
	TypeBlockRequested    = "ddos.block.requested"
	TypeBlockAcknowledged = "ddos.block.acknowledged"
)

var registry = eventtype.New("ddos", map[string]proto.Message{
	TypePolicyUpdated:     (*ev.PolicyUpdated)(nil),
	TypePolicyReleased:    (*ev.PolicyReleased)(nil),
	TypePolicyPromoted:    (*ev.PolicyPromoted)(nil),
	TypePolicyReverted:    (*ev.PolicyReverted)(nil),
	TypeBlockRequested:    (*ev.BlockRequested)(nil),
	TypeBlockAcknowledged: (*ev.BlockAcknowledged)(nil),
})

// Decode is the registry's decoder (release.History replays with it).
var Decode = registry.Decode

// PolicyStream is the event stream of one cluster's policy.
func PolicyStream(clusterID string) string { return "ddos_policy." + clusterID }

// BlockStream is the event stream of one block.
func BlockStream(id string) string { return "ddos_block." + id }

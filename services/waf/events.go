package waf

import (
	"google.golang.org/protobuf/proto"

	ev "github.com/strata-edge/strata/gen/strata/events/waf/v1"
	"github.com/strata-edge/strata/pkg/eventtype"
)

// Stable event type ids: stored with every event, never derived from Go or
// proto names, never changed (proto/strata/events/waf/v1/events.proto).
const (
	TypePolicyCreated       = "waf.policy.created"
	TypePolicyUpdated       = "waf.policy.updated"
	TypePolicyReleased      = "waf.policy.released"
	TypePolicyPromoted      = "waf.policy.promoted"
	TypePolicyReverted      = "waf.policy.reverted"
	TypePolicyDeleted       = "waf.policy.deleted"
	TypeChallengeKeyRotated = "waf.challenge_key.rotated"
)

var registry = eventtype.New("waf", map[string]proto.Message{
	TypePolicyCreated:       (*ev.PolicyCreated)(nil),
	TypePolicyUpdated:       (*ev.PolicyUpdated)(nil),
	TypePolicyReleased:      (*ev.PolicyReleased)(nil),
	TypePolicyPromoted:      (*ev.PolicyPromoted)(nil),
	TypePolicyReverted:      (*ev.PolicyReverted)(nil),
	TypePolicyDeleted:       (*ev.PolicyDeleted)(nil),
	TypeChallengeKeyRotated: (*ev.ChallengeKeyRotated)(nil),
})

// Decode is the registry's decoder (release.History replays with it).
var Decode = registry.Decode

// PolicyStream is the event stream of one policy.
func PolicyStream(id string) string { return "waf_policy." + id }

// ChallengeKeyStream is the one stream of the challenge keys.
const ChallengeKeyStream = "waf_challenge_keys"

// policyIDOf is the policy a policy event belongs to ("" for others).
func policyIDOf(msg proto.Message) string {
	switch m := msg.(type) {
	case *ev.PolicyCreated:
		return m.GetPolicy().GetId()
	case *ev.PolicyUpdated:
		return m.GetPolicy().GetId()
	case interface{ GetPolicyId() string }:
		return m.GetPolicyId()
	}
	return ""
}

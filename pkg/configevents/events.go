// Package configevents is the one registry of the config area's event type ids
// (partitions, clusters, nodes, join tokens, apps): the config and nodes
// services write and fold them.
package configevents

import (
	"google.golang.org/protobuf/proto"

	ev "github.com/strata-edge/strata/gen/strata/events/config/v1"
	"github.com/strata-edge/strata/pkg/eventtype"
)

// Stable type ids of the config events. They are data: stored events carry
// them, so they never change when a Go or proto name does (see events.proto).
const (
	TypePartitionCreated = "config.partition.created"
	TypePartitionRenamed = "config.partition.renamed"
	TypePartitionDeleted = "config.partition.deleted"
	TypeClusterCreated   = "config.cluster.created"
	TypeClusterDeleted   = "config.cluster.deleted"
	TypeClusterUpdated   = "config.cluster.updated"
	TypeNodeRegistered   = "config.node.registered"
	TypeNodeStagingSet   = "config.node.staging_set"
	TypeNodeRemoved      = "config.node.removed"
	TypeNodeApproved     = "config.node.approved"
	TypeNodeDisabledSet  = "config.node.disabled_set"
	TypeNodeAddressSet   = "config.node.address_set"
	TypeJoinTokenCreated = "config.join_token.created"
	TypeJoinTokenRevoked = "config.join_token.revoked"
	TypeAppCreated       = "config.app.created"
	TypeAppUpdated       = "config.app.updated"
	TypeAppDeleted       = "config.app.deleted"
	TypeUpstreamCreated  = "config.upstream.created"
	TypeUpstreamUpdated  = "config.upstream.updated"
	TypeUpstreamDeleted  = "config.upstream.deleted"
	TypeRuleCreated      = "config.rule.created"
	TypeRuleUpdated      = "config.rule.updated"
	TypeRuleDeleted      = "config.rule.deleted"
	TypeRuleMoved        = "config.rule.moved"
	TypeAppReleased      = "config.app.released"
	TypeAppReverted      = "config.app.reverted"
	TypeAppPromoted      = "config.app.promoted"
	TypeObjectReverted   = "config.object.reverted"
	TypeEndpointsSet     = "config.endpoints.set"
	TypeEndpointsDeleted = "config.endpoints.deleted"
)

// registry is the one table of type id <-> payload message.
var registry = eventtype.New("config", map[string]proto.Message{
	TypePartitionCreated: (*ev.PartitionCreated)(nil),
	TypePartitionRenamed: (*ev.PartitionRenamed)(nil),
	TypePartitionDeleted: (*ev.PartitionDeleted)(nil),
	TypeClusterCreated:   (*ev.ClusterCreated)(nil),
	TypeClusterDeleted:   (*ev.ClusterDeleted)(nil),
	TypeClusterUpdated:   (*ev.ClusterUpdated)(nil),
	TypeNodeRegistered:   (*ev.NodeRegistered)(nil),
	TypeNodeStagingSet:   (*ev.NodeStagingSet)(nil),
	TypeNodeRemoved:      (*ev.NodeRemoved)(nil),
	TypeNodeApproved:     (*ev.NodeApproved)(nil),
	TypeNodeDisabledSet:  (*ev.NodeDisabledSet)(nil),
	TypeNodeAddressSet:   (*ev.NodeAddressSet)(nil),
	TypeJoinTokenCreated: (*ev.JoinTokenCreated)(nil),
	TypeJoinTokenRevoked: (*ev.JoinTokenRevoked)(nil),
	TypeAppCreated:       (*ev.AppCreated)(nil),
	TypeAppUpdated:       (*ev.AppUpdated)(nil),
	TypeAppDeleted:       (*ev.AppDeleted)(nil),
	TypeUpstreamCreated:  (*ev.UpstreamCreated)(nil),
	TypeUpstreamUpdated:  (*ev.UpstreamUpdated)(nil),
	TypeUpstreamDeleted:  (*ev.UpstreamDeleted)(nil),
	TypeRuleCreated:      (*ev.RuleCreated)(nil),
	TypeRuleUpdated:      (*ev.RuleUpdated)(nil),
	TypeRuleDeleted:      (*ev.RuleDeleted)(nil),
	TypeRuleMoved:        (*ev.RuleMoved)(nil),
	TypeAppReleased:      (*ev.AppReleased)(nil),
	TypeAppReverted:      (*ev.AppReverted)(nil),
	TypeAppPromoted:      (*ev.AppPromoted)(nil),
	TypeObjectReverted:   (*ev.ObjectReverted)(nil),
	TypeEndpointsSet:     (*ev.EndpointsSet)(nil),
	TypeEndpointsDeleted: (*ev.EndpointsDeleted)(nil),
})

// The registry's operations under the names the config area's callers use.
var (
	TypeOf        = registry.TypeOf
	IsConfigEvent = registry.Has
	Encode        = registry.Encode
	Decode        = registry.Decode
	Fold          = registry.Fold
	Events        = registry.Events
	AppendAndWait = registry.AppendAndWait
)

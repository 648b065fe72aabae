// Package configevents is the one registry of the config area's event type ids
// (partitions, clusters, nodes, join tokens, apps): the config and nodes
// services write and fold them.
package configevents

import (
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	ev "github.com/strata-edge/strata/gen/strata/events/config/v1"
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
)

// eventTypes is the one registry of type id <-> payload message.
var eventTypes = map[string]proto.Message{
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
}

// typeIDs is the reverse of eventTypes, keyed by full proto message name.
var typeIDs = func() map[protoreflect.FullName]string {
	m := make(map[protoreflect.FullName]string, len(eventTypes))
	for id, msg := range eventTypes {
		name := msg.ProtoReflect().Descriptor().FullName()
		if _, dup := m[name]; dup {
			panic("configevents: message registered twice: " + string(name))
		}
		m[name] = id
	}
	return m
}()

// TypeOf returns the stable type id of an event payload.
func TypeOf(msg proto.Message) (string, error) {
	id, ok := typeIDs[msg.ProtoReflect().Descriptor().FullName()]
	if !ok {
		return "", fmt.Errorf("no event type id for %s", msg.ProtoReflect().Descriptor().FullName())
	}
	return id, nil
}

// IsConfigEvent reports whether typeID is one of the config area's events.
func IsConfigEvent(typeID string) bool {
	_, ok := eventTypes[typeID]
	return ok
}

// Encode returns the type id and protobuf bytes of an event payload.
func Encode(msg proto.Message) (typeID string, data []byte, err error) {
	typeID, err = TypeOf(msg)
	if err != nil {
		return "", nil, err
	}
	data, err = proto.MarshalOptions{Deterministic: true}.Marshal(msg)
	if err != nil {
		return "", nil, fmt.Errorf("encode %s: %w", typeID, err)
	}
	return typeID, data, nil
}

// Decode parses the payload of an event of type typeID.
func Decode(typeID string, data []byte) (proto.Message, error) {
	tmpl, ok := eventTypes[typeID]
	if !ok {
		return nil, fmt.Errorf("unknown event type %q", typeID)
	}
	msg := tmpl.ProtoReflect().Type().New().Interface()
	if err := proto.Unmarshal(data, msg); err != nil {
		return nil, fmt.Errorf("decode %s: %w", typeID, err)
	}
	return msg, nil
}

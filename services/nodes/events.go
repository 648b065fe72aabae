package nodes

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	ev "github.com/strata-edge/strata/gen/strata/events/config/v1"
)

// Stable type ids of the events this service reads and writes. They are the
// config area's ids (see events.proto); stored events carry them, so they
// never change.
const (
	typeClusterCreated   = "config.cluster.created"
	typeClusterUpdated   = "config.cluster.updated"
	typeClusterDeleted   = "config.cluster.deleted"
	typeNodeRegistered   = "config.node.registered"
	typeNodeStagingSet   = "config.node.staging_set"
	typeNodeRemoved      = "config.node.removed"
	typeNodeApproved     = "config.node.approved"
	typeNodeDisabledSet  = "config.node.disabled_set"
	typeNodeAddressSet   = "config.node.address_set"
	typeJoinTokenCreated = "config.join_token.created"
	typeJoinTokenRevoked = "config.join_token.revoked"
)

// eventTypes maps the type ids this service folds to their payloads; every
// other event of the log is skipped.
var eventTypes = map[string]func() proto.Message{
	typeClusterCreated:   func() proto.Message { return new(ev.ClusterCreated) },
	typeClusterUpdated:   func() proto.Message { return new(ev.ClusterUpdated) },
	typeClusterDeleted:   func() proto.Message { return new(ev.ClusterDeleted) },
	typeNodeRegistered:   func() proto.Message { return new(ev.NodeRegistered) },
	typeNodeStagingSet:   func() proto.Message { return new(ev.NodeStagingSet) },
	typeNodeRemoved:      func() proto.Message { return new(ev.NodeRemoved) },
	typeNodeApproved:     func() proto.Message { return new(ev.NodeApproved) },
	typeNodeDisabledSet:  func() proto.Message { return new(ev.NodeDisabledSet) },
	typeNodeAddressSet:   func() proto.Message { return new(ev.NodeAddressSet) },
	typeJoinTokenCreated: func() proto.Message { return new(ev.JoinTokenCreated) },
	typeJoinTokenRevoked: func() proto.Message { return new(ev.JoinTokenRevoked) },
}

// decode returns the payload of a known event type, or nil for the others.
func decode(typeID string, data []byte) (proto.Message, error) {
	newMsg, ok := eventTypes[typeID]
	if !ok {
		return nil, nil
	}
	msg := newMsg()
	if err := proto.Unmarshal(data, msg); err != nil {
		return nil, fmt.Errorf("decode %s: %w", typeID, err)
	}
	return msg, nil
}

// Stream names of the aggregates, shared with services/config.
func nodeStream(id string) string      { return "node." + id }
func joinTokenStream(id string) string { return "jointoken." + id }

// Id prefixes. An id is a prefix and 16 lower-case base32 characters (80
// random bits), safe in stream names, NATS subjects and bucket names; the
// same shape as services/config's ids.
const (
	prefixNode      = "node_"
	prefixJoinToken = "jtok_"
	prefixEvent     = "evt_"
)

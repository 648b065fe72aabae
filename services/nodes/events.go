package nodes

import (
	"google.golang.org/protobuf/proto"

	"github.com/strata-edge/strata/pkg/configevents"
)

// folded are the config-area events this service folds (pkg/configevents
// owns their type ids); every other event of the log is skipped.
var folded = map[string]bool{
	configevents.TypeClusterCreated: true, configevents.TypeClusterUpdated: true, configevents.TypeClusterDeleted: true,
	configevents.TypeNodeRegistered: true, configevents.TypeNodeStagingSet: true, configevents.TypeNodeRemoved: true,
	configevents.TypeNodeApproved: true, configevents.TypeNodeDisabledSet: true, configevents.TypeNodeAddressSet: true,
	configevents.TypeJoinTokenCreated: true, configevents.TypeJoinTokenRevoked: true,
}

// decode returns the payload of a known event type, or nil for the others.
func decode(typeID string, data []byte) (proto.Message, error) {
	if !folded[typeID] {
		return nil, nil
	}
	return configevents.Decode(typeID, data)
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
)

package purge

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	ev "github.com/strata-edge/strata/gen/strata/events/purge/v1"
)

// Stable event type ids (see proto/strata/events/purge/v1): stored with every
// event, never derived from Go or proto names, never changed.
const (
	TypePurgeRequested    = "purge.purge.requested"
	TypePurgeAcknowledged = "purge.purge.acknowledged"
)

// streamOf is the event stream of one purge.
func streamOf(purgeID string) string { return "purge." + purgeID }

func encode(typeID string, msg proto.Message) ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", typeID, err)
	}
	return b, nil
}

// decode returns the payload of a purge event, or nil for other events.
func decode(typeID string, data []byte) (proto.Message, error) {
	var m proto.Message
	switch typeID {
	case TypePurgeRequested:
		m = new(ev.PurgeRequested)
	case TypePurgeAcknowledged:
		m = new(ev.PurgeAcknowledged)
	default:
		return nil, nil
	}
	if err := proto.Unmarshal(data, m); err != nil {
		return nil, fmt.Errorf("decode %s: %w", typeID, err)
	}
	return m, nil
}

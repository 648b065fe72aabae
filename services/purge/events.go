package purge

import (
	"google.golang.org/protobuf/proto"

	ev "github.com/strata-edge/strata/gen/strata/events/purge/v1"
	"github.com/strata-edge/strata/pkg/eventtype"
)

// Stable event type ids (see proto/strata/events/purge/v1): stored with every
// event, never derived from Go or proto names, never changed.
const (
	TypePurgeRequested    = "purge.purge.requested"
	TypePurgeAcknowledged = "purge.purge.acknowledged"
	TypePushRequested     = "purge.push.requested"
)

var registry = eventtype.New("purge", map[string]proto.Message{
	TypePurgeRequested:    (*ev.PurgeRequested)(nil),
	TypePurgeAcknowledged: (*ev.PurgeAcknowledged)(nil),
	TypePushRequested:     (*ev.PushRequested)(nil),
})

// streamOf is the event stream of one purge or push.
func streamOf(purgeID string) string { return "purge." + purgeID }

package dns

import (
	"google.golang.org/protobuf/proto"

	ev "github.com/strata-edge/strata/gen/strata/events/dns/v1"
	"github.com/strata-edge/strata/pkg/eventtype"
)

// Stable event type ids: stored with every event, never derived from Go or
// proto names, never changed.
const (
	TypeZoneCreated   = "dns.zone.created"
	TypeZoneUpdated   = "dns.zone.updated"
	TypeZoneDeleted   = "dns.zone.deleted"
	TypeRecordAdded   = "dns.record.added"
	TypeRecordUpdated = "dns.record.updated"
	TypeRecordRemoved = "dns.record.removed"
	TypeZoneImported  = "dns.zone.imported"
	TypeZoneReleased  = "dns.zone.released"
	TypeZoneReverted  = "dns.zone.reverted"
	TypeZonePromoted  = "dns.zone.promoted"
)

var registry = eventtype.New("dns", map[string]proto.Message{
	TypeZoneCreated:   (*ev.ZoneCreated)(nil),
	TypeZoneUpdated:   (*ev.ZoneUpdated)(nil),
	TypeZoneDeleted:   (*ev.ZoneDeleted)(nil),
	TypeRecordAdded:   (*ev.RecordAdded)(nil),
	TypeRecordUpdated: (*ev.RecordUpdated)(nil),
	TypeRecordRemoved: (*ev.RecordRemoved)(nil),
	TypeZoneImported:  (*ev.ZoneImported)(nil),
	TypeZoneReleased:  (*ev.ZoneReleased)(nil),
	TypeZoneReverted:  (*ev.ZoneReverted)(nil),
	TypeZonePromoted:  (*ev.ZonePromoted)(nil),
})

// The registry's operations under the names the dns service's callers use.
var (
	Encode = registry.Encode
	Decode = registry.Decode
)

// ZoneIDOf returns the zone an event belongs to.
func ZoneIDOf(msg proto.Message) string {
	if m, ok := msg.(interface{ GetZoneId() string }); ok {
		return m.GetZoneId()
	}
	return ""
}

// ZoneStream is the event stream of one zone.
func ZoneStream(id string) string { return "zone." + id }

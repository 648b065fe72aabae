package dns

import (
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	ev "github.com/strata-edge/strata/gen/strata/events/dns/v1"
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

var eventTypes = map[string]func() proto.Message{
	TypeZoneCreated:   func() proto.Message { return &ev.ZoneCreated{} },
	TypeZoneUpdated:   func() proto.Message { return &ev.ZoneUpdated{} },
	TypeZoneDeleted:   func() proto.Message { return &ev.ZoneDeleted{} },
	TypeRecordAdded:   func() proto.Message { return &ev.RecordAdded{} },
	TypeRecordUpdated: func() proto.Message { return &ev.RecordUpdated{} },
	TypeRecordRemoved: func() proto.Message { return &ev.RecordRemoved{} },
	TypeZoneImported:  func() proto.Message { return &ev.ZoneImported{} },
	TypeZoneReleased:  func() proto.Message { return &ev.ZoneReleased{} },
	TypeZoneReverted:  func() proto.Message { return &ev.ZoneReverted{} },
	TypeZonePromoted:  func() proto.Message { return &ev.ZonePromoted{} },
}

var typeIDs = func() map[protoreflect.FullName]string {
	m := map[protoreflect.FullName]string{}
	for id, f := range eventTypes {
		m[f().ProtoReflect().Descriptor().FullName()] = id
	}
	return m
}()

// IsDNSEvent reports whether typeID is one of this service's events.
func IsDNSEvent(typeID string) bool {
	_, ok := eventTypes[typeID]
	return ok
}

// Encode returns the type id and bytes of an event.
func Encode(msg proto.Message) (typeID string, data []byte, err error) {
	typeID, ok := typeIDs[msg.ProtoReflect().Descriptor().FullName()]
	if !ok {
		return "", nil, fmt.Errorf("encode: %T is not a dns event", msg)
	}
	data, err = proto.MarshalOptions{Deterministic: true}.Marshal(msg)
	if err != nil {
		return "", nil, fmt.Errorf("encode %s: %w", typeID, err)
	}
	return typeID, data, nil
}

// Decode parses a stored event.
func Decode(typeID string, data []byte) (proto.Message, error) {
	f, ok := eventTypes[typeID]
	if !ok {
		return nil, fmt.Errorf("decode: unknown event type %q", typeID)
	}
	m := f()
	if err := proto.Unmarshal(data, m); err != nil {
		return nil, fmt.Errorf("decode %s: %w", typeID, err)
	}
	return m, nil
}

// ZoneIDOf returns the zone an event belongs to.
func ZoneIDOf(msg proto.Message) string {
	if m, ok := msg.(interface{ GetZoneId() string }); ok {
		return m.GetZoneId()
	}
	return ""
}

// ZoneStream is the event stream of one zone.
func ZoneStream(id string) string { return "zone." + id }

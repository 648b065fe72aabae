package eventtype

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	ev "github.com/strata-edge/strata/gen/strata/events/purge/v1"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/eventstore"
)

func TestRoundTripAndRefusals(t *testing.T) {
	r := New("purge", map[string]proto.Message{"purge.purge.requested": (*ev.PurgeRequested)(nil)})
	typ, data, err := r.Encode(&ev.PurgeRequested{PurgeId: "prg_1"})
	if err != nil || typ != "purge.purge.requested" {
		t.Fatalf("Encode = %q, %v", typ, err)
	}
	msg, err := r.Decode(typ, data)
	if err != nil || msg.(*ev.PurgeRequested).GetPurgeId() != "prg_1" {
		t.Fatalf("Decode = %v, %v", msg, err)
	}
	if _, _, err := r.Encode(&ev.PurgeAcknowledged{}); err == nil || !strings.Contains(err.Error(), "not a purge event") {
		t.Errorf("Encode of an unregistered message: %v", err)
	}
	if _, err := r.Decode("dns.zone.created", nil); err == nil || !strings.Contains(err.Error(), `unknown purge event type "dns.zone.created"`) {
		t.Errorf("Decode of another area's type: %v", err)
	}
	if msg, err := r.Fold("dns.zone.created", nil); msg != nil || err != nil {
		t.Errorf("Fold of another area's type = %v, %v; want nil, nil", msg, err)
	}
	if _, err := r.Fold(typ, []byte{0xff}); err == nil {
		t.Error("Fold of a corrupt payload of its own type succeeded")
	}
}

func TestDuplicateMessagePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("a message registered under two ids did not panic")
		}
	}()
	New("x", map[string]proto.Message{"a": (*ev.PurgeRequested)(nil), "b": (*ev.PurgeRequested)(nil)})
}

func TestEventsCarryTypeMetadataAndSizeLimit(t *testing.T) {
	r := New("purge", map[string]proto.Message{"purge.purge.requested": (*ev.PurgeRequested)(nil)})
	meta := eventstore.Metadata{Actor: "alice"}
	evs, err := r.Events(meta, &ev.PurgeRequested{PurgeId: "a"}, &ev.PurgeRequested{PurgeId: "b"})
	if err != nil || len(evs) != 2 || evs[0].ID == evs[1].ID {
		t.Fatalf("Events = %v, %v", evs, err)
	}
	for _, e := range evs {
		if e.Type != "purge.purge.requested" || e.Metadata != meta || !strings.HasPrefix(e.ID, "evt_") {
			t.Errorf("event %+v", e)
		}
	}
	huge := &ev.PurgeRequested{PurgeId: strings.Repeat("x", eventstore.MaxDataLen)}
	if _, err := r.Events(meta, huge); !apierr.IsKind(err, apierr.KindInvalid) || !strings.Contains(err.Error(), "purge_id") {
		t.Errorf("oversized payload: %v", err)
	}
}

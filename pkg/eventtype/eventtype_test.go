package eventtype

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	ev "github.com/strata-edge/strata/gen/strata/events/purge/v1"
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

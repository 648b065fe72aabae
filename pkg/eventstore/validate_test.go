package eventstore_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/natsutil"
)

func TestValidateStreamName(t *testing.T) {
	tests := []struct {
		name   string
		stream string
		ok     bool
	}{
		{"simple", "app", true},
		{"dotted", "app.app_01H-x.Y9", true},
		{"max length", strings.Repeat("a", eventstore.MaxStreamNameLen), true},
		{"empty", "", false},
		{"too long", strings.Repeat("a", eventstore.MaxStreamNameLen+1), false},
		{"leading dot", ".a", false},
		{"trailing dot", "a.", false},
		{"double dot", "a..b", false},
		{"only dot", ".", false},
		{"star", "a.*", false},
		{"gt", "a.>", false},
		{"space", "a b", false},
		{"tab", "a\tb", false},
		{"slash", "a/b", false},
		{"unicode", "größe", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := eventstore.ValidateStreamName(tc.stream)
			if tc.ok != (err == nil) {
				t.Fatalf("ValidateStreamName(%q) = %v, want ok=%v", tc.stream, err, tc.ok)
			}
			if err != nil && !errors.Is(err, eventstore.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
		})
	}
}

func TestValidateAppendMetadata(t *testing.T) {
	tests := []struct {
		name  string
		event eventstore.Event
		field string // empty: valid
	}{
		{"valid", eventstore.Event{ID: "e", Type: "t", Metadata: eventstore.Metadata{Actor: "Zoë Ölçer", RequestID: "r-1"}}, ""},
		{"leading space in actor", eventstore.Event{ID: "e", Type: "t", Metadata: eventstore.Metadata{Actor: " bob"}}, "Metadata.Actor"},
		{"trailing space in request id", eventstore.Event{ID: "e", Type: "t", Metadata: eventstore.Metadata{RequestID: "r "}}, "Metadata.RequestID"},
		{"control char in causation", eventstore.Event{ID: "e", Type: "t", Metadata: eventstore.Metadata{CausationID: "a\x00b"}}, "Metadata.CausationID"},
		{"invalid UTF-8 type", eventstore.Event{ID: "e", Type: "t\xff"}, "Type"},
		{"long ID", eventstore.Event{ID: strings.Repeat("x", eventstore.MaxIDLen+1), Type: "t"}, "ID"},
		{"year out of range", eventstore.Event{ID: "e", Type: "t", Metadata: eventstore.Metadata{Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}}, "Metadata.Time"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := eventstore.ValidateAppend("app.a", []eventstore.Event{tc.event})
			if tc.field == "" {
				if err != nil {
					t.Fatalf("ValidateAppend: %v", err)
				}
				return
			}
			if !errors.Is(err, eventstore.ErrInvalid) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("ValidateAppend: %v, want ErrInvalid naming %s", err, tc.field)
			}
		})
	}
	many := make([]eventstore.Event, eventstore.MaxEventsPerAppend+1)
	for i := range many {
		many[i] = eventstore.Event{ID: fmt.Sprintf("e%d", i), Type: "t"}
	}
	if err := eventstore.ValidateAppend("app.a", many); !errors.Is(err, eventstore.ErrInvalid) {
		t.Fatalf("ValidateAppend with %d events: %v, want ErrInvalid", len(many), err)
	}
}

// FuzzValidateStreamName checks that every accepted name makes a literal NATS
// subject (no wildcard, no empty token) and a non-empty printable ASCII string.
func FuzzValidateStreamName(f *testing.F) {
	for _, s := range []string{"app", "app.app_1", "a..b", ".a", "a.>", "a.*", "a b", "", "ü", "a.b-c_d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if eventstore.ValidateStreamName(name) != nil {
			return
		}
		if !server.IsValidLiteralSubject(natsutil.EventsSubjectPrefix + name) {
			t.Fatalf("accepted %q, but %s%s is no literal subject", name, natsutil.EventsSubjectPrefix, name)
		}
		if name == "" || len(name) > eventstore.MaxStreamNameLen {
			t.Fatalf("accepted %q of length %d", name, len(name))
		}
		for _, c := range []byte(name) {
			if c <= ' ' || c >= 0x7f {
				t.Fatalf("accepted %q with byte %#x", name, c)
			}
		}
	})
}

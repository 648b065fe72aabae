package readmodel

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/strata-edge/strata/pkg/eventstore"
)

// decodeStrings folds events of type "s" (payload: the string); "bad"
// never decodes; others are skipped.
func decodeStrings(typeID string, data []byte) (proto.Message, error) {
	switch typeID {
	case "s":
		return wrapperspb.String(string(data)), nil
	case "bad":
		return nil, errors.New("corrupt")
	}
	return nil, nil
}

func foldStrings(st *[]string, _ eventstore.Event, msg proto.Message) error {
	if v := msg.(*wrapperspb.StringValue).GetValue(); v != "refuse" {
		*st = append(*st, v)
		return nil
	}
	return errors.New("refused")
}

func TestHandleFoldsSkipsAndAdvances(t *testing.T) {
	m := New(&[]string{}, decodeStrings, foldStrings, nil)
	for _, c := range []struct {
		e       eventstore.Event
		wantErr bool
	}{
		{eventstore.Event{Position: 1, Type: "s", Data: []byte("a")}, false},
		{eventstore.Event{Position: 2, Type: "other"}, false},
		{eventstore.Event{Position: 3, Type: "bad"}, true},
		{eventstore.Event{Position: 4, Type: "s", Data: []byte("refuse")}, true},
		{eventstore.Event{Position: 4, Type: "s", Data: []byte("again")}, false}, // repeated position
		{eventstore.Event{Position: 5, Type: "s", Data: []byte("b")}, false},
	} {
		if err := m.Handle(c.e); (err != nil) != c.wantErr {
			t.Fatalf("event %d %q: err %v, want error %v", c.e.Position, c.e.Type, err, c.wantErr)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.WaitFor(ctx, 5); err != nil {
		t.Fatal(err)
	}
	m.Read(func(st *[]string) {
		if strings.Join(*st, ",") != "a,b" {
			t.Fatalf("state %q, want a,b", *st)
		}
	})
}

func TestHandleLogsSkipsWithLogger(t *testing.T) {
	var buf bytes.Buffer
	m := New(&[]string{}, decodeStrings, foldStrings, slog.New(slog.NewTextHandler(&buf, nil)))
	if err := m.Handle(eventstore.Event{Position: 7, Type: "bad"}); err != nil {
		t.Fatalf("with a logger: %v, want nil", err)
	}
	if m.Applied() != 7 || !strings.Contains(buf.String(), "corrupt") {
		t.Fatalf("applied %d, log %q", m.Applied(), buf.String())
	}
}

func TestNilDecodeHandsEveryEvent(t *testing.T) {
	var types []string
	m := New(&types, nil, func(st *[]string, e eventstore.Event, msg proto.Message) error {
		if msg != nil {
			t.Fatalf("payload %v with a nil decode", msg)
		}
		*st = append(*st, e.Type)
		return nil
	}, nil)
	_ = m.Handle(eventstore.Event{Position: 1, Type: "x"})
	m.Write(func(st *[]string) { *st = append(*st, "live") })
	if strings.Join(types, ",") != "x,live" {
		t.Fatalf("folded %q", types)
	}
}

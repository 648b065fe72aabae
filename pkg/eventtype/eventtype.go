// Package eventtype maps a service's stable event type ids to their protobuf
// payloads and back: the one encode/decode every service's events.go uses.
package eventtype

import (
	"context"
	"fmt"
	"iter"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/ids"
)

// Registry is one service's table of type id <-> payload message.
type Registry struct {
	area  string
	types map[string]protoreflect.MessageType
	ids   map[protoreflect.FullName]string
}

// New builds the registry of area's events (area names them in errors). A
// message registered under two ids is a programming error and panics.
func New(area string, types map[string]proto.Message) *Registry {
	r := &Registry{area: area, types: map[string]protoreflect.MessageType{}, ids: map[protoreflect.FullName]string{}}
	for id, msg := range types {
		name := msg.ProtoReflect().Descriptor().FullName()
		if _, dup := r.ids[name]; dup {
			panic("eventtype: " + area + ": message registered twice: " + string(name))
		}
		r.types[id], r.ids[name] = msg.ProtoReflect().Type(), id
	}
	return r
}

// Has reports whether typeID is one of the registry's events.
func (r *Registry) Has(typeID string) bool {
	_, ok := r.types[typeID]
	return ok
}

// All yields every type id with the full name of its payload message.
func (r *Registry) All() iter.Seq2[string, protoreflect.FullName] {
	return func(yield func(string, protoreflect.FullName) bool) {
		for id, t := range r.types {
			if !yield(id, t.Descriptor().FullName()) {
				return
			}
		}
	}
}

// TypeOf returns the stable type id of an event payload.
func (r *Registry) TypeOf(msg proto.Message) (string, error) {
	id, ok := r.ids[msg.ProtoReflect().Descriptor().FullName()]
	if !ok {
		return "", fmt.Errorf("%s is not a %s event", msg.ProtoReflect().Descriptor().FullName(), r.area)
	}
	return id, nil
}

// Encode returns the type id and deterministic protobuf bytes of a payload.
func (r *Registry) Encode(msg proto.Message) (typeID string, data []byte, err error) {
	if typeID, err = r.TypeOf(msg); err != nil {
		return "", nil, err
	}
	if data, err = (proto.MarshalOptions{Deterministic: true}).Marshal(msg); err != nil {
		return "", nil, fmt.Errorf("encode %s: %w", typeID, err)
	}
	return typeID, data, nil
}

// Events encodes msgs as store events with meta and new "evt_" ids; a
// payload over the store's size limit is refused naming its largest field.
func (r *Registry) Events(meta eventstore.Metadata, msgs ...proto.Message) ([]eventstore.Event, error) {
	out := make([]eventstore.Event, len(msgs))
	for i, m := range msgs {
		typ, data, err := r.Encode(m)
		if err == nil {
			err = apierr.CheckEventSize(m, data)
		}
		if err != nil {
			return nil, err
		}
		out[i] = eventstore.Event{ID: ids.New("evt_"), Type: typ, Data: data, Metadata: meta}
	}
	return out, nil
}

// AppendAndWait appends msgs, one command's events, to stream at version
// expected with meta, then waits through waitFor (the read model's
// Position.WaitFor) until the model has folded the last of them, so that the
// command's answer reads its own write. It returns that event's position.
func (r *Registry) AppendAndWait(ctx context.Context, store eventstore.Store, waitFor func(context.Context, uint64) error, meta eventstore.Metadata, stream string, expected uint64, msgs ...proto.Message) (uint64, error) {
	events, err := r.Events(meta, msgs...)
	if err != nil {
		return 0, err
	}
	stored, err := store.Append(ctx, stream, expected, events...)
	if err != nil {
		return 0, fmt.Errorf("append to %s: %w", stream, err)
	}
	last := stored[len(stored)-1].Position
	return last, waitFor(ctx, last)
}

// Decode parses the payload of an event of type typeID.
func (r *Registry) Decode(typeID string, data []byte) (proto.Message, error) {
	t, ok := r.types[typeID]
	if !ok {
		return nil, fmt.Errorf("unknown %s event type %q", r.area, typeID)
	}
	msg := t.New().Interface()
	if err := proto.Unmarshal(data, msg); err != nil {
		return nil, fmt.Errorf("decode %s: %w", typeID, err)
	}
	return msg, nil
}

// Fold is Decode for a reader of the whole log: another area's event
// decodes to nil, nil.
func (r *Registry) Fold(typeID string, data []byte) (proto.Message, error) {
	if !r.Has(typeID) {
		return nil, nil
	}
	return r.Decode(typeID, data)
}

package release

import (
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/strata-edge/strata/pkg/eventstore"
)

// SameExcept is a Kind.Same for kinds whose content carries its release
// number in field (version, release): contents are equal when all else is.
func SameExcept[C Content](field protoreflect.Name) func(a, b C) bool {
	return func(a, b C) bool {
		fd := a.ProtoReflect().Descriptor().Fields().ByName(field)
		bv := b.ProtoReflect().Get(fd)
		if !a.ProtoReflect().Get(fd).Equal(bv) {
			c := proto.Clone(a)
			c.ProtoReflect().Set(fd, bv)
			return proto.Equal(c, b)
		}
		return proto.Equal(a, b)
	}
}

// Step kinds Record tells apart, by the fields of the event (every kind's
// release events have the same ones): a revert has to_release, a release
// staging, a promotion release.
const (
	StepRelease = "release"
	StepRevert  = "revert"
	StepPromote = "promote"
)

// Record folds a release, revert or promotion event msg, applied at e, into
// an object's release records, R being the kind's Release message (number,
// note, actor, time, kind, staging, reverted_to, promoted_by,
// promoted_time); n is the object's newest release after msg. It returns the
// records and the step msg was ("" another event: records unchanged).
// Records handed out are never changed: a promotion replaces its record.
func Record[R proto.Message](records []R, msg proto.Message, n uint64, e eventstore.Event) ([]R, string) {
	m := msg.ProtoReflect()
	get := func(name protoreflect.Name) (protoreflect.Value, bool) {
		fd := m.Descriptor().Fields().ByName(name)
		if fd == nil {
			return protoreflect.Value{}, false
		}
		return m.Get(fd), true
	}
	at := protoreflect.ValueOfMessage(timestamppb.New(e.Metadata.Time).ProtoReflect())
	actor := protoreflect.ValueOfString(e.Metadata.Actor)
	add := func(kind string, set func(r protoreflect.Message)) []R {
		var zero R
		r := zero.ProtoReflect().New()
		setField(r, "number", protoreflect.ValueOfUint64(n))
		if note, ok := get("note"); ok {
			setField(r, "note", note)
		}
		setField(r, "actor", actor)
		setField(r, "time", at)
		setField(r, "kind", protoreflect.ValueOfString(kind))
		set(r)
		return append(records, r.Interface().(R))
	}
	if to, ok := get("to_release"); ok {
		return add("revert", func(r protoreflect.Message) { setField(r, "reverted_to", to) }), StepRevert
	}
	if staging, ok := get("staging"); ok {
		return add("release", func(r protoreflect.Message) { setField(r, "staging", staging) }), StepRelease
	}
	promoted, ok := get("release")
	if !ok {
		return records, ""
	}
	for i, r := range records {
		if rm := r.ProtoReflect(); rm.Get(rm.Descriptor().Fields().ByName("number")).Uint() == promoted.Uint() {
			c := proto.Clone(r).(R)
			setField(c.ProtoReflect(), "promoted_by", actor)
			setField(c.ProtoReflect(), "promoted_time", at)
			records[i] = c
		}
	}
	return records, StepPromote
}

func setField(m protoreflect.Message, name protoreflect.Name, v protoreflect.Value) {
	m.Set(m.Descriptor().Fields().ByName(name), v)
}

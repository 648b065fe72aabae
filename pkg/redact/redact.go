// Package redact removes secrets from protobuf messages before they are
// shown (the audit log, the snapshot view of the API). It goes by type, not
// by field name: a field marked [(strata.options.v1.secret) = true], and a
// field whose message type is marked
// option (strata.options.v1.secret_message) = true (WrappedKey,
// SealedNodeKek), is cleared at any depth, in lists and maps too.
package redact

import (
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	optionsv1 "github.com/strata-edge/strata/gen/strata/options/v1"
)

// Message clears every secret field of m, at any depth, in place.
func Message(m protoreflect.Message) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if IsSecret(fd) {
			m.Clear(fd)
			return true
		}
		switch {
		case fd.IsList() && fd.Message() != nil:
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				Message(l.Get(i).Message())
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				Message(mv.Message())
				return true
			})
		case !fd.IsList() && !fd.IsMap() && fd.Message() != nil:
			Message(v.Message())
		}
		return true
	})
}

// Clone returns a copy of m without its secrets; m is left as it is.
func Clone[M proto.Message](m M) M {
	c := proto.Clone(m).(M)
	Message(c.ProtoReflect())
	return c
}

// IsSecret reports whether a field holds secret data, by its own option or
// by its (list element's or map value's) message type.
func IsSecret(fd protoreflect.FieldDescriptor) bool {
	if proto.GetExtension(fd.Options(), optionsv1.E_Secret).(bool) {
		return true
	}
	md := fd.Message()
	if fd.IsMap() {
		md = fd.MapValue().Message()
	}
	return md != nil && proto.GetExtension(md.Options(), optionsv1.E_SecretMessage).(bool)
}

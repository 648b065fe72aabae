package apierr

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/strata-edge/strata/pkg/eventstore"
)

// CheckEventSize refuses an event payload m (encoded as data) that the event
// store would refuse (longer than eventstore.MaxDataLen), naming the field
// of m that holds most of its bytes, so that the caller sees what to shrink
// rather than the store's limit alone.
func CheckEventSize(m proto.Message, data []byte) error {
	if len(data) <= eventstore.MaxDataLen {
		return nil
	}
	field, size := largestField(data, m.ProtoReflect().Descriptor())
	if field == "" {
		field = string(m.ProtoReflect().Descriptor().Name())
	}
	return Invalid(FieldViolation{Field: field, Reason: fmt.Sprintf(
		"is %d bytes encoded, making the change %d bytes, more than the limit of %d bytes per change", size, len(data), eventstore.MaxDataLen)})
}

// largestField returns the path of the field with the most bytes in the
// encoded message b of type md ("settings.domains"), descending into
// singular message fields, and its encoded size.
func largestField(b []byte, md protoreflect.MessageDescriptor) (string, int) {
	sizes := map[protowire.Number]int{}
	last := map[protowire.Number][]byte{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			break
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			break
		}
		sizes[num] += n + m
		if typ == protowire.BytesType {
			last[num], _ = protowire.ConsumeBytes(b[n:])
		}
		b = b[n+m:]
	}
	best, size := protowire.Number(0), 0
	for num, s := range sizes {
		if s > size || (s == size && num < best) {
			best, size = num, s
		}
	}
	fd := md.Fields().ByNumber(best)
	if fd == nil {
		return "", size
	}
	name := string(fd.Name())
	if fd.Message() != nil && !fd.IsList() && !fd.IsMap() {
		if sub, _ := largestField(last[best], fd.Message()); sub != "" {
			name += "." + sub
		}
	}
	return name, size
}

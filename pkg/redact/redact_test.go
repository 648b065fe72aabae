package redact

import (
	"regexp"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	_ "github.com/strata-edge/strata/gen/strata/events/cert/v1"
	_ "github.com/strata-edge/strata/gen/strata/events/config/v1"
	_ "github.com/strata-edge/strata/gen/strata/events/dns/v1"
	_ "github.com/strata-edge/strata/gen/strata/events/iam/v1"
	_ "github.com/strata-edge/strata/gen/strata/events/purge/v1"
	_ "github.com/strata-edge/strata/gen/strata/sync/v1"
)

const sentinel = "s3cr3t-sentinel"

// fill sets every field of m, at every depth (down to depth 0), to a
// non-zero value: strings and bytes hold the sentinel.
func fill(m protoreflect.Message, depth int) {
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if oo := fd.ContainingOneof(); oo != nil && !oo.IsSynthetic() && m.WhichOneof(oo) != nil {
			continue
		}
		switch {
		case fd.IsMap():
			if fd.MapValue().Message() != nil && depth == 0 {
				continue
			}
			mp := m.Mutable(fd).Map()
			k := scalar(fd.MapKey())
			if fd.MapValue().Message() != nil {
				fill(mp.Mutable(k.MapKey()).Message(), depth-1)
			} else {
				mp.Set(k.MapKey(), scalar(fd.MapValue()))
			}
		case fd.IsList():
			if fd.Message() != nil {
				if depth > 0 {
					fill(m.Mutable(fd).List().AppendMutable().Message(), depth-1)
				}
			} else {
				m.Mutable(fd).List().Append(scalar(fd))
			}
		case fd.Message() != nil:
			if depth > 0 {
				fill(m.Mutable(fd).Message(), depth-1)
			}
		default:
			m.Set(fd, scalar(fd))
		}
	}
}

func scalar(fd protoreflect.FieldDescriptor) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(sentinel)
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte(sentinel))
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(true)
	case protoreflect.EnumKind:
		return protoreflect.ValueOfEnum(1)
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(1)
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(1)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(1)
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(1)
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(1)
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(1)
	}
	panic(fd.Kind().String())
}

// secretName is the guard for new fields: a field whose name says it holds
// a secret must be marked (strata.options.v1.secret) or have a type marked
// (strata.options.v1.secret_message); redaction itself goes by the marks.
var secretName = regexp.MustCompile(`password|secret|private|_hash$|hmac|seed|ciphertext|wrapped|passphrase|credential|jwt`)

// notSecret are fields named like secrets that hold none: a switch for
// private destination ranges, and a list whose secret parts
// (ProxyCredential.password, password_hash) are marked themselves.
var notSecret = map[protoreflect.FullName]bool{
	"strata.config.v1.EgressPolicy.allow_private":  true,
	"strata.config.v1.ForwardProxyApp.credentials": true,
}

// TestRedactEveryEventType walks every event message of every service (and
// the sync contract's, which GetSnapshot shows),
// fully populated, through Message (what the audit log runs): no secret field is
// left at any depth, and every field named like a secret is marked as one.
func TestRedactEveryEventType(t *testing.T) {
	var msgs []protoreflect.MessageDescriptor
	protoregistry.GlobalFiles.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		// Every event type, and what the API shows of snapshots.
		if strings.HasPrefix(string(fd.Package()), "strata.events.") || fd.Package() == "strata.sync.v1" {
			for i := 0; i < fd.Messages().Len(); i++ {
				msgs = append(msgs, fd.Messages().Get(i))
			}
		}
		return true
	})
	if len(msgs) < 60 {
		t.Fatalf("found %d event messages, want every service's (>= 60)", len(msgs))
	}
	checked := map[protoreflect.FullName]bool{}
	var lint func(md protoreflect.MessageDescriptor)
	lint = func(md protoreflect.MessageDescriptor) {
		if checked[md.FullName()] {
			return
		}
		checked[md.FullName()] = true
		for i := 0; i < md.Fields().Len(); i++ {
			fd := md.Fields().Get(i)
			if IsSecret(fd) {
				continue
			}
			if secretName.MatchString(string(fd.Name())) && !notSecret[fd.FullName()] {
				t.Errorf("%s looks like a secret but is not marked [(strata.options.v1.secret) = true]", fd.FullName())
			}
			if sub := fd.Message(); sub != nil && !fd.IsMap() {
				lint(sub)
			} else if fd.IsMap() && fd.MapValue().Message() != nil {
				lint(fd.MapValue().Message())
			}
		}
	}
	secrets := 0
	for _, md := range msgs {
		lint(md)
		mt, err := protoregistry.GlobalTypes.FindMessageByName(md.FullName())
		if err != nil {
			t.Fatal(err)
		}
		m := mt.New()
		fill(m, 5)
		secrets += countSecrets(m)
		Message(m)
		if n := countSecrets(m); n != 0 {
			t.Errorf("%s: %d secret fields left after redact", md.FullName(), n)
		}
	}
	t.Logf("%d event messages, %d secret fields filled and redacted", len(msgs), secrets)
	if secrets < 10 {
		t.Fatalf("only %d secret fields in all event types: the walk is not reaching them", secrets)
	}
}

// countSecrets counts set secret fields of m at any depth.
func countSecrets(m protoreflect.Message) int {
	n := 0
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if IsSecret(fd) {
			n++
			return true
		}
		switch {
		case fd.IsList() && fd.Message() != nil:
			for i := 0; i < v.List().Len(); i++ {
				n += countSecrets(v.List().Get(i).Message())
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				n += countSecrets(mv.Message())
				return true
			})
		case !fd.IsList() && !fd.IsMap() && fd.Message() != nil:
			n += countSecrets(v.Message())
		}
		return true
	})
	return n
}

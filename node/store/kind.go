package store

import (
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/pkg/natsutil"
)

// Object is a stored object of any kind: a message with an id.
type Object interface {
	proto.Message
	GetId() string
}

// kind is one row of the kinds table (kinds.go).
type kind struct {
	name   string
	bucket []byte
	typ    protoreflect.FullName
	decode func([]byte) (Object, error)
	get    func(*syncv1.Snapshot) []Object
	set    func(*syncv1.Snapshot, []Object)
	// patch sets next's field to cur's (sorted by id) with deletes removed
	// and upserts replacing or adding objects: O(changes * log n) searches
	// and one copy of the slice, sharing it whole when nothing changed.
	patch func(cur, next *syncv1.Snapshot, upserts []Object, deletes []string)
}

func kindOf[T Object](name, bucket string, field func(*syncv1.Snapshot) *[]T) kind {
	var zero T
	return kind{
		name: name, bucket: []byte(bucket), typ: zero.ProtoReflect().Descriptor().FullName(),
		decode: func(b []byte) (Object, error) {
			m := zero.ProtoReflect().New().Interface().(T)
			return m, proto.Unmarshal(b, m)
		},
		get: func(s *syncv1.Snapshot) []Object {
			f := *field(s)
			out := make([]Object, len(f))
			for i, o := range f {
				out[i] = o
			}
			return out
		},
		set: func(s *syncv1.Snapshot, objs []Object) {
			f := make([]T, 0, len(objs))
			for _, o := range objs {
				f = append(f, o.(T))
			}
			*field(s) = f
		},
		patch: func(cur, next *syncv1.Snapshot, upserts []Object, deletes []string) {
			ups := make([]T, len(upserts))
			for i, o := range upserts {
				ups[i] = o.(T)
			}
			*field(next) = patchSorted(*field(cur), ups, deletes)
		},
	}
}

// kindIndex returns the index of the kind named name in kinds, or -1.
func kindIndex(name string) int {
	return slices.IndexFunc(kinds, func(k kind) bool { return k.name == name })
}

// checkSchema refuses a bundle or delta of another contract version, saying
// which side to upgrade.
func checkSchema(schema uint32) error {
	switch {
	case schema > natsutil.SyncSchema:
		return fmt.Errorf("%w: sync schema %d is newer than this node understands (%d): upgrade the node", ErrUpgrade, schema, natsutil.SyncSchema)
	case schema < natsutil.SyncSchema:
		return fmt.Errorf("%w: sync schema %d is older than this node's (%d): upgrade the control plane", ErrUpgrade, schema, natsutil.SyncSchema)
	}
	return nil
}

// decoded is the content of resources, grouped by kind (index in kinds).
type decoded map[int][]Object

// decodeResources decodes rs (field names the message field for errors),
// rejecting unknown kinds, missing or mismatched ids and duplicates.
func decodeResources(rs []*syncv1.Resource, field string) (decoded, error) {
	out := decoded{}
	seen := map[string]bool{}
	for i, r := range rs {
		ki := kindIndex(r.GetKind())
		if ki < 0 {
			return nil, fmt.Errorf("%w: %s[%d].kind %q is unknown to this node: upgrade the node", ErrUpgrade, field, i, r.GetKind())
		}
		key := r.GetKind() + "/" + r.GetId()
		switch {
		case r.GetId() == "":
			return nil, fmt.Errorf("%s[%d].id: required (kind %s)", field, i, r.GetKind())
		case seen[key]:
			return nil, fmt.Errorf("%s[%d].id %q: duplicate %s", field, i, r.GetId(), r.GetKind())
		}
		seen[key] = true
		k := kinds[ki]
		o, err := k.decode(r.GetPayload())
		if err != nil {
			return nil, fmt.Errorf("%s[%d] (%s %q): decode: %w", field, i, k.name, r.GetId(), err)
		}
		if o.GetId() != r.GetId() {
			return nil, fmt.Errorf("%s[%d].id %q: the %s in the payload has id %q", field, i, r.GetId(), k.name, o.GetId())
		}
		out[ki] = append(out[ki], o)
	}
	return out, nil
}

// Resource encodes o, an object of a kind of the table, as a resource
// (tests and tools build deltas and bundles with it). It panics on a type
// that is no kind: that is a programming error.
func Resource(o Object, version uint64) *syncv1.Resource {
	for _, k := range kinds {
		if k.typ == o.ProtoReflect().Descriptor().FullName() {
			b, err := marshal.Marshal(o)
			if err != nil {
				panic(err)
			}
			return &syncv1.Resource{Kind: k.name, Id: o.GetId(), Version: version, Payload: b}
		}
	}
	panic(fmt.Sprintf("store: %s is no resource kind", o.ProtoReflect().Descriptor().FullName()))
}

// Upserts is Resource for several objects, of any kinds.
func Upserts(objs ...Object) []*syncv1.Resource {
	out := make([]*syncv1.Resource, len(objs))
	for i, o := range objs {
		out[i] = Resource(o, 0)
	}
	return out
}

// Refs names objects of one kind to delete.
func Refs(kind string, ids ...string) []*syncv1.ResourceRef {
	out := make([]*syncv1.ResourceRef, len(ids))
	for i, id := range ids {
		out[i] = &syncv1.ResourceRef{Kind: kind, Id: id}
	}
	return out
}

// BundleOf is the wire form of a Snapshot view.
func BundleOf(s *syncv1.Snapshot) *syncv1.Bundle {
	b := &syncv1.Bundle{PartitionId: s.GetPartitionId(), Staging: s.GetStaging(), Version: s.GetVersion(),
		CreatedAt: s.GetCreatedAt(), Schema: natsutil.SyncSchema}
	for _, k := range kinds {
		objs := k.get(s)
		slices.SortFunc(objs, func(a, b Object) int { return strings.Compare(a.GetId(), b.GetId()) })
		for _, o := range objs {
			b.Resources = append(b.Resources, Resource(o, s.GetVersion()))
		}
	}
	return b
}

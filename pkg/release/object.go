package release

import (
	"slices"

	"google.golang.org/protobuf/proto"
)

// Object is a member of a content's list that a revert can restore alone:
// an app's upstream or rule (a zone's record would be one too).
type Object interface {
	proto.Message
	GetId() string
	GetName() string
}

// Find returns the index of the object ref names in list, by id before
// name (-1: none).
func Find[O Object](list []O, ref string) int {
	if ref == "" {
		return -1
	}
	if i := slices.IndexFunc(list, func(o O) bool { return o.GetId() == ref }); i >= 0 {
		return i
	}
	return slices.IndexFunc(list, func(o O) bool { return o.GetName() == ref })
}

// Target is what a revert of one object restores: the object's id, found
// by ref in the first of lists that has it (the target release, the newest
// release, the working copy, so that a name of then or of now works), and
// a copy of its content and its index in target (nil and -1: it did not
// exist then; id "": ref names nothing).
func Target[O Object](ref string, target []O, lists ...[]O) (id string, o O, at int) {
	for _, l := range append([][]O{target}, lists...) {
		if i := Find(l, ref); i >= 0 {
			id = l[i].GetId()
			break
		}
	}
	if at = Find(target, id); id != "" && at >= 0 {
		return id, proto.Clone(target[at]).(O), at
	}
	return id, o, -1
}

// Restore returns a new list with object id restored to o: removed when o
// is absent (nil), else at index at, or (at < 0) in its place or appended.
func Restore[O Object](list []O, id string, o O, at int) []O {
	out := slices.Clone(list)
	i := slices.IndexFunc(out, func(x O) bool { return x.GetId() == id })
	switch {
	case !o.ProtoReflect().IsValid():
		if i >= 0 {
			out = slices.Delete(out, i, i+1)
		}
	case at < 0 && i >= 0:
		out[i] = o
	case at < 0:
		out = append(out, o)
	default:
		if i >= 0 {
			out = slices.Delete(out, i, i+1)
		}
		out = slices.Insert(out, min(at, len(out)), o)
	}
	return out
}

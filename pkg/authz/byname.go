package authz

import (
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
)

// ErrAmbiguous is returned (wrapped) for a name that several objects have.
// Such an error is also ErrUnknownObject: it resolves to nothing.
var ErrAmbiguous = errors.New("ambiguous name")

type ambiguousError struct{ msg string }

func (e ambiguousError) Error() string { return e.msg }
func (e ambiguousError) Is(target error) bool {
	return target == ErrAmbiguous || target == ErrUnknownObject
}

// ByIDOrName is the one rule for naming an object by id or name, used by
// every service that resolves references: the object whose id is ref, else
// the one object named ref. When several have that name the error lists
// them (label, sorted) so the caller can give an id; when none, it wraps
// ErrUnknownObject. id and name read an object's id and name.
func ByIDOrName[T any](kind, ref string, objs iter.Seq[T], id, name, label func(T) string) (T, error) {
	var zero T
	var named []T
	for o := range objs {
		if id(o) == ref {
			return o, nil
		}
		if name(o) == ref {
			named = append(named, o)
		}
	}
	switch len(named) {
	case 0:
		return zero, fmt.Errorf("%s %q: %w", kind, ref, ErrUnknownObject)
	case 1:
		return named[0], nil
	}
	labels := make([]string, len(named))
	for i, o := range named {
		labels[i] = label(o)
	}
	slices.Sort(labels)
	return zero, ambiguousError{fmt.Sprintf("%s name %q is ambiguous, give one of the ids: %s", kind, ref, strings.Join(labels, ", "))}
}

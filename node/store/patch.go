package store

import (
	"slices"
	"strings"
)

// patchSorted returns cur (sorted by id, no duplicates) with the objects
// named by deletes removed and upserts replacing or adding objects, sorted
// by id. cur is not modified and is returned as is when nothing changes;
// unchanged objects are shared (snapshots are immutable). A delta of k
// changes to n objects costs k binary searches and one copy of n pointers,
// not a map of n ids: with a million apps the copy is the whole cost.
func patchSorted[T Object](cur, upserts []T, deletes []string) []T {
	if len(upserts) == 0 && len(deletes) == 0 {
		return cur
	}
	type change struct {
		id  string
		obj T // zero for a delete
		del bool
	}
	cs := make([]change, 0, len(upserts)+len(deletes))
	for _, o := range upserts {
		cs = append(cs, change{id: o.GetId(), obj: o})
	}
	for _, id := range deletes {
		cs = append(cs, change{id: id, del: true})
	}
	slices.SortFunc(cs, func(a, b change) int { return strings.Compare(a.id, b.id) })
	out := make([]T, 0, len(cur)+len(upserts))
	rest := cur
	for _, c := range cs {
		i, found := slices.BinarySearchFunc(rest, c.id, func(o T, id string) int { return strings.Compare(o.GetId(), id) })
		out = append(out, rest[:i]...)
		if found {
			i++ // replaced or deleted
		}
		rest = rest[i:]
		if !c.del {
			out = append(out, c.obj)
		}
	}
	return append(out, rest...)
}

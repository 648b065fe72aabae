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

// Diff returns the objects of old that cur does not hold at the same place
// and the indexes in cur of objects old does not hold there: what a runtime
// compiled from old recompiles for cur. The store's snapshots are sorted by
// id and share unchanged objects, so this is one walk comparing pointers;
// on unsorted input it still is correct (old minus gone plus came is cur),
// only larger.
func Diff[T interface {
	Object
	comparable
}](old, cur []T) (gone []T, came []int) {
	i, j := 0, 0
	for i < len(old) && j < len(cur) {
		if old[i] == cur[j] {
			i, j = i+1, j+1
			continue
		}
		switch c := strings.Compare(old[i].GetId(), cur[j].GetId()); {
		case c == 0:
			gone, came = append(gone, old[i]), append(came, j)
			i, j = i+1, j+1
		case c < 0:
			gone = append(gone, old[i])
			i++
		default:
			came = append(came, j)
			j++
		}
	}
	gone = append(gone, old[i:]...)
	for ; j < len(cur); j++ {
		came = append(came, j)
	}
	return gone, came
}

// Subset is the objects of successive snapshots (of one kind) that Keep
// accepts, in snapshot order: the stream and forward-proxy apps among a
// million HTTP apps. When no object a delta changed is one Keep accepts,
// before or after, the previous list is reused after one Diff walk;
// otherwise the snapshot is read again. The zero value with Keep set is
// ready; calls must not run concurrently.
type Subset[T interface {
	Object
	comparable
}] struct {
	Keep       func(T) bool
	src, items []T
	valid      bool
}

// Of returns the objects of cur that Keep accepts, in order (shared: do
// not modify).
func (s *Subset[T]) Of(cur []T) []T {
	if s.valid {
		gone, came := Diff(s.src, cur)
		if !slices.ContainsFunc(gone, s.Keep) && !slices.ContainsFunc(came, func(i int) bool { return s.Keep(cur[i]) }) {
			s.src = cur
			return s.items
		}
	}
	var items []T
	for _, o := range cur {
		if s.Keep(o) {
			items = append(items, o)
		}
	}
	s.src, s.items, s.valid = cur, items, true
	return items
}

package store

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

// TestPatchSortedMatchesMap checks patchSorted against the obvious model:
// a map of id -> object, sorted at the end.
func TestPatchSortedMatchesMap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 500 {
		model := map[string]*configv1.App{}
		var cur []*configv1.App
		for i := range r.IntN(30) {
			a := &configv1.App{Id: fmt.Sprintf("a%02d", i*2)}
			model[a.Id] = a
			cur = append(cur, a)
		}
		var ups []*configv1.App
		var dels []string
		seen := map[string]bool{}
		for range r.IntN(8) {
			id := fmt.Sprintf("a%02d", r.IntN(64))
			if seen[id] {
				continue
			}
			seen[id] = true
			if r.IntN(2) == 0 {
				dels = append(dels, id)
				delete(model, id)
			} else {
				a := &configv1.App{Id: id, Name: "new"}
				ups = append(ups, a)
				model[id] = a
			}
		}
		before := slices.Clone(cur)
		got := patchSorted(cur, ups, dels)
		want := make([]*configv1.App, 0, len(model))
		for _, a := range model {
			want = append(want, a)
		}
		slices.SortFunc(want, func(a, b *configv1.App) int { return strings.Compare(a.Id, b.Id) })
		if !slices.Equal(got, want) {
			t.Fatalf("round %d: cur %v ups %v dels %v: got %v, want %v", round, appIDs(cur), appIDs(ups), dels, appIDs(got), appIDs(want))
		}
		if !slices.Equal(cur, before) {
			t.Fatalf("round %d: cur was modified", round)
		}
	}
}

func appIDs(as []*configv1.App) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.Id
	}
	return out
}

// TestDiff checks that old minus gone plus came is cur, as multisets of
// objects, and that sorted input sharing objects gives only the changes.
func TestDiff(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	pool := make([]*configv1.App, 12)
	for i := range pool {
		pool[i] = &configv1.App{Id: fmt.Sprintf("a%02d", i%8)} // ids repeat: changed objects
	}
	pick := func() []*configv1.App {
		var out []*configv1.App
		for _, a := range pool {
			if r.IntN(2) == 0 {
				out = append(out, a)
			}
		}
		r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
		return out
	}
	for round := range 500 {
		old, cur := pick(), pick()
		gone, came := Diff(old, cur)
		count := map[*configv1.App]int{}
		for _, a := range old {
			count[a]++
		}
		for _, a := range gone {
			count[a]--
		}
		for _, i := range came {
			count[cur[i]]++
		}
		for _, a := range cur {
			count[a]--
		}
		for a, n := range count {
			if n != 0 {
				t.Fatalf("round %d: %s counted %d times too many", round, a.Id, n)
			}
		}
	}
	a, b, b2, c := &configv1.App{Id: "a"}, &configv1.App{Id: "b"}, &configv1.App{Id: "b"}, &configv1.App{Id: "c"}
	gone, came := Diff([]*configv1.App{a, b, c}, []*configv1.App{a, b2, c})
	if len(gone) != 1 || gone[0] != b || len(came) != 1 || came[0] != 1 {
		t.Fatalf("one changed object: gone %v came %v", appIDs(gone), came)
	}
}

// TestSubsetFollowsSnapshots checks Subset.Of against a filter of the whole
// slice while objects enter, change and leave the subset.
func TestSubsetFollowsSnapshots(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	s := Subset[*configv1.App]{Keep: func(a *configv1.App) bool { return a.Name == "keep" }}
	var cur []*configv1.App
	for step := range 300 {
		next := slices.Clone(cur)
		id := fmt.Sprintf("a%02d", r.IntN(20))
		i := slices.IndexFunc(next, func(a *configv1.App) bool { return a.Id == id })
		a := &configv1.App{Id: id, Name: []string{"keep", "other"}[r.IntN(2)]}
		switch {
		case i < 0:
			next = append(next, a)
			slices.SortFunc(next, func(a, b *configv1.App) int { return strings.Compare(a.Id, b.Id) })
		case r.IntN(3) == 0:
			next = slices.Delete(next, i, i+1)
		default:
			next[i] = a
		}
		var want []*configv1.App
		for _, a := range next {
			if a.Name == "keep" {
				want = append(want, a)
			}
		}
		if got := s.Of(next); !slices.Equal(got, want) {
			t.Fatalf("step %d: %v, want %v", step, appIDs(got), appIDs(want))
		}
		cur = next
	}
}

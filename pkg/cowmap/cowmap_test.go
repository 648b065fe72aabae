package cowmap

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"
)

// TestCloneIsolation checks a chain of clones against plain maps: every
// version keeps its own content whatever its clones write.
func TestCloneIsolation(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var m Map[int]
	model := map[string]int{}
	type version struct {
		m     *Map[int]
		model map[string]int
	}
	var versions []version
	for round := range 50 {
		next := m.Clone()
		nextModel := maps.Clone(model)
		for range r.IntN(200) {
			k := fmt.Sprint(r.IntN(3000))
			if r.IntN(3) == 0 {
				next.Delete(k)
				delete(nextModel, k)
			} else {
				next.Set(k, round)
				nextModel[k] = round
			}
		}
		versions = append(versions, version{&next, nextModel})
		m, model = next, nextModel
	}
	for i, v := range versions {
		if v.m.Len() != len(v.model) {
			t.Fatalf("version %d: Len %d, want %d", i, v.m.Len(), len(v.model))
		}
		got := maps.Collect(v.m.All())
		if !maps.Equal(got, v.model) {
			t.Fatalf("version %d: content differs from the model", i)
		}
		for k, want := range v.model {
			if g, ok := v.m.Get(k); !ok || g != want {
				t.Fatalf("version %d: Get(%q) = %d, %v; want %d", i, k, g, ok, want)
			}
		}
	}
}

func TestZeroValue(t *testing.T) {
	var m Map[string]
	if _, ok := m.Get("x"); ok || m.Len() != 0 {
		t.Fatal("zero map is not empty")
	}
	c := m.Clone()
	c.Delete("x")
	c.Set("x", "y")
	if v, _ := c.Get("x"); v != "y" || c.Len() != 1 {
		t.Fatalf("Get = %q, Len %d", v, c.Len())
	}
}

func BenchmarkSetAfterClone(b *testing.B) {
	var m Map[int]
	for i := range 1_000_000 {
		m.Set(fmt.Sprint("app-", i), i)
	}
	b.ResetTimer()
	for i := range b.N {
		c := m.Clone()
		c.Set(fmt.Sprint("app-", i%1_000_000), -1)
	}
}

func BenchmarkGet(b *testing.B) {
	var m Map[int]
	for i := range 1_000_000 {
		m.Set(fmt.Sprint("app-", i), i)
	}
	k := "app-4242"
	b.ResetTimer()
	for range b.N {
		m.Get(k)
	}
}

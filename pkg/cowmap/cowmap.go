// Package cowmap is a string-keyed map shared between versions of a
// read-only structure: Clone costs a table of shard pointers, and a write to
// the clone copies only the shard it touches. The node's routing runtime
// keeps a million apps and domains in such maps, so a delta that changes one
// app copies a few thousand entries instead of rebuilding every map.
//
// Readers of a Map that is no longer written need no lock. Writes must not
// run concurrently with anything else on the same Map, and a Map that was
// cloned must not be written again (its clone shares its shards).
package cowmap

import (
	"hash/maphash"
	"iter"
	"maps"
)

// shards is a power of two: with a million keys a shard holds ~250, the
// cost of one write after Clone.
const shards = 4096

var seed = maphash.MakeSeed()

// Map is the copy-on-write map. The zero value is empty and ready to use.
type Map[V any] struct {
	t *table[V]
	n int
}

type table[V any] struct {
	m     [shards]map[string]V
	owned [shards / 64]uint64 // shards this table may write in place
}

func shardOf(k string) int { return int(maphash.String(seed, k) & (shards - 1)) }

// Get returns the value stored under k.
func (m *Map[V]) Get(k string) (V, bool) {
	if m.t == nil {
		var zero V
		return zero, false
	}
	v, ok := m.t.m[shardOf(k)][k]
	return v, ok
}

// Len is the number of keys.
func (m *Map[V]) Len() int { return m.n }

// Clone returns a map with the same content that shares m's shards until
// it is written. m must not be written afterwards.
func (m *Map[V]) Clone() Map[V] {
	if m.t == nil {
		return Map[V]{}
	}
	t := &table[V]{m: m.t.m}
	return Map[V]{t: t, n: m.n}
}

// shard returns k's shard, made writable (copied when shared).
func (m *Map[V]) shard(k string) map[string]V {
	if m.t == nil {
		m.t = new(table[V])
	}
	i := shardOf(k)
	if m.t.owned[i/64]&(1<<(i%64)) == 0 {
		if m.t.m[i] == nil {
			m.t.m[i] = make(map[string]V)
		} else {
			m.t.m[i] = maps.Clone(m.t.m[i])
		}
		m.t.owned[i/64] |= 1 << (i % 64)
	}
	return m.t.m[i]
}

// Set stores v under k.
func (m *Map[V]) Set(k string, v V) {
	s := m.shard(k)
	if _, ok := s[k]; !ok {
		m.n++
	}
	s[k] = v
}

// Delete removes k.
func (m *Map[V]) Delete(k string) {
	if _, ok := m.Get(k); !ok {
		return
	}
	delete(m.shard(k), k)
	m.n--
}

// All yields every key and value, in no particular order.
func (m *Map[V]) All() iter.Seq2[string, V] {
	return func(yield func(string, V) bool) {
		if m.t == nil {
			return
		}
		for _, s := range m.t.m {
			for k, v := range s {
				if !yield(k, v) {
					return
				}
			}
		}
	}
}

// Package cachetest is the conformance suite every cache.Store passes.
package cachetest

import (
	"bytes"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/strata-edge/strata/node/cache"
)

// Opener opens a fresh, empty store with the given budget.
type Opener func(t *testing.T, maxBytes int64, onEvict cache.EvictFunc) cache.Store

// Object builds a test object with a body of n bytes.
func Object(key string, n int) *cache.Object {
	now := time.Unix(1_700_000_000, 0).UTC()
	return &cache.Object{
		Meta: cache.Meta{
			Key: key, Primary: key, Host: "example.com", Path: "/" + key, Status: 200,
			Header:     http.Header{"Content-Type": {"text/plain"}, "Etag": {`"v1"`}},
			Tags:       []string{"t1", "t2"},
			StoredAt:   now,
			FreshUntil: now.Add(time.Minute),
		},
		Body: bytes.Repeat([]byte{byte(len(key))}, n),
	}
}

// Run runs the suite.
func Run(t *testing.T, open Opener) {
	t.Run("put get round trip", func(t *testing.T) {
		s := open(t, 1<<20, nil)
		want := Object("a", 100)
		if err := s.Put(want); err != nil {
			t.Fatal(err)
		}
		got, ok := s.Get("a")
		if !ok {
			t.Fatal("miss after put")
		}
		if !bytes.Equal(got.Body, want.Body) || got.Meta.Status != 200 || got.Meta.Header.Get("Etag") != `"v1"` ||
			!got.Meta.FreshUntil.Equal(want.Meta.FreshUntil) || len(got.Meta.Tags) != 2 || got.Meta.Path != "/a" {
			t.Fatalf("got %+v", got.Meta)
		}
		if _, ok := s.Get("b"); ok {
			t.Fatal("hit for a key never stored")
		}
		if s.Len() != 1 || s.Size() <= 100 {
			t.Fatalf("len %d size %d", s.Len(), s.Size())
		}
	})
	t.Run("replace keeps one object", func(t *testing.T) {
		s := open(t, 1<<20, nil)
		_ = s.Put(Object("a", 100))
		o := Object("a", 50)
		o.Meta.Status = 404
		if err := s.Put(o); err != nil {
			t.Fatal(err)
		}
		got, _ := s.Get("a")
		if got == nil || got.Meta.Status != 404 || len(got.Body) != 50 || s.Len() != 1 {
			t.Fatalf("got %+v len %d", got, s.Len())
		}
	})
	t.Run("delete", func(t *testing.T) {
		s := open(t, 1<<20, nil)
		_ = s.Put(Object("a", 10))
		if !s.Delete("a") || s.Delete("a") {
			t.Fatal("delete should report presence once")
		}
		if _, ok := s.Get("a"); ok || s.Len() != 0 || s.Size() != 0 {
			t.Fatalf("after delete len %d size %d", s.Len(), s.Size())
		}
	})
	t.Run("evicts least recently used within budget", func(t *testing.T) {
		var mu sync.Mutex
		var evicted []string
		s := open(t, 4200, func(k string) { mu.Lock(); evicted = append(evicted, k); mu.Unlock() })
		for _, k := range []string{"a", "b", "c"} {
			if err := s.Put(Object(k, 1000)); err != nil {
				t.Fatal(err)
			}
		}
		s.Get("a") // a is now more recent than b
		_ = s.Put(Object("d", 1000))
		if _, ok := s.Get("b"); ok {
			t.Fatal("b should have been evicted")
		}
		for _, k := range []string{"a", "c", "d"} {
			if _, ok := s.Get(k); !ok {
				t.Fatalf("%s evicted, want b", k)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if fmt.Sprint(evicted) != "[b]" {
			t.Fatalf("evicted %v", evicted)
		}
		if s.Size() > 4200 {
			t.Fatalf("size %d over budget", s.Size())
		}
	})
	t.Run("rejects an object larger than the store", func(t *testing.T) {
		s := open(t, 1000, nil)
		if err := s.Put(Object("big", 5000)); err != cache.ErrTooLarge {
			t.Fatalf("err %v, want ErrTooLarge", err)
		}
	})
	t.Run("range lists every object", func(t *testing.T) {
		s := open(t, 1<<20, nil)
		for i := range 10 {
			_ = s.Put(Object(fmt.Sprint("k", i), 10))
		}
		seen := map[string]bool{}
		s.Range(func(m *cache.Meta) bool { seen[m.Key] = true; return true })
		if len(seen) != 10 {
			t.Fatalf("range saw %d", len(seen))
		}
		n := 0
		s.Range(func(*cache.Meta) bool { n++; return n < 3 })
		if n != 3 {
			t.Fatalf("range did not stop: %d", n)
		}
	})
	t.Run("concurrent use", func(t *testing.T) {
		s := open(t, 64<<10, nil)
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 200 {
					k := fmt.Sprint("k", (i*7+g)%50)
					switch i % 3 {
					case 0:
						_ = s.Put(Object(k, 500))
					case 1:
						if o, ok := s.Get(k); ok && len(o.Body) != 500 {
							t.Errorf("torn object %q: %d bytes", k, len(o.Body))
						}
					default:
						s.Delete(k)
					}
				}
			}()
		}
		wg.Wait()
		if s.Size() > 64<<10 || s.Size() < 0 {
			t.Fatalf("size %d", s.Size())
		}
	})
}

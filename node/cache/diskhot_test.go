package cache_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/strata-edge/strata/node/cache"
	"github.com/strata-edge/strata/node/cache/cachetest"
)

func openHot(t *testing.T, max, hot int64, ev cache.EvictFunc) *cache.Disk {
	t.Helper()
	d, err := cache.OpenDisk(t.TempDir(), max, ev)
	if err != nil {
		t.Fatal(err)
	}
	d.SetHotBytes(hot)
	return d
}

func TestDiskHotConformance(t *testing.T) {
	cachetest.Run(t, func(t *testing.T, max int64, ev cache.EvictFunc) cache.Store { return openHot(t, max, max/2, ev) })
}

// With a RAM tier, a hit returns the object kept in memory; a delete, a
// replacing put or an eviction takes it out with the file.
func TestDiskHotTier(t *testing.T) {
	d := openHot(t, 1<<20, 1<<16, nil)
	a1 := cachetest.Object("a", 100)
	_ = d.Put(a1)
	if got, ok := d.Get("a"); !ok || got != a1 {
		t.Fatalf("Get after Put: %p %v, want the object put (%p) from RAM", got, ok, a1)
	}
	a2 := cachetest.Object("a", 200)
	_ = d.Put(a2)
	if got, ok := d.Get("a"); !ok || got != a2 {
		t.Fatalf("Get after a replacing Put: %d bytes, want the new object", len(got.Body))
	}
	d.Delete("a")
	if _, ok := d.Get("a"); ok {
		t.Fatal("deleted object served from RAM")
	}
	// Reopened: the first Get reads the file, the next ones share its copy.
	dir := t.TempDir()
	d1, _ := cache.OpenDisk(dir, 1<<20, nil)
	_ = d1.Put(cachetest.Object("b", 100))
	d2, _ := cache.OpenDisk(dir, 1<<20, nil)
	d2.SetHotBytes(1 << 16)
	first, ok1 := d2.Get("b")
	second, ok2 := d2.Get("b")
	if !ok1 || !ok2 || first != second {
		t.Fatalf("reads after reopen: %v %v, same object %v", ok1, ok2, first == second)
	}
	// Objects over a quarter of the tier stay on disk only.
	big := cachetest.Object("big", 1<<15)
	_ = d.Put(big)
	if got, ok := d.Get("big"); !ok || got == big {
		t.Fatalf("big object: %v, from RAM %v; want it read from disk", ok, got == big)
	}
}

// Gets racing with deletes and replacing puts never resurrect a deleted or
// replaced object (run with -race).
func TestDiskHotTierRaces(t *testing.T) {
	d := openHot(t, 1<<22, 1<<18, nil)
	for round := range 4 {
		key := fmt.Sprint("k", round)
		_ = d.Put(cachetest.Object(key, 100))
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
						d.Get(key)
					}
				}
			}()
		}
		last := cachetest.Object(key, 300)
		for i := range 8 {
			_ = d.Put(cachetest.Object(key, 100+i))
		}
		_ = d.Put(last)
		close(stop)
		wg.Wait()
		if got, ok := d.Get(key); !ok || len(got.Body) != len(last.Body) {
			t.Fatalf("round %d: after the last put got %v %d bytes, want %d", round, ok, len(got.Body), len(last.Body))
		}
		d.Delete(key)
		if _, ok := d.Get(key); ok {
			t.Fatalf("round %d: deleted object served", round)
		}
	}
}

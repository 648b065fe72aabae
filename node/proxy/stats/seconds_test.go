package stats

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
)

func codes(s *metricsv1.AppSecond) map[uint32]uint64 {
	m := map[uint32]uint64{}
	for _, c := range s.Status {
		m[c.Code] += c.Count
	}
	return m
}

// Concurrent recorders over several seconds: every request lands in its
// second exactly once, with its code, bytes and latency.
func TestSecondsExactUnderConcurrency(t *testing.T) {
	a := NewApp(true)
	base := time.Unix(1_700_000_000, 0)
	const workers, perSecond, secs = 8, 500, 4
	// Seconds follow each other as on a clock: all workers record the
	// second, then the next starts.
	for s := range secs {
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				at := base.Add(time.Duration(s)*time.Second + 100*time.Millisecond)
				for i := range perSecond {
					code := 200
					if i%5 == 0 {
						code = 503
					}
					a.Done(&Done{Status: code, BytesIn: 1, BytesOut: 10, Latency: time.Duration(w+1) * time.Millisecond,
						Path: fmt.Sprintf("/p%d", i%3), At: at})
					a.Attempt(at, "10.0.0.1:80", 2*time.Millisecond, AttemptOK)
				}
			})
		}
		wg.Wait()
	}
	out, dropped := a.TakeSeconds("app", base.Unix()+secs, nil)
	if dropped != 0 || len(out) != secs {
		t.Fatalf("%d seconds, %d dropped; want %d, 0", len(out), dropped, secs)
	}
	for i, s := range out {
		if s.UnixSecond != base.Unix()+int64(i) || s.AppId != "app" {
			t.Fatalf("second %d: %d %q", i, s.UnixSecond, s.AppId)
		}
		n := uint64(workers * perSecond)
		if s.Requests != n || s.BytesIn != n || s.BytesOut != 10*n {
			t.Fatalf("second %d: %d requests, %d/%d bytes", i, s.Requests, s.BytesIn, s.BytesOut)
		}
		if c := codes(s); c[200] != n*4/5 || c[503] != n/5 || len(c) != 2 {
			t.Fatalf("second %d codes %v", i, c)
		}
		if s.LatencyMs.GetCount() != n || s.LatencyMs.GetMax() != workers {
			t.Fatalf("second %d latency %v", i, s.LatencyMs)
		}
		if len(s.Upstreams) != 1 || s.Upstreams[0].Attempts != n || s.Upstreams[0].LatencyMs.GetCount() != n {
			t.Fatalf("second %d upstreams %v", i, s.Upstreams)
		}
		if len(s.Paths) != 3 || s.Paths[0].Error != 0 {
			t.Fatalf("second %d paths %v", i, s.Paths)
		}
	}
	if again, _ := a.TakeSeconds("app", base.Unix()+secs, nil); len(again) != 0 {
		t.Fatalf("taken twice: %v", again)
	}
}

// The open second stays until it is over; a second nobody takes in time is
// dropped and counted, never grows memory.
func TestSecondsBounds(t *testing.T) {
	a := NewApp(true)
	base := time.Unix(1_700_000_000, 0)
	a.Done(&Done{Status: 200, At: base})
	if out, _ := a.TakeSeconds("a", base.Unix(), nil); len(out) != 0 {
		t.Fatalf("the open second was taken: %v", out)
	}
	for s := range MaxClosed + 5 {
		a.Done(&Done{Status: 200, At: base.Add(time.Duration(s) * time.Second)})
	}
	out, dropped := a.TakeSeconds("a", base.Unix()+MaxClosed+5, nil)
	// 2 open + MaxClosed closed at most are kept; the rest dropped.
	if got := uint64(len(out)) + dropped; got != MaxClosed+5 || len(out) > MaxClosed+2 {
		t.Fatalf("%d seconds + %d dropped, want %d in all", len(out), dropped, MaxClosed+5)
	}

	// Caps: codes, servers, cache statuses, paths.
	b := NewApp(true)
	for i := range 100 {
		d := &Done{Status: 200 + i, Path: fmt.Sprintf("/%d", i), Cache: fmt.Sprintf("C%d", i%20), At: base}
		b.Done(d)
		b.Attempt(base, fmt.Sprintf("10.0.0.%d:80", i), time.Millisecond, UpstreamConnect)
	}
	out, _ = b.TakeSeconds("b", base.Unix()+1, nil)
	s := out[0]
	if len(s.Status) != MaxCodes || codes(s)[0] != 100-(MaxCodes-1) {
		t.Fatalf("codes %v", s.Status)
	}
	if len(s.Upstreams) != MaxServers || s.Upstreams[MaxServers-1].Server != OtherName || s.Upstreams[MaxServers-1].Attempts != 100-(MaxServers-1) {
		t.Fatalf("%d servers, last %v", len(s.Upstreams), s.Upstreams[len(s.Upstreams)-1])
	}
	if len(s.Cache) != MaxCaches+1 || s.Cache[MaxCaches].Name != OtherName {
		t.Fatalf("cache %v", s.Cache)
	}
	if len(s.Paths) != TopPaths {
		t.Fatalf("%d paths", len(s.Paths))
	}
	if len(s.UpstreamErrors) != 1 || s.UpstreamErrors[0].Name != "connect" || s.UpstreamErrors[0].Count != 100 {
		t.Fatalf("upstream errors %v", s.UpstreamErrors)
	}
}

// Space-saving keeps the heavy paths with counts within their error bound.
func TestTopPathsHeavyHitters(t *testing.T) {
	a := NewApp(true)
	at := time.Unix(1_700_000_000, 0)
	for i := range 10_000 {
		p := fmt.Sprintf("/rare/%d", i)
		if i%4 == 0 {
			p = "/hot"
		} else if i%10 == 1 {
			p = "/warm"
		}
		a.Done(&Done{Status: 200, Path: p, At: at})
	}
	out, _ := a.TakeSeconds("a", at.Unix()+1, nil)
	ps := out[0].Paths
	truth := map[string]uint64{"/hot": 2500, "/warm": 1000}
	for i, name := range []string{"/hot", "/warm"} {
		got := ps[i]
		if got.Name != name || got.Count < truth[name] || got.Count-got.Error > truth[name] {
			t.Fatalf("paths[%d] = %v, want %s with true count %d inside [count-error, count]", i, got, name, truth[name])
		}
	}
}

// After warm-up, recording allocates nothing, also with paths that keep
// evicting each other.
func TestSecondsNoAllocs(t *testing.T) {
	a := NewApp(true)
	paths := make([]string, 100)
	for i := range paths {
		paths[i] = fmt.Sprintf("/some/path/%d", i)
	}
	at := time.Unix(1_700_000_000, 0)
	i := 0
	rec := func() {
		i++
		a.Done(&Done{Status: 200 + i%3, BytesIn: 10, BytesOut: 100, Latency: time.Duration(i%50+1) * time.Millisecond,
			Path: paths[i%len(paths)], Cache: "HIT", At: at})
		a.Attempt(at, "10.0.0.1:80", time.Duration(i%20+1)*time.Millisecond, AttemptOK)
	}
	for range 1000 {
		rec()
	}
	if n := testing.AllocsPerRun(1000, rec); n != 0 {
		t.Fatalf("%v allocations per request", n)
	}
}

// BenchmarkSecondsDone is the hot path: one request and one attempt, from
// parallel goroutines on one app (the worst case for the app's mutex).
func BenchmarkSecondsDone(b *testing.B) {
	for _, perSecond := range []bool{false, true} {
		b.Run(fmt.Sprintf("perSecond=%v", perSecond), func(b *testing.B) {
			a := NewApp(perSecond)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					i++
					now := time.Now()
					a.Done(&Done{Status: 200, BytesIn: 10, BytesOut: 100, Latency: time.Duration(i%50+1) * time.Millisecond,
						Path: "/some/path", At: now})
					a.Attempt(now, "10.0.0.1:80", time.Millisecond, AttemptOK)
				}
			})
		})
	}
}

// TestSecondsMemory reports the heap of one app's per-second aggregates
// once warm (two open seconds with 4 servers and 32 paths of 30 bytes).
func TestSecondsMemory(t *testing.T) {
	const apps = 1000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	all := make([]*App, apps)
	base := time.Unix(1_700_000_000, 0)
	for i := range all {
		a := NewApp(true)
		for s := range 2 {
			at := base.Add(time.Duration(s) * time.Second)
			for j := range 200 {
				a.Done(&Done{Status: 200 + j%4, Latency: time.Duration(j+1) * time.Millisecond, Path: fmt.Sprintf("/path/number/%016d", j%40), At: at})
				a.Attempt(at, fmt.Sprintf("10.0.0.%d:80", j%4), time.Duration(j+1)*time.Millisecond, AttemptOK)
			}
		}
		all[i] = a
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := (after.HeapAlloc - before.HeapAlloc) / apps
	t.Logf("per app, two open seconds: %d bytes", per)
	if per > 64<<10 {
		t.Fatalf("%d bytes per app, want under 64 KiB", per)
	}
	runtime.KeepAlive(all)
}

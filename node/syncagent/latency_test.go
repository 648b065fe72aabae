package syncagent_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/node/store"
	"github.com/strata-edge/strata/node/syncagent"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// TestSyncLatency measures publish delta -> Apply called on 1, 10 and 100
// agents, each with its own bbolt store, behind embedded leaf servers linked
// to a JetStream hub (fsync per write) in this process. It reports, never
// asserts. Run: STRATA_BENCH_SYNC=1 go test ./node/sync -run TestSyncLatency -v
// (STRATA_BENCH_SYNC_LEAFS=n caps the number of leaf servers, agents are
// spread over them; STRATA_BENCH_SYNC_STOREDIR=/dev/shm puts the stores on
// tmpfs, standing for nodes that each fsync to a disk of their own;
// STRATA_BENCH_SYNC_HUBDIR=/dev/shm does the same for the hub's JetStream).
func TestSyncLatency(t *testing.T) {
	if os.Getenv("STRATA_BENCH_SYNC") == "" {
		t.Skip("set STRATA_BENCH_SYNC=1 to measure sync latency (docs/sync.md)")
	}
	maxLeafs := 100
	if v, err := strconv.Atoi(os.Getenv("STRATA_BENCH_SYNC_LEAFS")); err == nil && v > 0 {
		maxLeafs = v
	}
	for _, tc := range []struct{ nodes, releases int }{{1, 300}, {10, 200}, {100, 100}} {
		t.Run(fmt.Sprintf("nodes=%d", tc.nodes), func(t *testing.T) {
			measureSyncLatency(t, tc.nodes, min(tc.nodes, maxLeafs), tc.releases)
		})
	}
}

type applied struct {
	version uint64
	at      time.Time
}

func measureSyncLatency(t *testing.T, nodes, leafs, releases int) {
	h := startHub(t, 0)
	p := newPublisher(t, h)
	events := make(chan applied, nodes*4)
	servers := make([]*server.Server, leafs)
	for i := range servers {
		servers[i] = startLeaf(t, "leaf"+strconv.Itoa(i), h.leafURL())
	}
	for _, s := range servers {
		waitLeaf(t, s)
	}
	agents := make([]*syncagent.Agent, nodes)
	for i := range agents {
		id := "n" + strconv.Itoa(i)
		leaf := servers[i%leafs]
		nc := natstest.Connect(t, leaf, nats.CustomInboxPrefix(natsutil.NodeInboxPrefix(id)))
		dir := t.TempDir()
		if base := os.Getenv("STRATA_BENCH_SYNC_STOREDIR"); base != "" {
			var err error
			if dir, err = os.MkdirTemp(base, "strata-sync-bench-"); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(dir) })
		}
		st, err := store.Open(filepath.Join(dir, "node.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		a, err := syncagent.New(syncagent.Options{
			NATS: nc, PartitionID: partition, NodeID: id, ClusterID: "c1", Store: st,
			Apply: func(s *syncv1.Snapshot) error {
				events <- applied{s.GetVersion(), time.Now()}
				return nil
			},
			LinkID: leafLink(leaf), Logger: testLogger(id),
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			a.Stop(ctx)
		})
		agents[i] = a
	}
	for _, a := range agents {
		waitSynced(t, a)
	}
	drain := func() {
		for {
			select {
			case <-events:
			default:
				return
			}
		}
	}
	drain()

	const warmup = 5
	var lat []time.Duration
	if path := os.Getenv("STRATA_BENCH_SYNC_CPUPROFILE"); path != "" {
		f, err := os.Create(fmt.Sprintf("%s.%d", path, nodes))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			t.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	for r := range releases + warmup {
		d := p.change()
		t0 := time.Now()
		p.publish(d, d.ToVersion)
		deadline := time.After(30 * time.Second)
		for got := 0; got < nodes; {
			select {
			case e := <-events:
				if e.version != d.ToVersion {
					t.Fatalf("applied version %d while waiting for %d", e.version, d.ToVersion)
				}
				got++
				if r >= warmup {
					lat = append(lat, e.at.Sub(t0))
				}
			case <-deadline:
				t.Fatalf("release %d: only %d of %d nodes applied it within 30s", r, got, nodes)
			}
		}
	}
	elapsed := time.Since(start)
	slices.Sort(lat)
	pct := func(q float64) time.Duration { return lat[int(float64(len(lat)-1)*q)] }
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("RESULT sync-latency nodes=%d leafs=%d releases=%d samples=%d p50_us=%d p99_us=%d max_us=%d releases_per_s=%.0f heap_mb=%d goroutines=%d cpus=%d",
		nodes, leafs, releases, len(lat), pct(0.5).Microseconds(), pct(0.99).Microseconds(), lat[len(lat)-1].Microseconds(),
		float64(releases+warmup)/elapsed.Seconds(), ms.HeapAlloc>>20, runtime.NumGoroutine(), runtime.NumCPU())
}

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	purgev1 "github.com/strata-edge/strata/gen/strata/purge/v1"
	"github.com/strata-edge/strata/gen/strata/purge/v1/purgev1connect"
	"github.com/strata-edge/strata/node/cache"
	nodepurge "github.com/strata-edge/strata/node/purge"
	"github.com/strata-edge/strata/pkg/authz"
	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
	"github.com/strata-edge/strata/services/edgesync"
	"github.com/strata-edge/strata/services/purge"
)

// TestPurgeLatency measures a purge from CreatePurge to the last node's
// acknowledgement counted by the purge service (its TimeToLastAck, control
// plane clock) for 1, 10 and 100 node purge agents, each with its own memory
// cache, bbolt position file and leaf server linked to a JetStream hub (fsync
// per write) in this process. It reports, never asserts times. Run:
// STRATA_BENCH_PURGE=1 go test ./e2e -run TestPurgeLatency -v
// (STRATA_BENCH_PURGE_N=n sets the purges per size, 50 by default;
// STRATA_BENCH_PURGE_HUBDIR=/dev/shm puts the hub's JetStream on tmpfs, to
// see what the control plane's fsyncs cost; STRATA_BENCH_PURGE_STOREDIR=/dev/shm
// does the same for the agents' position files, standing for nodes that each
// fsync to a disk of their own).
func TestPurgeLatency(t *testing.T) {
	if os.Getenv("STRATA_BENCH_PURGE") == "" {
		t.Skip("set STRATA_BENCH_PURGE=1 to measure purge latency (docs/cache.md)")
	}
	purges := 50
	if v, err := strconv.Atoi(os.Getenv("STRATA_BENCH_PURGE_N")); err == nil && v > 0 {
		purges = v
	}
	for _, nodes := range []int{1, 10, 100} {
		t.Run(fmt.Sprintf("nodes=%d", nodes), func(t *testing.T) {
			measurePurgeLatency(t, nodes, purges)
		})
	}
}

const benchPartition = "prt_bench"

// benchTopology is one partition holding every node.
type benchTopology struct{ authz.ObjectResolverFunc }

func (benchTopology) ResolvePartition(ref string) (string, bool) {
	return benchPartition, ref == benchPartition
}
func (benchTopology) PartitionIDs() []string              { return []string{benchPartition} }
func (benchTopology) NodePartition(string) (string, bool) { return benchPartition, true }
func (benchTopology) String() string                      { return "bench topology" }
func benchResolver(context.Context, string, string) (authz.ResolvedObject, error) {
	return authz.ResolvedObject{}, authz.ErrUnknownObject
}

var benchPolicy = &cache.Policy{TTLByStatus: map[int]time.Duration{200: time.Hour}}

func measurePurgeLatency(t *testing.T, nodes, purges int) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var err error
	hubDir := t.TempDir()
	if base := os.Getenv("STRATA_BENCH_PURGE_HUBDIR"); base != "" {
		if hubDir, err = os.MkdirTemp(base, "strata-purge-hub-"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(hubDir) })
	}
	hub, err := natsutil.StartServer(natsutil.ServerOptions{
		ServerName: "hub", Port: -1, LeafPort: -1, StoreDir: hubDir, SyncAlways: true, NoLog: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hub.Shutdown(); hub.WaitForShutdown() })
	v, err := hub.Varz(nil)
	if err != nil {
		t.Fatal(err)
	}
	leafURL, _ := url.Parse(fmt.Sprintf("nats-leaf://127.0.0.1:%d", v.LeafNode.Port))

	// The control plane: event store, purge service and its API on the hub.
	nc := natstest.Connect(t, hub)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	store, err := eventstore.NewJetStream(ctx, js, eventstore.JetStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nodeIDs := make([]string, nodes)
	for i := range nodeIDs {
		nodeIDs[i] = "nod_" + strconv.Itoa(i)
	}
	svc, err := purge.New(purge.Options{Store: store, JetStream: js, Conn: nc,
		Topology: benchTopology{authz.ObjectResolverFunc(benchResolver)},
		Nodes: edgesync.StatusSourceFunc(func() map[string]edgesync.NodeStatus {
			out := make(map[string]edgesync.NodeStatus, nodes)
			for _, id := range nodeIDs {
				out[id] = edgesync.NodeStatus{Online: true}
			}
			return out
		})})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Stop(context.Background()) })
	mux := http.NewServeMux()
	mux.Handle(svc.Handler())
	api := httptest.NewServer(mux)
	t.Cleanup(api.Close)
	client := purgev1connect.NewPurgeServiceClient(api.Client(), api.URL)

	// The nodes: a leaf server, a cache holding one object per purge to come
	// and a purge agent each.
	const warmup = 5
	total := purges + warmup
	fill := func(c *cache.Cache, i int) {
		r := &cache.Request{Method: "GET", Host: "a.com", Path: "/o/" + strconv.Itoa(i), Header: http.Header{}.Get}
		if _, err := c.Do(ctx, r, benchPolicy, func(context.Context, http.Header) (*cache.Response, error) {
			return &cache.Response{Status: 200, Header: http.Header{}, Body: []byte("x")}, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	leafs := make([]*server.Server, nodes)
	for i := range leafs {
		s, err := natsutil.StartServer(natsutil.ServerOptions{
			ServerName: "leaf" + strconv.Itoa(i), NoJetStream: true, DontListen: true, NoLog: true,
			LeafRemotes: []*server.RemoteLeafOpts{{URLs: []*url.URL{leafURL}, Compression: server.CompressionOpts{Mode: server.CompressionOff}}},
		})
		if err != nil {
			t.Fatalf("start leaf: %v", err)
		}
		t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
		leafs[i] = s
	}
	for _, s := range leafs {
		natstest.CheckFor(t, 30*time.Second, 10*time.Millisecond, func() error {
			if s.NumLeafNodes() == 0 {
				return fmt.Errorf("leaf link of %s not up", s.Name())
			}
			return nil
		})
	}
	agents := make([]*nodepurge.Agent, nodes)
	for i, id := range nodeIDs {
		c, err := cache.New(cache.Options{Open: func(ev cache.EvictFunc) (cache.Store, error) { return cache.NewMemory(16<<20, ev), nil }})
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		if base := os.Getenv("STRATA_BENCH_PURGE_STOREDIR"); base != "" {
			if dir, err = os.MkdirTemp(base, "strata-purge-node-"); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(dir) })
		}
		a, err := nodepurge.New(nodepurge.Options{NATS: natstest.Connect(t, leafs[i]), NodeID: id, PartitionID: benchPartition,
			Cache: c, PositionPath: filepath.Join(dir, "purge.db"), Domain: natsutil.HubDomain})
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer scancel()
			a.Stop(sctx)
		})
		agents[i] = a
		select {
		case <-a.Ready():
		case <-ctx.Done():
			t.Fatalf("agent %s not ready", id)
		}
		for j := range total {
			fill(c, j)
		}
	}

	// Acks as the hub sees them: the wall-clock check on the service's figure.
	var mu sync.Mutex
	got := map[string]int{}
	lastAck := map[string]time.Time{}
	all := make(chan string, total)
	sub, err := nc.Subscribe(natsutil.PurgeAckAll, func(m *nats.Msg) {
		var a purgev1.PurgeAck
		if proto.Unmarshal(m.Data, &a) != nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if got[a.GetPurgeId()]++; got[a.GetPurgeId()] == nodes {
			lastAck[a.GetPurgeId()] = time.Now()
			all <- a.GetPurgeId()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	nc.Flush()

	var svcLat, wallLat, createLat []time.Duration
	start := time.Now()
	for i := range total {
		t0 := time.Now()
		res, err := client.CreatePurge(ctx, &purgev1.CreatePurgeRequest{
			Kind: purgev1.PurgeKind_PURGE_KIND_URL, Values: []string{"https://a.com/o/" + strconv.Itoa(i)},
			Scope: &purgev1.Scope{Target: &purgev1.Scope_All{All: true}},
		})
		if err != nil {
			t.Fatalf("purge %d: %v", i, err)
		}
		tCreated := time.Since(t0)
		id := res.GetPurge().GetId()
		if n := res.GetPurge().GetNodesTotal(); n != int32(nodes) {
			t.Fatalf("purge expects %d nodes, want %d", n, nodes)
		}
		select {
		case done := <-all:
			if done != id {
				t.Fatalf("last ack of %s while waiting for %s", done, id)
			}
		case <-time.After(30 * time.Second):
			mu.Lock()
			t.Fatalf("purge %d: %d of %d nodes acknowledged within 30s", i, got[id], nodes)
		}
		var p *purgev1.Purge
		natstest.CheckFor(t, 10*time.Second, time.Millisecond, func() error {
			r, err := client.GetPurge(ctx, &purgev1.GetPurgeRequest{Id: id})
			if err != nil {
				return err
			}
			if p = r.GetPurge(); p.GetNodesDone() != p.GetNodesTotal() {
				return fmt.Errorf("%d/%d done", p.GetNodesDone(), p.GetNodesTotal())
			}
			return nil
		})
		for _, a := range p.GetAcks() {
			if a.GetObjects() != 1 || a.GetError() != "" {
				t.Fatalf("purge %d on %s: %d objects, error %q; want 1 object purged", i, a.GetNodeId(), a.GetObjects(), a.GetError())
			}
		}
		if i >= warmup {
			mu.Lock()
			wallLat = append(wallLat, lastAck[id].Sub(t0))
			mu.Unlock()
			svcLat = append(svcLat, p.GetTimeToLastAck().AsDuration())
			createLat = append(createLat, tCreated)
		}
	}
	elapsed := time.Since(start)
	pct := func(l []time.Duration, q float64) int64 {
		slices.Sort(l)
		return l[int(float64(len(l)-1)*q)].Microseconds()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("RESULT purge-latency nodes=%d purges=%d last_ack_p50_us=%d last_ack_p99_us=%d last_ack_max_us=%d wall_p50_us=%d wall_p99_us=%d create_p50_us=%d create_p99_us=%d purges_per_s=%.0f heap_mb=%d goroutines=%d cpus=%d",
		nodes, len(svcLat), pct(svcLat, 0.5), pct(svcLat, 0.99), pct(svcLat, 1), pct(wallLat, 0.5), pct(wallLat, 0.99),
		pct(createLat, 0.5), pct(createLat, 0.99), float64(total)/elapsed.Seconds(), ms.HeapAlloc>>20, runtime.NumGoroutine(), runtime.NumCPU())
}

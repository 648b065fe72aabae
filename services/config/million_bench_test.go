package config

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	ev "github.com/strata-edge/strata/gen/strata/events/config/v1"
	"github.com/strata-edge/strata/pkg/configevents"
	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// benchApps is the number of apps of the million-domain benchmarks:
// STRATA_BENCH_APPS, 100,000 unless set (1,000,000 is the goal).
func benchApps(b testing.TB) int {
	n := 100_000
	if s := os.Getenv("STRATA_BENCH_APPS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			b.Fatalf("STRATA_BENCH_APPS=%q: want a positive number of apps", s)
		}
		n = v
	}
	return n
}

// singleDomainApp is the history of generated app i of the million-domain
// benchmarks: created with one domain and one upstream, released.
func singleDomainApp(i int) []proto.Message {
	id := fmt.Sprintf("app_%07d", i)
	s := &ev.AppSettings{Name: fmt.Sprintf("app-%d", i), HttpPorts: []uint32{80}, HttpsPorts: []uint32{443},
		PartitionIds: []string{benchPartition}, Domains: []string{fmt.Sprintf("app%d.example.com", i)}}
	u := &configv1.Upstream{Id: fmt.Sprintf("ups_web%d", i), Name: "web", Policy: configv1.BalancePolicy_BALANCE_POLICY_ROUND_ROBIN,
		Servers: []*configv1.Server{{Address: fmt.Sprintf("10.%d.%d.%d:8080", i>>16&255, i>>8&255, i&255), Weight: 1}}}
	return []proto.Message{
		&ev.AppCreated{AppId: id, Settings: s},
		&ev.UpstreamCreated{AppId: id, Upstream: u},
		&ev.AppReleased{AppId: id, Release: 1},
	}
}

// BenchmarkMillionMemory measures the heap of the read model (aggregates,
// indexes, listing index and both snapshot tracks) holding benchApps
// single-domain apps, and the process's resident set after returning freed
// memory to the OS (rss) and at its peak (the fold's garbage included).
// STRATA_HEAPPROFILE=file writes the heap profile taken while the model is
// alive.
func BenchmarkMillionMemory(b *testing.B) {
	apps := benchApps(b)
	for b.Loop() {
		before := heapInUse()
		p, f := benchProjection(b, false)
		for i := range apps {
			f.feed(appStream(fmt.Sprintf("app_%07d", i)), singleDomainApp(i)...)
		}
		after := heapInUse()
		if got := len(p.snapshot(benchPartition, false).Apps); got != apps {
			b.Fatalf("%d apps in the snapshot, want %d", got, apps)
		}
		if path := os.Getenv("STRATA_HEAPPROFILE"); path != "" {
			fh, err := os.Create(path)
			if err != nil {
				b.Fatal(err)
			}
			if err := pprof.Lookup("heap").WriteTo(fh, 0); err != nil {
				b.Fatal(err)
			}
			fh.Close()
		}
		debug.FreeOSMemory()
		b.ReportMetric(float64(procStatus(b, "VmRSS"))/(1<<20), "rss-MiB")
		b.ReportMetric(float64(procStatus(b, "VmHWM"))/(1<<20), "peak-rss-MiB")
		b.ReportMetric(float64(after-before)/float64(apps), "heap-bytes/app")
		b.ReportMetric(float64(after-before)/(1<<20), "heap-MiB")
		runtime.KeepAlive(p)
	}
}

// BenchmarkMillionRebuild writes benchApps single-domain apps (3 events
// each, appended one by one with their expected versions from 32 writers) into the JetStream
// event store on an embedded nats-server, then measures separately: "read",
// the log through Store.Subscribe into a handler that only counts; "fold",
// as many events decoded and folded into a projection in memory (generated
// in chunks outside the timer); "start", Service.Start, the product's cold
// start (read + fold). The fill runs without fsync per write unless
// STRATA_BENCH_FSYNC=1 (reads do not depend on it).
func BenchmarkMillionRebuild(b *testing.B) {
	apps := benchApps(b)
	ctx := context.Background()
	b.Run("fold", func(b *testing.B) {
		const chunk = 10_000
		var elapsed, cpu time.Duration
		var n uint64
		for b.Loop() {
			p, _ := benchProjection(b, false)
			pos := uint64(1)
			buf := make([]eventstore.Event, 0, 3*chunk)
			for start := 0; start < apps; start += chunk {
				b.StopTimer()
				buf = buf[:0]
				for i := start; i < min(start+chunk, apps); i++ {
					h := singleDomainApp(i)
					buf = encodeHistory(b, h, pos, buf)
					pos += uint64(len(h))
				}
				b.StartTimer()
				t0, c0 := time.Now(), cpuTime()
				for _, e := range buf {
					if err := p.Handle(e); err != nil {
						b.Fatal(err)
					}
				}
				elapsed += time.Since(t0)
				cpu += cpuTime() - c0
				n += uint64(len(buf))
			}
			if got := len(p.snapshot(benchPartition, false).Apps); got != apps {
				b.Fatalf("%d apps in the snapshot, want %d", got, apps)
			}
		}
		perEvent(b, elapsed, cpu, n)
	})
	store, pid := millionStore(b, apps, os.Getenv("STRATA_BENCH_FSYNC") == "1")
	head, err := store.Head(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("read", func(b *testing.B) {
		var elapsed, cpu time.Duration
		var n uint64
		done := errors.New("read to the head")
		for b.Loop() {
			t0, c0 := time.Now(), cpuTime()
			err := store.Subscribe(ctx, 0, func(e eventstore.Event) error {
				n++
				if e.Position >= head {
					return done
				}
				return nil
			})
			if !errors.Is(err, done) {
				b.Fatal(err)
			}
			elapsed += time.Since(t0)
			cpu += cpuTime() - c0
		}
		perEvent(b, elapsed, cpu, n)
	})
	b.Run("start", func(b *testing.B) {
		var elapsed, cpu time.Duration
		var n uint64
		for b.Loop() {
			svc := startTimed(b, ctx, store, &elapsed, &cpu)
			n += head
			if got := len(svc.proj.snapshot(pid, false).Apps); got != apps {
				b.Fatalf("%d apps in the snapshot after the replay, want %d", got, apps)
			}
			svc.Stop(ctx)
		}
		perEvent(b, elapsed, cpu, n)
	})
}

// millionStore starts an embedded nats-server with JetStream (fsync per
// write when sync) and fills its event store with one partition and apps
// single-domain apps, 32 appends in flight, within 30 minutes.
func millionStore(b *testing.B, apps int, sync bool) (*eventstore.JetStreamStore, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	s, err := natsutil.StartServer(natsutil.ServerOptions{Port: -1, DontListen: true, StoreDir: b.TempDir(), NoLog: true, SyncAlways: sync})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	nc := natstest.Connect(b, s)
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	store, err := eventstore.NewJetStream(ctx, js, eventstore.JetStreamOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	pid := createBenchPartition(b, ctx, store)

	t0 := time.Now()
	var next atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	for range 32 {
		g.Go(func() error {
			for i := int(next.Add(1) - 1); i < apps; i = int(next.Add(1) - 1) {
				msgs := singleDomainApp(i)
				msgs[0].(*ev.AppCreated).Settings.PartitionIds = []string{pid}
				events, err := configevents.Events(eventstore.Metadata{Actor: "bench"}, msgs...)
				if err != nil {
					return err
				}
				// One append per event: an atomic batch costs the server a
				// staging file store of its own (~3 ms each, measured).
				version := uint64(0)
				for _, e := range events {
					out, err := store.Append(gctx, appStream(fmt.Sprintf("app_%07d", i)), version, e)
					if err != nil {
						return fmt.Errorf("app %d: %w", i, err)
					}
					version = out[0].Position
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	head, _ := store.Head(ctx)
	d := time.Since(t0)
	b.Logf("filled %d apps, %d events in %s (%.0f events/s, fsync per write %v)", apps, head, d.Round(time.Millisecond), float64(head)/d.Seconds(), sync)
	return store, pid
}

// procStatus returns a size field of /proc/self/status in bytes (VmRSS:
// resident now, VmHWM: the peak).
func procStatus(b testing.TB, field string) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				b.Fatalf("/proc/self/status %s: %v", field, err)
			}
			return kb << 10
		}
	}
	b.Fatalf("/proc/self/status has no %s", field)
	return 0
}

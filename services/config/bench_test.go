package config

import (
	"context"
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	ev "github.com/strata-edge/strata/gen/strata/events/config/v1"
	"github.com/strata-edge/strata/pkg/configevents"
	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
	"github.com/strata-edge/strata/services/edgesync"
)

// benchPartition is the partition every generated app is published to.
const benchPartition = "part_bench"

// appHistory returns the events of generated app i: created with the given
// number of domains, two upstreams, two rules, released, then `edits`
// upstream changes each released (2*edits+6 events).
func appHistory(i, domains, edits int) []proto.Message {
	id := fmt.Sprintf("app_%07d", i)
	s := &ev.AppSettings{Name: fmt.Sprintf("app-%d", i), HttpPorts: []uint32{80}, HttpsPorts: []uint32{443},
		PartitionIds: []string{benchPartition}, Labels: map[string]string{"team": "t" + fmt.Sprint(i%100)}}
	for d := range domains {
		s.Domains = append(s.Domains, fmt.Sprintf("d%d.app%d.example.com", d, i))
	}
	up := func(name string, n int) *configv1.Upstream {
		return &configv1.Upstream{Id: fmt.Sprintf("ups_%s%d", name, i), Name: name, Policy: configv1.BalancePolicy_BALANCE_POLICY_ROUND_ROBIN,
			Servers: []*configv1.Server{{Address: fmt.Sprintf("10.%d.%d.1:8080", i>>8&255, i&255), Weight: uint32(1 + n%5)},
				{Address: fmt.Sprintf("10.%d.%d.2:8080", i>>8&255, i&255), Weight: 1}}}
	}
	rule := func(name, upstream, prefix string) *configv1.Rule {
		return &configv1.Rule{Id: fmt.Sprintf("rule_%s%d", name, i), Name: name, When: "PathPrefix(`" + prefix + "`)",
			Actions: []*configv1.Action{{Action: &configv1.Action_Proxy{Proxy: &configv1.ProxyAction{
				Upstreams: []*configv1.WeightedUpstream{{Upstream: upstream, Weight: 1}}}}}}}
	}
	out := []proto.Message{
		&ev.AppCreated{AppId: id, Settings: s},
		&ev.UpstreamCreated{AppId: id, Upstream: up("web", 0)},
		&ev.UpstreamCreated{AppId: id, Upstream: up("api", 0)},
		&ev.RuleCreated{AppId: id, Rule: rule("api", "api", "/api"), Index: 0},
		&ev.RuleCreated{AppId: id, Rule: rule("root", "web", "/"), Index: 1},
		&ev.AppReleased{AppId: id, Release: 1},
	}
	for n := 1; n <= edits; n++ {
		out = append(out, &ev.UpstreamUpdated{AppId: id, Upstream: up("web", n)},
			&ev.AppReleased{AppId: id, Release: uint64(n + 1)})
	}
	return out
}

// encodeHistory turns messages into stored-event records from position pos+1.
func encodeHistory(b testing.TB, msgs []proto.Message, pos uint64, out []eventstore.Event) []eventstore.Event {
	now := time.Unix(1_700_000_000, 0).UTC()
	for _, m := range msgs {
		typ, data, err := configevents.Encode(m)
		if err != nil {
			b.Fatal(err)
		}
		pos++
		out = append(out, eventstore.Event{Type: typ, Data: data, Position: pos,
			Metadata: eventstore.Metadata{Actor: "bench", Time: now}})
	}
	return out
}

func benchProjection(b testing.TB, publish bool) (*projection, *feeder) {
	p := testProjection(publish)
	f := &feeder{t: b, p: p}
	f.feed(partitionStream(benchPartition), &ev.PartitionCreated{Partition: &configv1.Partition{Id: benchPartition, Name: "bench"}})
	return p, f
}

// cpuTime is the process's user+system CPU time: under a loaded machine it
// measures the work done, where wall time also counts waiting for a core.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkProjectionRebuild folds 1,000,000 events (50,000 apps with 20
// events each: create, 2 upstreams, 2 rules, 8 releases of 7 upstream edits)
// through the projection's apply path: decode + aggregate apply + indexes +
// snapshot tracks. Events are generated in memory in chunks; generation is
// not timed.
func BenchmarkProjectionRebuild(b *testing.B) {
	const apps, edits, chunk = 50_000, 7, 5_000
	perApp := 2*edits + 6
	b.ReportAllocs()
	var folded int
	var elapsed, cpu time.Duration
	for b.Loop() {
		p, _ := benchProjection(b, false)
		pos := uint64(1)
		buf := make([]eventstore.Event, 0, chunk*perApp)
		for start := 0; start < apps; start += chunk {
			b.StopTimer()
			buf = buf[:0]
			for i := start; i < start+chunk; i++ {
				buf = encodeHistory(b, appHistory(i, 1, edits), pos, buf)
				pos += uint64(perApp)
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
			folded += len(buf)
		}
		if got := len(p.snapshot(benchPartition, false).Apps); got != apps {
			b.Fatalf("%d apps in the snapshot, want %d", got, apps)
		}
	}
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(folded), "ns/event")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(folded), "cpu-ns/event")
	b.ReportMetric(float64(folded)/elapsed.Seconds(), "events/s")
}

// BenchmarkRebuildFromJetStream measures Start (replay of the whole log
// through Store.Subscribe into the projection) on a real embedded JetStream
// store holding 100,000 events (5,000 apps x 20 events, one atomic append
// per app). The store is filled once, outside the timer.
func BenchmarkRebuildFromJetStream(b *testing.B) {
	const apps, edits = 5_000, 7
	ctx := context.Background()
	s := natstest.RunServer(b)
	nc := natstest.Connect(b, s)
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	store, err := eventstore.NewJetStream(ctx, js, eventstore.JetStreamOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	pid := createBenchPartition(b, ctx, store)
	fill := time.Now()
	for i := range apps {
		msgs := appHistory(i, 1, edits)
		for _, m := range msgs {
			switch x := m.(type) {
			case *ev.AppCreated:
				x.Settings.PartitionIds = []string{pid}
			}
		}
		events, err := configevents.Events(eventstore.Metadata{}, msgs...)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := store.Append(ctx, appStream(fmt.Sprintf("app_%07d", i)), 0, events...); err != nil {
			b.Fatal(err)
		}
	}
	head, _ := store.Head(ctx)
	b.Logf("filled %d events in %s", head, time.Since(fill).Round(time.Millisecond))

	var elapsed, cpu time.Duration
	for b.Loop() {
		svc := startTimed(b, ctx, store, &elapsed, &cpu)
		if n := len(stateOf(svc.proj).apps); n != apps {
			b.Fatalf("%d apps after replay", n)
		}
		svc.Stop(ctx)
	}
	perEvent(b, elapsed, cpu, uint64(b.N)*head)
}

// BenchmarkSnapshotDelta: a partition with 100,000 released apps; each
// iteration changes and releases one app. "delta" times the release through
// the projection plus encoding its delta; "snapshot" times building and
// encoding the full snapshot. Both report their encoded bytes.
func BenchmarkSnapshotDelta(b *testing.B) {
	const apps = 100_000
	p, f := benchProjection(b, true)
	for i := range apps {
		f.feed(appStream(fmt.Sprintf("app_%07d", i)), appHistory(i, 1, 0)...)
	}
	k := edgesync.Key{Partition: benchPartition}
	p.sync.Take(k)
	edit := 0
	change := func() {
		edit++
		i := edit % apps
		id := fmt.Sprintf("app_%07d", i)
		f.feed(appStream(id), appHistory(i, 1, 1)[6], &ev.AppReleased{AppId: id, Release: uint64(edit + 1)})
	}

	b.Run("delta", func(b *testing.B) {
		var size int
		for b.Loop() {
			change()
			out := p.sync.Take(k)
			d := out[len(out)-1]
			data, err := proto.Marshal(d)
			if err != nil {
				b.Fatal(err)
			}
			size = len(data)
		}
		b.ReportMetric(float64(size), "delta-bytes")
	})
	b.Run("snapshot", func(b *testing.B) {
		var size int
		for b.Loop() {
			b.StopTimer()
			change()
			p.sync.Take(k)
			b.StartTimer()
			_, bundle := p.sync.SnapshotAt(k, 0)
			data, err := proto.Marshal(bundle)
			if err != nil {
				b.Fatal(err)
			}
			size = len(data)
		}
		b.ReportMetric(float64(size), "snapshot-bytes")
	})
}

// BenchmarkReadModelMemory measures the heap the read model needs for
// 100,000 released apps with two upstreams and two rules each, with 1 and
// with 10 domains per app (the latter is 1,000,000 domains). The difference
// between the two is the cost of one more domain.
func BenchmarkReadModelMemory(b *testing.B) {
	const apps = 100_000
	for _, domains := range []int{1, 10} {
		b.Run(fmt.Sprintf("domains=%d", domains), func(b *testing.B) {
			for b.Loop() {
				before := heapInUse()
				p, f := benchProjection(b, false)
				for i := range apps {
					f.feed(appStream(fmt.Sprintf("app_%07d", i)), appHistory(i, domains, 0)...)
				}
				after := heapInUse()
				if len(stateOf(p).domains) != apps*domains {
					b.Fatalf("%d domains indexed", len(stateOf(p).domains))
				}
				b.ReportMetric(float64(after-before)/apps, "heap-bytes/app")
				b.ReportMetric(float64(after-before)/(1<<20), "heap-MiB")
				runtime.KeepAlive(p)
			}
		})
	}
}

// BenchmarkHashPasswords: the argon2id hashing of a forward-proxy app's
// new passwords (10 credentials), done on all cores before the command.
func BenchmarkHashPasswords(b *testing.B) {
	fp := &configv1.ForwardProxyApp{}
	for i := range 10 {
		fp.Credentials = append(fp.Credentials, &configv1.ProxyCredential{Username: fmt.Sprintf("u%d", i), Password: "pw"})
	}
	for b.Loop() {
		hashPasswords(fp)
	}
}

// createBenchPartition records partition "bench" in store through a service that
// is stopped again, and returns its id: the apps a benchmark writes
// directly into the log belong to it.
func createBenchPartition(b *testing.B, ctx context.Context, store eventstore.Store) string {
	svc, err := New(Options{Store: store})
	if err != nil {
		b.Fatal(err)
	}
	if err := svc.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer svc.Stop(ctx)
	if _, err := svc.createPartition(ctx, "bench"); err != nil {
		b.Fatal(err)
	}
	pid, _ := svc.proj.resolvePartition("bench")
	return pid
}

// startTimed starts a service over store (the replay of its log) and adds
// the wall and CPU time it took to elapsed and cpu.
func startTimed(b *testing.B, ctx context.Context, store eventstore.Store, elapsed, cpu *time.Duration) *Service {
	t0, c0 := time.Now(), cpuTime()
	svc, err := New(Options{Store: store})
	if err != nil {
		b.Fatal(err)
	}
	if err := svc.Start(ctx); err != nil {
		b.Fatal(err)
	}
	*elapsed += time.Since(t0)
	*cpu += cpuTime() - c0
	return svc
}

// perEvent reports wall and CPU time per event and events per second.
func perEvent(b *testing.B, elapsed, cpu time.Duration, events uint64) {
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(events), "ns/event")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(events), "cpu-ns/event")
	b.ReportMetric(float64(events)/elapsed.Seconds(), "events/s")
}

package proxy_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/node/proxy"
	"github.com/strata-edge/strata/node/store"
	"github.com/strata-edge/strata/pkg/natsutil"
)

// BenchmarkMillionDelta loads STRATA_BENCH_APPS (default 1,000,000)
// single-domain apps into a node store and a proxy once, logs what the full
// load costs (bundle bytes, file bytes, times, RSS), then measures one
// release's delta end to end: store.ApplyDelta (bbolt write, fsync) plus
// Proxy.Update (compile and atomic swap), for an app changed, added or
// deleted; cpu-ms/op is the process's CPU per delta, GC included. Run it alone: go test -run '^$' -bench MillionDelta
// -benchtime 50x ./node/proxy/ (it needs ~3 GB and a minute).
func BenchmarkMillionDelta(b *testing.B) {
	n := 1_000_000
	if v := os.Getenv("STRATA_BENCH_APPS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("STRATA_BENCH_APPS %q: want a positive count", v)
		}
	}
	apps := make([]*configv1.App, n)
	for i := range apps {
		apps[i] = millionApp(fmt.Sprintf("app-%07d", i), "")
	}
	bundle := store.BundleOf(&syncv1.Snapshot{PartitionId: "p", Version: 1, Apps: apps})
	apps = nil
	wire := proto.Size(bundle)
	path := filepath.Join(b.TempDir(), "store.db")
	st, err := store.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if err := st.SaveBundle(bundle, 1); err != nil {
		b.Fatal(err)
	}
	saved := time.Since(start)
	bundle = nil
	st.Close()
	start = time.Now()
	if st, err = store.Open(path); err != nil { // what a restarted node reads
		b.Fatal(err)
	}
	opened := time.Since(start)
	defer st.Close()
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	p, err := proxy.New(proxy.Options{HTTPAddr: "127.0.0.1:0", Logger: discardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	snap, _, _ := st.Load()
	start = time.Now()
	if err := p.Update(snap); err != nil {
		b.Fatal(err)
	}
	compiled := time.Since(start)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.Logf("%d apps: bundle %.1f MB on the wire, store file %.1f MB; SaveBundle %v, store Open %v, first compile %v; RSS %.0f MB, Go heap in use %.0f MB",
		n, float64(wire)/1e6, float64(fi.Size())/1e6, saved.Round(time.Millisecond), opened.Round(time.Millisecond),
		compiled.Round(time.Millisecond), rssMB(b), float64(ms.HeapInuse)/1e6)

	version, seq := snap.GetVersion(), uint64(1)
	apply := func(b *testing.B, d *syncv1.Delta, storeNS, swapNS *time.Duration) {
		version++
		seq++
		d.PartitionId, d.FromVersion, d.ToVersion, d.Schema = "p", version-1, version, natsutil.SyncSchema
		t0 := time.Now()
		snap, err := st.ApplyDelta(d, seq)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := p.Update(snap); err != nil {
			b.Fatal(err)
		}
		*storeNS += t1.Sub(t0)
		*swapNS += time.Since(t1)
	}
	run := func(name string, delta func(i int) *syncv1.Delta) {
		b.Run(name, func(b *testing.B) {
			var storeNS, swapNS time.Duration
			cpu0 := cpuTime(b)
			for i := 0; b.Loop(); i++ {
				apply(b, delta(i), &storeNS, &swapNS)
			}
			b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/1e3/float64(b.N), "cpu-ms/op")
			b.ReportMetric(float64(storeNS.Microseconds())/1e3/float64(b.N), "store-ms/op")
			b.ReportMetric(float64(swapNS.Microseconds())/1e3/float64(b.N), "swap-ms/op")
		})
	}
	run("change", func(i int) *syncv1.Delta {
		return &syncv1.Delta{Upserts: store.Upserts(millionApp(fmt.Sprintf("app-%07d", i*7919%n), strconv.Itoa(i)))}
	})
	run("add", func(i int) *syncv1.Delta {
		return &syncv1.Delta{Upserts: store.Upserts(millionApp(fmt.Sprintf("new-%07d-%d", i, b.N), ""))}
	})
	run("delete", func(i int) *syncv1.Delta {
		return &syncv1.Delta{Deletes: store.Refs("app", fmt.Sprintf("app-%07d", (i*7919+1)%n))}
	})
	b.Logf("after the deltas: RSS %.0f MB", rssMB(b))
}

// millionApp is a single-domain app with one static upstream; tag changes
// its name (a new release of the same app).
func millionApp(id, tag string) *configv1.App {
	return &configv1.App{
		Id: id, Name: id + tag, Domains: []string{id + ".example.com"},
		Upstreams: []*configv1.Upstream{{Id: "main", Name: "main", Servers: servers("10.0.0.1:80")}},
	}
}

// cpuTime is the CPU the process used (user and system, GC included).
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rssMB is the process's resident set (VmRSS of /proc/self/status).
func rssMB(b *testing.B) float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1e3
		}
	}
	b.Fatal("no VmRSS in /proc/self/status")
	return 0
}

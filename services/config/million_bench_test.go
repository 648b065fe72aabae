package config

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"testing"

	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	ev "github.com/strata-edge/strata/gen/strata/events/config/v1"
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
// single-domain apps. STRATA_HEAPPROFILE=file writes the heap profile
// taken while the model is alive.
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
		b.ReportMetric(float64(after-before)/float64(apps), "heap-bytes/app")
		b.ReportMetric(float64(after-before)/(1<<20), "heap-MiB")
		runtime.KeepAlive(p)
	}
}

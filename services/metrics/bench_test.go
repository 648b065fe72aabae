package metrics

// The service's ingest rate over NATS (figures in README.md):
//
//	go test -run '^$' -bench Ingest -benchtime 200x ./services/metrics/
//	STRATA_TEST_POSTGRES=postgres://... go test -run '^$' -bench Ingest -benchtime 200x ./services/metrics/

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/sketch"
	"github.com/strata-edge/strata/services/metrics/store"
)

// benchReport is one node's flush: 100 apps for 5 s, each app-second with
// 3 status codes, a latency sketch, an upstream and 8 paths.
func benchReport(seq uint64, now int64) []byte {
	r := &metricsv1.Report{BootId: "boot", Seq: seq, ClusterId: "c1"}
	lat := sketch.New()
	for i := range 50 {
		lat.Add(float64(1 + i))
	}
	for sec := range int64(5) {
		for a := range 100 {
			as := &metricsv1.AppSecond{AppId: fmt.Sprintf("app%03d", a), UnixSecond: now - 5 + sec, Requests: 50, BytesOut: 50000,
				Status:    []*metricsv1.CodeCount{{Code: 200, Count: 45}, {Code: 404, Count: 4}, {Code: 502, Count: 1}},
				LatencyMs: lat.Proto(), Upstreams: []*metricsv1.UpstreamSecond{{Server: "10.0.0.1:8080", Attempts: 50, LatencyMs: lat.Proto()}}}
			for p := range 8 {
				as.Paths = append(as.Paths, &metricsv1.NameCount{Name: fmt.Sprintf("/api/items/%d", p), Count: uint64(8 - p)})
			}
			r.Apps = append(r.Apps, as)
		}
	}
	b, _ := proto.Marshal(r)
	return b
}

// benchIngest has 4 nodes send b.N reports in all, each waiting for its
// answer as a node does.
func benchIngest(b *testing.B, newEnv func(testing.TB, Options) (*env, store.Store)) {
	e, _ := newEnv(b, Options{})
	const nodes = 4
	now := time.Now().Unix()
	var next atomic.Uint64
	var wg sync.WaitGroup
	b.ResetTimer()
	for n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			subject := natsutil.MetricsReportSubject(fmt.Sprintf("node_%d", n))
			for {
				seq := next.Add(1)
				if seq > uint64(b.N) {
					return
				}
				ans, err := e.nc.Request(subject, benchReport(seq, now), 30*time.Second)
				if err != nil || ans.Header.Get(HeaderError) != "" {
					b.Errorf("report %d: %v %v", seq, err, ans.Header)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reports/s")
	b.ReportMetric(float64(b.N*500)/b.Elapsed().Seconds(), "app-seconds/s")
}

func BenchmarkIngestSQLite(b *testing.B)   { benchIngest(b, newIngestEnv) }
func BenchmarkIngestPostgres(b *testing.B) { benchIngest(b, newPostgresEnv) }

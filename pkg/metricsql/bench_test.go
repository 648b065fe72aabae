package metricsql

import (
	"math"
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"
)

const issueSQL = `SELECT host, status, count(*), avg(latency_ms), quantile(0.99, latency_ms) FROM reqs WHERE path LIKE '/api/%' GROUP BY host, status`

// BenchmarkAdd is the per-request cost of the issue's query on a warm
// aggregator.
func BenchmarkAdd(b *testing.B) {
	for _, bc := range []struct{ name, sql string }{
		{"issue", issueSQL},
		{"topN-path", `select path, count(*) as n from reqs group by path order by n desc limit 10`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			q, err := Compile(bc.sql)
			if err != nil {
				b.Fatal(err)
			}
			a := q.NewAggregator(Limits{})
			s := randomStream(9, 4096)
			for i := range s {
				a.Add(&s[i])
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				a.Add(&s[i&4095])
			}
		})
	}
}

// BenchmarkMemory10kGroups reports the heap an aggregator of the issue's
// query holds for 10,000 groups (each with a latency sketch spanning a
// log-normal distribution), and per group; ns/op is Add into it.
func BenchmarkMemory10kGroups(b *testing.B) {
	for _, bc := range []struct{ name, sql string }{
		{"count-avg", `select host, path, count(*), avg(latency_ms), sum(bytes) from reqs group by host, path`},
		{"with-quantile", `select host, path, count(*), avg(latency_ms), quantile(0.99, latency_ms) from reqs group by host, path`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			q, err := Compile(bc.sql)
			if err != nil {
				b.Fatal(err)
			}
			r := rand.New(rand.NewPCG(1, 1))
			reqs := make([]Request, 200000)
			for i := range reqs {
				reqs[i] = Request{Host: "h" + strconv.Itoa(i%100) + ".example", Path: "/p/" + strconv.Itoa(i%10000/100),
					LatencyMs: math.Exp(r.NormFloat64()*1.5 + 3), BytesOut: 1000}
			}
			// Measured once: the bench task runs a fixed number of iterations.
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			a := q.NewAggregator(Limits{})
			for i := range reqs {
				a.Add(&reqs[i])
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			if a.Groups() != 10000 {
				b.Fatalf("%d groups", a.Groups())
			}
			perGroup := float64(after.HeapAlloc-before.HeapAlloc) / 10000
			// The loop is Add into the warm aggregator of 10,000 groups.
			for i := 0; b.Loop(); i++ {
				a.Add(&reqs[i%len(reqs)])
			}
			b.ReportMetric(perGroup*10000/(1<<20), "MiB/10k-groups")
			b.ReportMetric(perGroup, "B/group")
		})
	}
}

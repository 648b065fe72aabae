package stats

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
	"github.com/strata-edge/strata/node/geo"
	"github.com/strata-edge/strata/node/geo/geotest"
	"github.com/strata-edge/strata/pkg/metricsql"
)

func count(rs []*metricsv1.MetricResult) map[string]uint64 {
	m := map[string]uint64{}
	for _, r := range rs {
		for _, row := range r.Rows {
			m[r.MetricId+"@"+time.Unix(r.WindowStartUnix, 0).UTC().Format("15:04:05")+"v"+string(rune('0'+r.DefinitionVersion))] += row.Aggs[0].Count
		}
	}
	return m
}

// Windows align to Unix time; a snapshot swap keeps an unchanged
// definition's open window, closes a changed or removed one's.
func TestMetricSQLWindowsAcrossUpdates(t *testing.T) {
	m := NewMetricSQL("p1", nil, nil)
	def := func(v uint64) *metricsv1.MetricDefinition {
		return &metricsv1.MetricDefinition{Id: "m", Version: v, Sql: "SELECT count(*) FROM reqs", IntervalSeconds: 10}
	}
	t0 := time.Date(2026, 12, 3, 12, 0, 3, 0, time.UTC) // window 12:00:00-12:00:10
	add := func(at time.Time, n int) {
		for range n {
			m.Add(&metricsql.Request{Time: at, Path: "/"})
		}
	}
	m.Update([]*metricsv1.MetricDefinition{def(1)})
	add(t0, 3)
	m.Update([]*metricsv1.MetricDefinition{def(1)}) // unchanged: same window
	add(t0.Add(time.Second), 2)
	if rs, _ := m.take(t0.Add(2*time.Second), false); len(rs) != 0 {
		t.Fatalf("an open window was taken: %v", rs)
	}
	add(t0.Add(8*time.Second), 1)                   // 12:00:11: closes 12:00:00 on the way
	m.Update([]*metricsv1.MetricDefinition{def(2)}) // changed: its open window closes
	add(t0.Add(9*time.Second), 4)
	rs, _ := m.take(t0.Add(9*time.Second), true)
	got := count(rs)
	want := map[string]uint64{"m@12:00:00v1": 5, "m@12:00:10v1": 1, "m@12:00:10v2": 4}
	if len(got) != len(want) {
		t.Fatalf("results %v, want %v", got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Fatalf("results %v, want %v", got, want)
		}
	}
	m.Update(nil)
	if m.Active() {
		t.Fatal("active without definitions")
	}
	// A definition that does not compile is skipped, the others run.
	m.Update([]*metricsv1.MetricDefinition{{Id: "bad", Version: 1, Sql: "DELETE FROM reqs", IntervalSeconds: 10}, def(3)})
	if len(m.defs) != 1 || m.defs[0].id != "m" {
		t.Fatalf("defs %v", m.defs)
	}
}

// With the node's geo file, the columns country and asn are the client's;
// a definition that reads neither costs no lookup.
func TestMetricSQLCountryAndASN(t *testing.T) {
	db, err := geo.Open(geotest.WriteDB(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	m := NewMetricSQL("p1", db, nil)
	m.Update([]*metricsv1.MetricDefinition{{Id: "plain", Version: 1, Sql: "SELECT count(*) FROM reqs", IntervalSeconds: 10}})
	if m.needGeo.Load() {
		t.Fatal("a definition without country or asn asks for lookups")
	}
	m.Update([]*metricsv1.MetricDefinition{{Id: "geo", Version: 1, IntervalSeconds: 10,
		Sql: "SELECT country, asn, count(*) FROM reqs GROUP BY country, asn"}})
	at := time.Date(2026, 12, 3, 12, 0, 3, 0, time.UTC)
	for _, ip := range []string{"203.0.113.5", "203.0.113.9", "198.51.100.7", "192.0.2.1"} {
		m.Add(&metricsql.Request{Time: at, Path: "/", ClientIP: netip.MustParseAddr(ip)})
	}
	rs, _ := m.take(at, true)
	// The service's view of the same result.
	table, err := mustCompile(t, "SELECT country, asn, count(*) FROM reqs GROUP BY country, asn").Table(rs)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range table.GetRows() {
		got[r.Values[0]+"/"+r.Values[1]] = r.Values[2]
	}
	want := map[string]string{"DE/64500": "2", "US/64510": "1", "/0": "1"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("rows %v, want %v", got, want)
	}
}

func mustCompile(t *testing.T, sql string) *metricsql.Query {
	t.Helper()
	q, err := metricsql.Compile(sql)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// BenchmarkMetricSQLAdd is the proxy's cost per request with one or three
// definitions running, from parallel goroutines (one mutex per node).
func BenchmarkMetricSQLAdd(b *testing.B) {
	defs := []*metricsv1.MetricDefinition{
		{Id: "a", Version: 1, Sql: "SELECT path, status, count(*), quantile(0.99, latency_ms) FROM reqs GROUP BY path, status", IntervalSeconds: 10},
		{Id: "b", Version: 1, Sql: "SELECT host, count(*) FROM reqs WHERE path LIKE '/api/%' GROUP BY host", IntervalSeconds: 60},
		{Id: "c", Version: 1, Sql: "SELECT count(*), avg(bytes) FROM reqs", IntervalSeconds: 1},
	}
	for _, n := range []int{1, 3} {
		b.Run(fmt.Sprintf("defs=%d", n), func(b *testing.B) {
			m := NewMetricSQL("p1", nil, nil)
			m.Update(defs[:n])
			paths := []string{"/api/a", "/api/b", "/static/x.js", "/"}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				r := &metricsql.Request{Host: "a.example", Method: "GET", Status: 200, BytesOut: 1000}
				i := 0
				for pb.Next() {
					i++
					r.Time, r.Path, r.LatencyMs = time.Now(), paths[i%len(paths)], float64(i%100)
					m.Add(r)
				}
			})
		})
	}
}

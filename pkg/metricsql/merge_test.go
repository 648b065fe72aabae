package metricsql

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"testing"

	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
	"github.com/strata-edge/strata/pkg/sketch"
)

// randomStream is n requests over a few hosts, paths and statuses with
// log-normal latencies.
func randomStream(seed uint64, n int) []Request {
	r := rand.New(rand.NewPCG(seed, 7))
	hosts := []string{"a.example", "b.example", "c.example"}
	statuses := []int{200, 200, 200, 304, 404, 502}
	out := make([]Request, n)
	for i := range out {
		out[i] = Request{
			Time: t0, App: "shop", Host: hosts[r.IntN(len(hosts))],
			Path:   "/api/" + strconv.Itoa(r.IntN(5)),
			Method: "GET", Status: statuses[r.IntN(len(statuses))],
			BytesOut: int64(r.IntN(10000)), LatencyMs: math.Exp(r.NormFloat64()*1.5 + 3),
			ClientIP: netip.AddrFrom4([4]byte{10, 0, byte(r.IntN(4)), byte(r.IntN(256))}),
		}
	}
	return out
}

const mergeSQL = `SELECT host, status, count(*), sum(bytes), avg(latency_ms), min(latency_ms), max(latency_ms), quantile(0.99, latency_ms), quantile(0.5, latency_ms) FROM reqs WHERE path LIKE '/api/%' GROUP BY host, status ORDER BY host, status`

// Two nodes' results, merged, equal one aggregator fed both streams; the
// quantiles are within the sketch's accuracy of the exact ones.
func TestMergeEqualsOneAggregator(t *testing.T) {
	q, err := Compile(mergeSQL)
	if err != nil {
		t.Fatal(err)
	}
	s1, s2 := randomStream(1, 5000), randomStream(2, 3000)
	n1, n2, both := q.NewAggregator(Limits{}), q.NewAggregator(Limits{}), q.NewAggregator(Limits{})
	for i := range s1 {
		n1.Add(&s1[i])
		both.Add(&s1[i])
	}
	for i := range s2 {
		n2.Add(&s2[i])
		both.Add(&s2[i])
	}
	merged, err := q.Table([]*metricsv1.MetricResult{n1.Flush("m", 1, t0, 10), n2.Flush("m", 1, t0, 10)})
	if err != nil {
		t.Fatal(err)
	}
	one, err := q.Table([]*metricsv1.MetricResult{both.Flush("m", 1, t0, 10)})
	if err != nil {
		t.Fatal(err)
	}
	if merged.Windows != 2 || len(merged.Rows) != len(one.Rows) || len(one.Rows) != 3*4 {
		t.Fatalf("windows %d, rows %d and %d", merged.Windows, len(merged.Rows), len(one.Rows))
	}
	// Exact values per group, for the quantiles.
	exact := map[string][]float64{}
	for _, s := range [][]Request{s1, s2} {
		for _, r := range s {
			k := r.Host + "|" + strconv.Itoa(r.Status)
			exact[k] = append(exact[k], r.LatencyMs)
		}
	}
	for i, row := range merged.Rows {
		o := one.Rows[i].Values
		v := row.Values
		// keys, count and sum are exact; min and max too.
		for _, c := range []int{0, 1, 2, 3, 5, 6} {
			if v[c] != o[c] {
				t.Errorf("row %d column %s: merged %s, one aggregator %s", i, q.Columns()[c], v[c], o[c])
			}
		}
		if a, b := num(t, v[4]), num(t, o[4]); math.Abs(a-b) > 1e-3*math.Abs(b)+1e-3 {
			t.Errorf("row %d avg: merged %v, one %v", i, a, b)
		}
		xs := exact[v[0]+"|"+v[1]]
		slices.Sort(xs)
		if strconv.Itoa(len(xs)) != v[2] {
			t.Errorf("row %d count %s, exact %d", i, v[2], len(xs))
		}
		for c, rank := range map[int]float64{7: 0.99, 8: 0.5} {
			want := xs[int(rank*float64(len(xs)-1))]
			got := num(t, v[c])
			if math.Abs(got-want) > sketch.DefaultAccuracy*want+1e-3 {
				t.Errorf("row %d quantile(%v): %v, exact %v (more than %v%% off)", i, rank, got, want, 100*sketch.DefaultAccuracy)
			}
			if v[c] != o[c] {
				t.Errorf("row %d quantile(%v): merged %s, one aggregator %s (sketch merges are exact)", i, rank, v[c], o[c])
			}
		}
	}
}

func num(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return f
}

// Beyond the group cap, requests go to the other row, counted exactly, and
// memory holds no more groups.
func TestGroupCapOtherRow(t *testing.T) {
	q, err := Compile(`select path, count(*), sum(bytes) from reqs group by path order by path`)
	if err != nil {
		t.Fatal(err)
	}
	a := q.NewAggregator(Limits{MaxGroups: 3})
	var total int64
	for i := range 10 {
		for j := 0; j <= i; j++ {
			r := Request{Path: fmt.Sprintf("/p%d", i), BytesOut: 1}
			a.Add(&r)
			total++
		}
	}
	if a.Groups() != 3 {
		t.Fatalf("%d groups, cap 3", a.Groups())
	}
	res := a.Flush("m", 1, t0, 10)
	// /p0, /p1, /p2 fit (1+2+3 requests); the other 7 paths (4+...+10 = 49).
	if res.Overflow != 49 {
		t.Errorf("overflow %d, want 49", res.Overflow)
	}
	tab, err := q.Table([]*metricsv1.MetricResult{res, res})
	if err != nil {
		t.Fatal(err)
	}
	want := "path|count(*)|sum(bytes)\n/p0|2|2\n/p1|4|4\n/p2|6|6\n*(other)|98|98"
	if got := text(tab); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if tab.Overflow != 98 {
		t.Errorf("table overflow %d, want 98", tab.Overflow)
	}
	// The aggregator is empty after Flush and takes new groups.
	r := Request{Path: "/new"}
	a.Add(&r)
	if res := a.Flush("m", 1, t0, 10); len(res.Rows) != 1 || res.Rows[0].Keys[0] != "/new" || res.Overflow != 0 {
		t.Errorf("after flush: %v", res)
	}
}

// ORDER BY count(*) DESC LIMIT N keeps the heavy hitters of a skewed
// stream by space-saving: the true top N are reported, each count is at
// least the true count and at most error above it, and error is at most
// requests/cap.
func TestTopNSpaceSaving(t *testing.T) {
	q, err := Compile(`select path, count(*) as n, sum(bytes) from reqs group by path order by n desc limit 10`)
	if err != nil {
		t.Fatal(err)
	}
	if !q.topN {
		t.Fatal("not a top-N query")
	}
	const capGroups, requests = 100, 50000
	r := rand.New(rand.NewPCG(3, 4))
	zipf := rand.NewZipf(r, 1.2, 1, 5000)
	trueCounts := map[string]uint64{}
	nodes := []*Aggregator{q.NewAggregator(Limits{MaxGroups: capGroups}), q.NewAggregator(Limits{MaxGroups: capGroups})}
	var results []*metricsv1.MetricResult
	for _, a := range nodes {
		for range requests {
			p := "/p" + strconv.FormatUint(zipf.Uint64(), 10)
			trueCounts[p]++
			req := Request{Path: p, BytesOut: 1}
			a.Add(&req)
			if a.Groups() > capGroups {
				t.Fatalf("%d groups, cap %d", a.Groups(), capGroups)
			}
		}
		res := a.Flush("m", 1, t0, 10)
		var sum uint64
		for _, row := range res.Rows {
			if row.Error > requests/capGroups {
				t.Errorf("row %v: error %d above requests/cap = %d", row.Keys, row.Error, requests/capGroups)
			}
			if !row.Other {
				c := row.Aggs[0].Count
				sum += c - row.Error
				if row.Aggs[1].Sum != float64(c-row.Error) {
					t.Errorf("row %v: sum %v, own count %d", row.Keys, row.Aggs[1].Sum, c-row.Error)
				}
			} else {
				sum += row.Aggs[0].Count
				if res.Overflow != row.Aggs[0].Count {
					t.Errorf("overflow %d, other row %d", res.Overflow, row.Aggs[0].Count)
				}
			}
		}
		if sum != requests {
			t.Errorf("rows hold %d requests (own counts and other), sent %d", sum, requests)
		}
		results = append(results, res)
	}
	tab, err := q.Table(results)
	if err != nil {
		t.Fatal(err)
	}
	type kv struct {
		k string
		n uint64
	}
	var all []kv
	for k, n := range trueCounts {
		all = append(all, kv{k, n})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].n > all[j].n || all[i].n == all[j].n && all[i].k < all[j].k })
	if len(tab.Rows) != 11 || !tab.Rows[10].Other {
		t.Fatalf("%d rows: %s", len(tab.Rows), text(tab))
	}
	got := map[string]bool{}
	for _, row := range tab.Rows[:10] {
		got[row.Values[0]] = true
		est := uint64(num(t, row.Values[1]))
		tc := trueCounts[row.Values[0]]
		if est < tc || est > tc+2*requests/capGroups {
			t.Errorf("%s: estimate %d, true %d", row.Values[0], est, tc)
		}
	}
	// The top 5 of a Zipf stream are far above the error: all found.
	for _, e := range all[:5] {
		if !got[e.k] {
			t.Errorf("true top path %s (%d) missing from %s", e.k, e.n, text(tab))
		}
	}
}

// An existing group costs no allocation.
func TestAddDoesNotAllocate(t *testing.T) {
	for _, sql := range []string{
		mergeSQL,
		`select client_ip, count(*) from reqs where client_ip like '10.0.%' and status in (200, 304) group by client_ip`,
		`select http_user_agent, status, count(*) from reqs where http_user_agent regexp 'curl' or path not like '%x%' group by http_user_agent, status`,
	} {
		q, err := Compile(sql)
		if err != nil {
			t.Fatal(err)
		}
		a := q.NewAggregator(Limits{})
		s := randomStream(5, 2000)
		for i := range s {
			s[i].Header = func(string) string { return "curl/8" }
			a.Add(&s[i])
		}
		i := 0
		if n := testing.AllocsPerRun(1000, func() { a.Add(&s[i%len(s)]); i++ }); n != 0 {
			t.Errorf("%s: %v allocations per Add", sql, n)
		}
	}
}

// Table refuses results of another shape (another definition version).
func TestTableChecksShape(t *testing.T) {
	q, _ := Compile(`select host, count(*) from reqs group by host`)
	bad := []*metricsv1.MetricResult{{Rows: []*metricsv1.MetricRow{{Keys: []string{"a", "b"}, Aggs: []*metricsv1.AggState{{Count: 1}}}}}}
	if _, err := q.Table(bad); err == nil {
		t.Error("two keys for one GROUP BY column: no error")
	}
	bad = []*metricsv1.MetricResult{{Rows: []*metricsv1.MetricRow{{Keys: []string{"a"}}}}}
	if _, err := q.Table(bad); err == nil {
		t.Error("no aggregates: no error")
	}
	q2, _ := Compile(`select quantile(0.5, latency_ms) from reqs`)
	bad = []*metricsv1.MetricResult{{Rows: []*metricsv1.MetricRow{{Aggs: []*metricsv1.AggState{{Count: 1, Sketch: &metricsv1.Sketch{RelativeAccuracy: 0.01, Count: 5}}}}}}}
	if _, err := q2.Table(bad); err == nil {
		t.Error("inconsistent sketch: no error")
	}
}

// One Query serves many aggregators at once (one per proxy worker, say).
func TestQuerySharedByAggregators(t *testing.T) {
	q, err := Compile(`select client_ip, count(*) from reqs where client_ip like '10.0.%' and path regexp '^/api/' and status in (200, 304) group by client_ip`)
	if err != nil {
		t.Fatal(err)
	}
	s := randomStream(8, 2000)
	results := make([]*metricsv1.MetricResult, 4)
	done := make(chan int)
	for w := range results {
		go func() {
			a := q.NewAggregator(Limits{})
			for i := range s {
				r := s[i] // a copy: each worker its own Request
				a.Add(&r)
			}
			results[w] = a.Flush("m", 1, t0, 10)
			done <- w
		}()
	}
	for range results {
		<-done
	}
	one := q.NewAggregator(Limits{})
	for i := range s {
		one.Add(&s[i])
	}
	want, _ := q.Table([]*metricsv1.MetricResult{one.Flush("m", 1, t0, 10)})
	got, err := q.Table(results)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Rows) != len(want.Rows) || len(got.Rows) == 0 {
		t.Fatalf("%d rows, want %d", len(got.Rows), len(want.Rows))
	}
	for i := range got.Rows {
		if g, w := got.Rows[i].Values, want.Rows[i].Values; g[0] != w[0] || num(t, g[1]) != 4*num(t, w[1]) {
			t.Errorf("row %d: %v, want 4 times %v", i, g, w)
		}
	}
}

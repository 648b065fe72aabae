// Package storetest is the conformance suite of store.Store: every
// implementation runs Run with a constructor of fresh, empty stores.
package storetest

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/sketch"
	"github.com/strata-edge/strata/services/metrics/store"
)

// Base is the hour the suite's traffic starts at.
var Base = time.Unix(1_800_000_000, 0) // a whole hour, 2027-01-15

// Run runs the suite; newStore returns an empty store with default
// retention, closed by the caller's cleanup.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		f    func(t *testing.T, s store.Store)
	}{
		{"IdempotentIngest", testIdempotentIngest},
		{"ExactStatusCounts", testExactStatusCounts},
		{"SeriesNodeClusterFilter", testSeriesFilter},
		{"SeriesSteps", testSeriesSteps},
		{"Quantiles", testQuantiles},
		{"Top", testTop},
		{"TopWAFRules", testTopWAFRules},
		{"Health", testHealth},
		{"HealthConcurrentReports", testHealthConcurrent},
		{"Compaction", testCompaction},
		{"CompactionRetention", testCompactionRetention},
		{"CompactConcurrentWithIngest", testCompactConcurrent},
		{"LargeReport", testLargeReport},
		{"Limits", testLimits},
		{"NodeStats", testNodeStats},
		{"MetricResults", testMetricResults},
		{"QueryErrors", testQueryErrors},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.f(t, newStore(t)) })
	}
}

var ctx = context.Background()

// Sketch returns the wire sketch of vals.
func Sketch(vals ...float64) *metricsv1.Sketch {
	s := sketch.New()
	for _, v := range vals {
		s.Add(v)
	}
	return s.Proto()
}

// App returns an AppSecond with n requests, all with status code and
// latency lat ms.
func App(app string, sec int64, n uint64, code uint32) *metricsv1.AppSecond {
	return &metricsv1.AppSecond{AppId: app, UnixSecond: sec, Requests: n, Status: []*metricsv1.CodeCount{{Code: code, Count: n}},
		BytesIn: 10 * n, BytesOut: 100 * n}
}

func report(boot string, seq uint64, cluster string, apps ...*metricsv1.AppSecond) *metricsv1.Report {
	return &metricsv1.Report{BootId: boot, Seq: seq, ClusterId: cluster, Apps: apps}
}

func ingest(t *testing.T, s store.Store, node string, r *metricsv1.Report) {
	t.Helper()
	dup, err := s.Ingest(ctx, node, r, Base.Add(time.Hour))
	if err != nil {
		t.Fatalf("Ingest(%s, %s/%d): %v", node, r.BootId, r.Seq, err)
	}
	if dup {
		t.Fatalf("Ingest(%s, %s/%d): dup, want new", node, r.BootId, r.Seq)
	}
}

func series(t *testing.T, s store.Store, q store.SeriesQuery) *metricsv1.QuerySeriesResponse {
	t.Helper()
	if q.Start.IsZero() {
		q.Start, q.End = Base, Base.Add(time.Hour)
	}
	r, err := s.Series(ctx, q)
	if err != nil {
		t.Fatalf("Series(%+v): %v", q, err)
	}
	return r
}

func sum(r *metricsv1.QuerySeriesResponse) float64 {
	var v float64
	for _, p := range r.Points {
		v += p.Value
	}
	return v
}

func sec(i int) int64 { return Base.Unix() + int64(i) }

func testIdempotentIngest(t *testing.T, s store.Store) {
	r := report("boot-a", 1, "c1", App("app1", sec(0), 5, 200))
	ingest(t, s, "n1", r)
	for range 2 {
		dup, err := s.Ingest(ctx, "n1", r, Base.Add(time.Hour))
		if err != nil || !dup {
			t.Fatalf("second Ingest of the same report: dup=%v err=%v, want dup", dup, err)
		}
	}
	// Another node may use the same boot id and seq.
	ingest(t, s, "n2", report("boot-a", 1, "c1", App("app1", sec(1), 7, 200)))
	if got := sum(series(t, s, store.SeriesQuery{AppID: "app1", Series: "requests"})); got != 12 {
		t.Fatalf("requests = %v after a duplicate, want 12", got)
	}
	// A restarted node counts from seq 1 again under a new boot id.
	ingest(t, s, "n1", report("boot-b", 1, "c1", App("app1", sec(2), 3, 200)))
	if got := sum(series(t, s, store.SeriesQuery{AppID: "app1", Series: "requests"})); got != 15 {
		t.Fatalf("requests = %v after a new boot, want 15", got)
	}
}

func testExactStatusCounts(t *testing.T, s store.Store) {
	want := map[uint32]uint64{}
	classes := map[string]float64{}
	r := rand.New(rand.NewPCG(1, 1))
	codes := []uint32{101, 200, 201, 204, 301, 304, 404, 429, 500, 502, 503}
	for seq := uint64(1); seq <= 20; seq++ {
		var apps []*metricsv1.AppSecond
		for i := range 30 {
			a := &metricsv1.AppSecond{AppId: "app1", UnixSecond: sec(int(seq)*30 + i)}
			for _, c := range codes {
				n := r.Uint64N(1000)
				a.Status = append(a.Status, &metricsv1.CodeCount{Code: c, Count: n})
				a.Requests += n
				want[c] += n
				classes[fmt.Sprintf("status_%dxx", c/100)] += float64(n)
			}
			apps = append(apps, a)
		}
		ingest(t, s, fmt.Sprintf("n%d", seq%3), report("b", seq, "c1", apps...))
	}
	top, err := s.Top(ctx, store.TopQuery{AppID: "app1", By: "status", Start: Base, End: Base.Add(time.Hour), Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(top.Rows) != len(codes) {
		t.Fatalf("top by status: %d rows, want %d", len(top.Rows), len(codes))
	}
	var total uint64
	for i, row := range top.Rows {
		var code uint32
		fmt.Sscan(row.Name, &code)
		if row.Requests != want[code] {
			t.Errorf("status %s: %d, want %d", row.Name, row.Requests, want[code])
		}
		if (code >= 500) != (row.Errors == row.Requests) || (code < 500 && row.Errors != 0) {
			t.Errorf("status %s: errors %d of %d", row.Name, row.Errors, row.Requests)
		}
		if i > 0 && row.Requests > top.Rows[i-1].Requests {
			t.Errorf("top rows not largest first: %v", top.Rows)
		}
		total += row.Requests
	}
	if top.Total != total {
		t.Errorf("total %d, want %d", top.Total, total)
	}
	for name, w := range classes {
		if got := sum(series(t, s, store.SeriesQuery{AppID: "app1", Series: name})); got != w {
			t.Errorf("%s = %v, want %v", name, got, w)
		}
	}
	if got := sum(series(t, s, store.SeriesQuery{AppID: "app1", Series: "requests"})); got != float64(total) {
		t.Errorf("requests = %v, want %v", got, total)
	}
	if got := sum(series(t, s, store.SeriesQuery{AppID: "other", Series: "requests"})); got != 0 {
		t.Errorf("another app's requests = %v, want 0", got)
	}
}

func testSeriesFilter(t *testing.T, s store.Store) {
	ingest(t, s, "n1", report("b", 1, "c1", App("app1", sec(0), 1, 200), App("app2", sec(0), 1000, 200)))
	ingest(t, s, "n2", report("b", 1, "c1", App("app1", sec(0), 10, 200)))
	ingest(t, s, "n3", report("b", 1, "c2", App("app1", sec(0), 100, 200)))
	for _, tc := range []struct {
		node, cluster string
		want          float64
	}{{"", "", 111}, {"n1", "", 1}, {"n3", "", 100}, {"", "c1", 11}, {"", "c2", 100}, {"n3", "c1", 0}, {"n9", "", 0}} {
		got := sum(series(t, s, store.SeriesQuery{AppID: "app1", Series: "requests", NodeID: tc.node, ClusterID: tc.cluster}))
		if got != tc.want {
			t.Errorf("node %q cluster %q: requests %v, want %v", tc.node, tc.cluster, got, tc.want)
		}
	}
	if got := sum(series(t, s, store.SeriesQuery{AppID: "app1", Series: "bytes_out"})); got != 11100 {
		t.Errorf("bytes_out %v, want 11100", got)
	}
	if got := sum(series(t, s, store.SeriesQuery{AppID: "app1", Series: "bytes_in", NodeID: "n2"})); got != 100 {
		t.Errorf("bytes_in of n2 %v, want 100", got)
	}
}

func testSeriesSteps(t *testing.T, s store.Store) {
	var apps []*metricsv1.AppSecond
	for i := range 3600 {
		a := App("app1", sec(i), 2, 200)
		a.Cache = []*metricsv1.NameCount{{Name: "HIT", Count: 1}, {Name: "MISS", Count: 1}}
		a.UpstreamErrors = []*metricsv1.NameCount{{Name: "timeout", Count: 1}}
		apps = append(apps, a)
	}
	ingest(t, s, "n1", report("b", 1, "c1", apps...))
	r := series(t, s, store.SeriesQuery{AppID: "app1", Series: "requests", Start: Base, End: Base.Add(time.Hour)})
	if r.StepSeconds != 60 || len(r.Points) != 60 || r.ResolutionSeconds != 1 {
		t.Fatalf("step 0 over an hour: step %d, %d points, resolution %d; want 60, 60, 1", r.StepSeconds, len(r.Points), r.ResolutionSeconds)
	}
	for i, p := range r.Points {
		if p.Value != 120 || p.UnixSecond != sec(i*60) {
			t.Fatalf("point %d = %v at %d, want 120 at %d", i, p.Value, p.UnixSecond, sec(i*60))
		}
	}
	r = series(t, s, store.SeriesQuery{AppID: "app1", Series: "requests", Start: Base.Add(5 * time.Second), End: Base.Add(35 * time.Second), Step: 10 * time.Second})
	if len(r.Points) != 4 || r.Points[0].UnixSecond != sec(0) || r.Points[0].Value != 20 {
		t.Fatalf("10 s steps from +5s: %v", r.Points)
	}
	if v := series(t, s, store.SeriesQuery{AppID: "app1", Series: "cache_hit_ratio"}).Points[3].Value; v != 0.5 {
		t.Errorf("cache_hit_ratio %v, want 0.5", v)
	}
	if v := sum(series(t, s, store.SeriesQuery{AppID: "app1", Series: "upstream_errors"})); v != 3600 {
		t.Errorf("upstream_errors %v, want 3600", v)
	}
}

// latencies returns n log-normal latencies (ms).
func latencies(r *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = math.Exp(r.NormFloat64()*1.2 + 3)
	}
	return v
}

func exactQuantile(vals []float64, q float64) float64 {
	s := slices.Clone(vals)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1))]
}

func checkQuantiles(t *testing.T, s store.Store, what string, all, up []float64, start, end time.Time) {
	t.Helper()
	for _, tc := range []struct {
		series string
		q      float64
		vals   []float64
	}{{"latency_p50", 0.5, all}, {"latency_p90", 0.9, all}, {"latency_p99", 0.99, all}, {"latency_p999", 0.999, all}, {"upstream_latency_p99", 0.99, up}} {
		r := series(t, s, store.SeriesQuery{AppID: "app1", Series: tc.series, Start: start, End: end, Step: end.Sub(start)})
		if len(r.Points) != 1 {
			t.Fatalf("%s %s: %d points, want 1", what, tc.series, len(r.Points))
		}
		exact := exactQuantile(tc.vals, tc.q)
		if rel := math.Abs(r.Points[0].Value-exact) / exact; rel > sketch.DefaultAccuracy+1e-9 {
			t.Errorf("%s %s = %v, exact %v: relative error %.4f > %v", what, tc.series, r.Points[0].Value, exact, rel, sketch.DefaultAccuracy)
		}
	}
}

func testQuantiles(t *testing.T, s store.Store) {
	r := rand.New(rand.NewPCG(7, 7))
	var all, up []float64
	// Three nodes, 600 seconds each, 50 requests a second: merged per step
	// across nodes and seconds.
	for n := range 3 {
		var apps []*metricsv1.AppSecond
		for i := range 600 {
			v := latencies(r, 50)
			u := latencies(r, 20)
			all, up = append(all, v...), append(up, u...)
			a := App("app1", sec(i), 50, 200)
			a.LatencyMs = Sketch(v...)
			a.Upstreams = []*metricsv1.UpstreamSecond{{Server: "10.0.0.1:80", Attempts: 10, LatencyMs: Sketch(u[:10]...)}, {Server: "10.0.0.2:80", Attempts: 10, LatencyMs: Sketch(u[10:]...)}}
			apps = append(apps, a)
		}
		ingest(t, s, fmt.Sprintf("n%d", n), report("b", 1, "c1", apps...))
	}
	checkQuantiles(t, s, "1 s rows", all, up, Base, Base.Add(10*time.Minute))
	// Roll the seconds into minutes, then the minutes into hours.
	if err := s.Compact(ctx, Base.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	checkQuantiles(t, s, "1 min rows", all, up, Base, Base.Add(10*time.Minute))
	if r := series(t, s, store.SeriesQuery{AppID: "app1", Series: "latency_p99", Start: Base, End: Base.Add(10 * time.Minute)}); r.ResolutionSeconds != 60 {
		t.Fatalf("after compaction: resolution %d, want 60", r.ResolutionSeconds)
	}
	if err := s.Compact(ctx, Base.Add(9*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	checkQuantiles(t, s, "1 h rows", all, up, Base, Base.Add(time.Hour))
}

func testTop(t *testing.T, s store.Store) {
	mk := func(sec int64, paths map[string][2]uint64, ups map[string][2]uint64, cache map[string]uint64) *metricsv1.AppSecond {
		a := App("app1", sec, 0, 200)
		a.Status = nil
		for p, c := range paths {
			a.Paths = append(a.Paths, &metricsv1.NameCount{Name: p, Count: c[0], Error: c[1]})
		}
		for u, c := range ups {
			a.Upstreams = append(a.Upstreams, &metricsv1.UpstreamSecond{Server: u, Attempts: c[0], Errors: []*metricsv1.NameCount{{Name: "timeout", Count: c[1]}}})
		}
		for n, c := range cache {
			a.Cache = append(a.Cache, &metricsv1.NameCount{Name: n, Count: c})
			a.Requests += c
		}
		a.Status = []*metricsv1.CodeCount{{Code: 200, Count: a.Requests - 1}, {Code: 502, Count: 1}}
		return a
	}
	ingest(t, s, "n1", report("b", 1, "c1",
		mk(sec(0), map[string][2]uint64{"/a": {10, 1}, "/b": {5, 0}}, map[string][2]uint64{"u1:80": {10, 2}}, map[string]uint64{"HIT": 30, "MISS": 10}),
		mk(sec(1), map[string][2]uint64{"/a": {7, 2}, "/c": {20, 0}}, map[string][2]uint64{"u1:80": {5, 0}, "u2:80": {30, 3}}, map[string]uint64{"HIT": 1})))
	ingest(t, s, "n2", report("b", 1, "c2",
		mk(sec(0), map[string][2]uint64{"/b": {100, 4}}, map[string][2]uint64{"u2:80": {1, 1}}, map[string]uint64{"BYPASS": 5})))
	top := func(by string, limit int) []*metricsv1.TopRow {
		r, err := s.Top(ctx, store.TopQuery{AppID: "app1", By: by, Start: Base, End: Base.Add(time.Minute), Limit: limit})
		if err != nil {
			t.Fatalf("Top(%s): %v", by, err)
		}
		if r.Total != 46 || r.By != by {
			t.Errorf("Top(%s): total %d by %q, want 46", by, r.Total, r.By)
		}
		return r.Rows
	}
	str := func(rows []*metricsv1.TopRow) string {
		var b []string
		for _, r := range rows {
			b = append(b, fmt.Sprintf("%s=%d/%d/%d", r.Name, r.Requests, r.Error, r.Errors))
		}
		return strings.Join(b, " ")
	}
	for _, tc := range []struct {
		by    string
		limit int
		want  string
	}{
		{"path", 0, "/b=105/4/0 /c=20/0/0 /a=17/3/0"},
		{"path", 2, "/b=105/4/0 /c=20/0/0"},
		{"upstream", 0, "u2:80=31/0/4 u1:80=15/0/2"},
		{"cache", 0, "HIT=31/0/0 MISS=10/0/0 BYPASS=5/0/0"},
		{"node", 0, "n1=41/0/2 n2=5/0/1"},
		{"status", 0, "200=43/0/0 502=3/0/3"},
	} {
		if got := str(top(tc.by, tc.limit)); got != tc.want {
			t.Errorf("Top(%s, %d) = %s, want %s", tc.by, tc.limit, got, tc.want)
		}
	}
	// Path counts survive downsampling.
	if err := s.Compact(ctx, Base.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := str(top("path", 0)); got != "/b=105/4/0 /c=20/0/0 /a=17/3/0" {
		t.Errorf("Top(path) after compaction = %s", got)
	}
	if got := str(top("upstream", 0)); got != "u2:80=31/0/4 u1:80=15/0/2" {
		t.Errorf("Top(upstream) after compaction = %s", got)
	}
}

// Given WAF rule counts of two nodes over two seconds, Top by waf_rule sums
// them per rule with the blocked and challenged shares, before and after
// the seconds roll up into minutes and hours.
func testTopWAFRules(t *testing.T, s store.Store) {
	mk := func(sec int64, rules ...*metricsv1.WafRuleCount) *metricsv1.AppSecond {
		a := App("app1", sec, 10, 200)
		a.WafRules = rules
		for _, r := range rules {
			a.WafHits += r.Count
		}
		return a
	}
	rule := func(id, action string, n uint64) *metricsv1.WafRuleCount {
		return &metricsv1.WafRuleCount{RuleId: id, Action: action, Count: n}
	}
	ingest(t, s, "n1", report("b", 1, "c1",
		mk(sec(0), rule("942100", "blocked", 3), rule("949110", "blocked", 3), rule("920350", "detected", 1)),
		mk(sec(1), rule("942100", "blocked", 2), rule("custom-bot", "challenged", 4))))
	ingest(t, s, "n2", report("b", 1, "c2", mk(sec(0), rule("942100", "detected", 5))))
	want := "942100=10/5/0 custom-bot=4/0/4 949110=3/3/0 920350=1/0/0"
	check := func(what string) {
		t.Helper()
		r, err := s.Top(ctx, store.TopQuery{AppID: "app1", By: "waf_rule", Start: Base, End: Base.Add(time.Minute)})
		if err != nil {
			t.Fatalf("%s: Top(waf_rule): %v", what, err)
		}
		var b []string
		for _, row := range r.Rows {
			b = append(b, fmt.Sprintf("%s=%d/%d/%d", row.Name, row.Requests, row.Blocked, row.Challenged))
		}
		if got := strings.Join(b, " "); got != want {
			t.Errorf("%s: Top(waf_rule) = %s, want %s", what, got, want)
		}
	}
	check("1 s rows")
	for _, now := range []time.Time{Base.Add(3 * time.Hour), Base.Add(9 * 24 * time.Hour)} {
		if err := s.Compact(ctx, now); err != nil {
			t.Fatal(err)
		}
		check("rolled up at " + now.Sub(Base).String())
	}
	// Bad rule counts are refused naming the field.
	bad := mk(sec(2), rule("942100", "dropped", 1))
	if _, err := s.Ingest(ctx, "n1", report("b", 2, "c1", bad), Base); err == nil || !strings.Contains(err.Error(), "apps[0].waf_rules[0].action") {
		t.Errorf("an unknown action: %v, want an error naming apps[0].waf_rules[0].action", err)
	}
	bad = mk(sec(2), rule(strings.Repeat("9", store.MaxWAFRuleIDLen+1), "blocked", 1))
	if _, err := s.Ingest(ctx, "n1", report("b", 3, "c1", bad), Base); err == nil || !strings.Contains(err.Error(), "apps[0].waf_rules[0].rule_id") {
		t.Errorf("a long rule id: %v, want an error naming apps[0].waf_rules[0].rule_id", err)
	}
}

func testHealth(t *testing.T, s store.Store) {
	srv := func(app, server string, healthy bool, reason string) *metricsv1.ServerHealth {
		return &metricsv1.ServerHealth{AppId: app, Upstream: "up", Server: server, Healthy: healthy, Reason: reason}
	}
	at := func(i int) time.Time { return Base.Add(time.Duration(i) * time.Second) }
	steps := []struct {
		node    string
		servers []*metricsv1.ServerHealth
	}{
		{"n1", []*metricsv1.ServerHealth{srv("app1", "s1:80", true, ""), srv("app2", "s9:80", true, "")}}, // first seen: 2 changes
		{"n1", []*metricsv1.ServerHealth{srv("app1", "s1:80", true, ""), srv("app2", "s9:80", true, "")}}, // nothing
		{"n1", []*metricsv1.ServerHealth{srv("app1", "s1:80", false, "connect refused")}},                 // 1
		{"n1", []*metricsv1.ServerHealth{srv("app1", "s1:80", false, "timeout")}},                         // reason changed: 1
		{"n2", []*metricsv1.ServerHealth{srv("app1", "s1:80", false, "timeout")}},                         // another node's view: 1
		{"n1", []*metricsv1.ServerHealth{srv("app1", "s1:80", true, "")}},                                 // 1
	}
	for i, st := range steps {
		if _, err := s.Ingest(ctx, st.node, &metricsv1.Report{BootId: "b", Seq: uint64(i + 1), Servers: st.servers}, at(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RecordHealth(ctx, []*metricsv1.HealthChange{{Time: timestamppb.New(at(10)), NodeId: "n1", Healthy: false, Reason: "no report for 15s"}}); err != nil {
		t.Fatal(err)
	}
	str := func(cs []*metricsv1.HealthChange) string {
		var b []string
		for _, c := range cs {
			b = append(b, fmt.Sprintf("%d:%s:%s:%s:%v:%s", c.Time.AsTime().Sub(Base)/time.Second, c.NodeId, c.AppId, c.Server, c.Healthy, c.Reason))
		}
		return strings.Join(b, " ")
	}
	for _, tc := range []struct {
		q    store.HealthQuery
		want string
	}{
		{store.HealthQuery{AppID: "app1"}, "5:n1:app1:s1:80:true: 4:n2:app1:s1:80:false:timeout 3:n1:app1:s1:80:false:timeout 2:n1:app1:s1:80:false:connect refused 0:n1:app1:s1:80:true:"},
		{store.HealthQuery{AppID: "app1", Limit: 2}, "5:n1:app1:s1:80:true: 4:n2:app1:s1:80:false:timeout"},
		{store.HealthQuery{AppID: "app2"}, "0:n1:app2:s9:80:true:"},
		{store.HealthQuery{NodeID: "n2"}, "4:n2:app1:s1:80:false:timeout"},
		{store.HealthQuery{NodeID: "n1", Limit: 2}, "10:n1:::false:no report for 15s 5:n1:app1:s1:80:true:"},
		{store.HealthQuery{AppID: "app1", Start: at(3), End: at(5)}, "4:n2:app1:s1:80:false:timeout 3:n1:app1:s1:80:false:timeout"},
	} {
		q := tc.q
		if q.Start.IsZero() {
			q.Start, q.End = Base, Base.Add(time.Hour)
		}
		got, err := s.Health(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if str(got) != tc.want {
			t.Errorf("Health(%+v)\n got %s\nwant %s", tc.q, str(got), tc.want)
		}
	}
	err := s.RecordHealth(ctx, []*metricsv1.HealthChange{{NodeId: "n1"}})
	if !strings.Contains(fmt.Sprint(err), "changes[0].time") {
		t.Errorf("RecordHealth without time: %v, want an error naming changes[0].time", err)
	}
}

// seedHours ingests 3 hours of 1 s traffic of app1 (2 requests a second,
// one 200 and one 500) from two nodes.
func seedHours(t *testing.T, s store.Store) {
	for n, node := range []string{"n1", "n2"} {
		seq := uint64(1)
		for h := range 3 {
			var apps []*metricsv1.AppSecond
			for i := range 3600 {
				a := App("app1", sec(h*3600+i), 2, 200)
				a.Status = []*metricsv1.CodeCount{{Code: 200, Count: 1}, {Code: 500, Count: 1}}
				a.LatencyMs = Sketch(float64(10+n), float64(20+n))
				a.Paths = []*metricsv1.NameCount{{Name: "/x", Count: 2}}
				apps = append(apps, a)
			}
			if _, err := s.Ingest(ctx, node, report("b", seq, "c1", apps...), Base.Add(3*time.Hour)); err != nil {
				t.Fatal(err)
			}
			seq++
		}
	}
}

func testCompaction(t *testing.T, s store.Store) {
	seedHours(t, s)
	all := store.SeriesQuery{AppID: "app1", Series: "requests", Start: Base, End: Base.Add(3 * time.Hour)}
	check := func(what string, wantRes uint32) {
		t.Helper()
		r := series(t, s, all)
		if got := sum(r); got != 4*3*3600 {
			t.Errorf("%s: requests %v, want %v", what, got, 4*3*3600)
		}
		if r.ResolutionSeconds != wantRes {
			t.Errorf("%s: resolution %d, want %d", what, r.ResolutionSeconds, wantRes)
		}
		n1 := sum(series(t, s, store.SeriesQuery{AppID: "app1", Series: "status_5xx", NodeID: "n1", Start: Base, End: Base.Add(3 * time.Hour)}))
		if n1 != 3*3600 {
			t.Errorf("%s: n1 5xx %v, want %v", what, n1, 3*3600)
		}
		top, err := s.Top(ctx, store.TopQuery{AppID: "app1", By: "status", Start: Base, End: Base.Add(3 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if len(top.Rows) != 2 || top.Rows[0].Requests != 2*3*3600 || top.Rows[1].Requests != 2*3*3600 {
			t.Errorf("%s: top by status %v", what, top.Rows)
		}
	}
	check("1 s rows", 1)
	// Half an hour after the last second: the first two hours and a half
	// are older than an hour, their whole minutes roll up.
	now := Base.Add(3*time.Hour + 30*time.Minute)
	for range 2 { // idempotent
		if err := s.Compact(ctx, now); err != nil {
			t.Fatal(err)
		}
		check("rolled to minutes", 60)
	}
	// The last half hour is still at 1 s: a query starting there reads it.
	if r := series(t, s, store.SeriesQuery{AppID: "app1", Series: "requests", Start: Base.Add(150 * time.Minute), End: Base.Add(3 * time.Hour), Step: time.Second}); r.ResolutionSeconds != 1 || r.StepSeconds != 1 || sum(r) != 4*1800 {
		t.Errorf("recent half hour: resolution %d step %d requests %v", r.ResolutionSeconds, r.StepSeconds, sum(r))
	}
	// Asked for 10 s steps over minute rows, the step becomes a minute.
	if r := series(t, s, store.SeriesQuery{AppID: "app1", Series: "requests", Start: Base, End: Base.Add(time.Hour), Step: 10 * time.Second}); r.StepSeconds != 60 || len(r.Points) != 60 || r.Points[0].Value != 240 {
		t.Errorf("10 s steps over minute rows: step %d, %d points, first %v", r.StepSeconds, len(r.Points), r.Points[0].Value)
	}
	now = Base.Add(8 * 24 * time.Hour)
	for range 2 {
		if err := s.Compact(ctx, now); err != nil {
			t.Fatal(err)
		}
		check("rolled to hours", 3600)
	}
	if r := series(t, s, all); len(r.Points) != 3 || r.Points[0].Value != 4*3600 {
		t.Errorf("hour rows: %v", r.Points)
	}
	p99 := series(t, s, store.SeriesQuery{AppID: "app1", Series: "latency_p99", Start: Base, End: Base.Add(time.Hour), Step: time.Hour})
	if v := p99.Points[0].Value; math.Abs(v-21)/21 > sketch.DefaultAccuracy {
		t.Errorf("p99 after rolling to hours = %v, want 21 within 1%%", v)
	}
	// A year and a day on, everything is gone.
	if err := s.Compact(ctx, Base.Add(366*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := sum(series(t, s, all)); got != 0 {
		t.Errorf("after retention: requests %v, want 0", got)
	}
}

func testCompactionRetention(t *testing.T, s store.Store) {
	r := &metricsv1.Report{BootId: "b", Seq: 1, DroppedReports: 3,
		System:  []*metricsv1.SystemSample{{UnixSecond: sec(0), CpuPercent: 5}},
		Metrics: []*metricsv1.MetricResult{{MetricId: "m1", WindowStartUnix: sec(0), WindowSeconds: 10}},
		Servers: []*metricsv1.ServerHealth{{AppId: "app1", Server: "s:80", Healthy: true}},
	}
	if _, err := s.Ingest(ctx, "n1", r, Base); err != nil {
		t.Fatal(err)
	}
	counts := func() (int, int, int) {
		st, err := s.NodeStats(ctx, "n1", Base, Base.Add(time.Hour), 0)
		if err != nil {
			t.Fatal(err)
		}
		m, err := s.MetricResults(ctx, "m1", Base, Base.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		h, err := s.Health(ctx, store.HealthQuery{NodeID: "n1", Start: Base, End: Base.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		return len(st.Samples), len(m), len(h)
	}
	if err := s.Compact(ctx, Base.Add(6*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if a, b, c := counts(); a != 1 || b != 1 || c != 1 {
		t.Fatalf("after 6 days: %d samples, %d results, %d changes; want 1 each", a, b, c)
	}
	// Within the dedup window, a retry is still a duplicate.
	if dup, err := s.Ingest(ctx, "n1", r, Base.Add(6*24*time.Hour)); err != nil || !dup {
		t.Fatalf("retry after 6 days: dup=%v err=%v", dup, err)
	}
	if err := s.Compact(ctx, Base.Add(8*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if a, b, c := counts(); a != 0 || b != 0 || c != 0 {
		t.Fatalf("after 8 days: %d samples, %d results, %d changes; want none", a, b, c)
	}
}

func testCompactConcurrent(t *testing.T, s store.Store) {
	const nodes, reports, perReport = 3, 20, 30
	var wg sync.WaitGroup
	errs := make(chan error, nodes+1)
	for n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := 1; seq <= reports; seq++ {
				var apps []*metricsv1.AppSecond
				for i := range perReport {
					apps = append(apps, App("app1", sec((seq-1)*perReport+i), 1, 200))
				}
				if _, err := s.Ingest(ctx, fmt.Sprintf("n%d", n), report("b", uint64(seq), "c1", apps...), Base); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	stop := make(chan struct{})
	var cwg sync.WaitGroup
	for range 2 { // two compactors, like two control replicas
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := s.Compact(ctx, Base.Add(70*time.Minute)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	cwg.Wait()
	if err := s.Compact(ctx, Base.Add(70*time.Minute)); err != nil {
		t.Fatal(err)
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := sum(series(t, s, store.SeriesQuery{AppID: "app1", Series: "requests"})); got != nodes*reports*perReport {
		t.Fatalf("requests %v after concurrent compaction, want %v", got, nodes*reports*perReport)
	}
}

func testLargeReport(t *testing.T, s store.Store) {
	apps := make([]*metricsv1.AppSecond, store.MaxAppSeconds)
	for i := range apps {
		a := App(fmt.Sprintf("app%d", i%100), sec(i/100), 3, 200)
		a.LatencyMs = Sketch(5, 10, 15)
		a.Paths = []*metricsv1.NameCount{{Name: "/", Count: 3}}
		apps[i] = a
	}
	ingest(t, s, "n1", report("b", 1, "c1", apps...))
	if got := sum(series(t, s, store.SeriesQuery{AppID: "app42", Series: "requests"})); got != 300 {
		t.Fatalf("app42 requests %v, want 300", got)
	}
	if _, err := s.Ingest(ctx, "n1", report("b", 2, "c1", append(apps, App("x", sec(0), 1, 200))...), Base); !strings.Contains(fmt.Sprint(err), "apps") || apierr.Violations(err) == nil {
		t.Fatalf("a report of %d app-seconds: %v, want an invalid error naming apps", store.MaxAppSeconds+1, err)
	}
}

func testLimits(t *testing.T, s store.Store) {
	bad := Sketch(1, 2, 3)
	bad.Count = 99
	farBuckets := Sketch(1)
	farBuckets.Offset = 1 << 30
	coarse, _ := sketch.WithAccuracy(0.05)
	coarse.Add(3)
	long := strings.Repeat("x", store.MaxNameLen+1)
	for _, tc := range []struct {
		name, node, field string
		r                 *metricsv1.Report
	}{
		{"no boot id", "n1", "boot_id", &metricsv1.Report{Seq: 1}},
		{"seq 0", "n1", "seq", &metricsv1.Report{BootId: "b"}},
		{"no node", "", "node_id", &metricsv1.Report{BootId: "b", Seq: 1}},
		{"bad count", "n1", "apps[1].latency_ms", report("b", 1, "", App("a", sec(0), 1, 200), &metricsv1.AppSecond{AppId: "a", UnixSecond: sec(0), LatencyMs: bad})},
		{"buckets out of range", "n1", "apps[0].upstreams[0].latency_ms", report("b", 1, "", &metricsv1.AppSecond{AppId: "a", UnixSecond: sec(0), Upstreams: []*metricsv1.UpstreamSecond{{Server: "s:1", LatencyMs: farBuckets}}})},
		{"other accuracy", "n1", "apps[0].latency_ms", report("b", 1, "", &metricsv1.AppSecond{AppId: "a", UnixSecond: sec(0), LatencyMs: coarse.Proto()})},
		{"status code", "n1", "apps[0].status[0].code", report("b", 1, "", App("a", sec(0), 1, 42))},
		{"no app", "n1", "apps[0].app_id", report("b", 1, "", App("", sec(0), 1, 200))},
		{"second in the future", "n1", "apps[0].unix_second", report("b", 1, "", App("a", sec(0)+3*3600, 1, 200))},
		{"long path", "n1", "apps[0].paths[0].name", report("b", 1, "", &metricsv1.AppSecond{AppId: "a", UnixSecond: sec(0), Paths: []*metricsv1.NameCount{{Name: long, Count: 1}}})},
		{"metric sketch", "n1", "metrics[0].rows[0].aggs[0].sketch", &metricsv1.Report{BootId: "b", Seq: 1, Metrics: []*metricsv1.MetricResult{{MetricId: "m", WindowStartUnix: sec(0), Rows: []*metricsv1.MetricRow{{Aggs: []*metricsv1.AggState{{Sketch: bad}}}}}}}},
		{"too many samples", "n1", "system", &metricsv1.Report{BootId: "b", Seq: 1, System: make([]*metricsv1.SystemSample, store.MaxSystemSamples+1)}},
		{"server without address", "n1", "servers[0].server", &metricsv1.Report{BootId: "b", Seq: 1, Servers: []*metricsv1.ServerHealth{{AppId: "a"}}}},
	} {
		_, err := s.Ingest(ctx, tc.node, tc.r, Base.Add(time.Hour))
		vs := apierr.Violations(err)
		if len(vs) != 1 || vs[0].Field != tc.field {
			t.Errorf("%s: %v, want an invalid error naming %s", tc.name, err, tc.field)
		}
	}
	// Nothing of the refused reports was stored, not even their dedup key.
	if got := sum(series(t, s, store.SeriesQuery{AppID: "a", Series: "requests"})); got != 0 {
		t.Errorf("a refused report was stored: requests %v", got)
	}
	ingest(t, s, "n1", report("b", 1, "", App("a", sec(0), 1, 200)))
}

func testNodeStats(t *testing.T, s store.Store) {
	r := &metricsv1.Report{BootId: "b1", Seq: 1, DroppedReports: 2}
	for i := range 120 {
		r.System = append(r.System, &metricsv1.SystemSample{UnixSecond: sec(i * 5), CpuPercent: float64(i), MemoryUsedBytes: uint64(i)})
	}
	if _, err := s.Ingest(ctx, "n1", r, Base.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	// The counter is per boot: a later report of the boot says 5 in all.
	if _, err := s.Ingest(ctx, "n1", &metricsv1.Report{BootId: "b1", Seq: 2, DroppedReports: 5}, Base.Add(11*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Ingest(ctx, "n1", &metricsv1.Report{BootId: "b2", Seq: 1, DroppedReports: 1}, Base.Add(12*time.Minute)); err != nil {
		t.Fatal(err)
	}
	st, err := s.NodeStats(ctx, "n1", Base, Base.Add(10*time.Minute), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Samples) != 60 || st.Samples[0].CpuPercent != 1 || st.Samples[59].CpuPercent != 119 {
		t.Errorf("step 0 over 10 min: %d samples, first cpu %v", len(st.Samples), st.Samples[0].GetCpuPercent())
	}
	if st.DroppedReports != 6 || !st.LastReport.AsTime().Equal(Base.Add(12*time.Minute)) {
		t.Errorf("dropped %d last report %v, want 6 and %v", st.DroppedReports, st.LastReport.AsTime(), Base.Add(12*time.Minute))
	}
	st, err = s.NodeStats(ctx, "n1", Base, Base.Add(time.Minute), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Samples) != 12 {
		t.Errorf("1 s steps over a minute of 5 s samples: %d, want 12", len(st.Samples))
	}
	st, err = s.NodeStats(ctx, "nobody", Base, Base.Add(time.Minute), 0)
	if err != nil || st.LastReport != nil || len(st.Samples) != 0 {
		t.Errorf("unknown node: %v, %v", st, err)
	}
}

func testMetricResults(t *testing.T, s store.Store) {
	mk := func(id string, start int64) *metricsv1.MetricResult {
		return &metricsv1.MetricResult{MetricId: id, DefinitionVersion: 3, WindowStartUnix: start, WindowSeconds: 10,
			Rows: []*metricsv1.MetricRow{{Keys: []string{"h", "200"}, Aggs: []*metricsv1.AggState{{Count: 2, Sketch: Sketch(1, 2)}}}}}
	}
	if _, err := s.Ingest(ctx, "n1", &metricsv1.Report{BootId: "b", Seq: 1, Metrics: []*metricsv1.MetricResult{mk("m1", sec(10)), mk("m2", sec(10)), mk("m1", sec(0))}}, Base.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Ingest(ctx, "n2", &metricsv1.Report{BootId: "b", Seq: 1, Metrics: []*metricsv1.MetricResult{mk("m1", sec(20))}}, Base.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	got, err := s.MetricResults(ctx, "m1", Base, Base.Add(20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].WindowStartUnix != sec(0) || got[1].WindowStartUnix != sec(10) || got[1].Rows[0].Aggs[0].Sketch.Count != 2 || got[0].DefinitionVersion != 3 {
		t.Fatalf("MetricResults: %v", got)
	}
	if got, _ := s.MetricResults(ctx, "m1", Base, Base.Add(time.Hour)); len(got) != 3 {
		t.Fatalf("all windows of m1: %d, want 3", len(got))
	}
}

func testQueryErrors(t *testing.T, s store.Store) {
	_, err := s.Series(ctx, store.SeriesQuery{AppID: "a", Series: "latency_p42", Start: Base, End: Base.Add(time.Hour)})
	if !strings.Contains(fmt.Sprint(err), "latency_p42") || apierr.Violations(err) == nil {
		t.Errorf("unknown series: %v", err)
	}
	_, err = s.Series(ctx, store.SeriesQuery{AppID: "a", Series: "requests", Start: Base, End: Base.Add(24 * time.Hour), Step: time.Second})
	if apierr.Violations(err) == nil || apierr.Violations(err)[0].Field != "step" {
		t.Errorf("86400 points: %v, want an invalid step", err)
	}
	_, err = s.Series(ctx, store.SeriesQuery{AppID: "a", Series: "requests", Start: Base, End: Base})
	if apierr.Violations(err) == nil {
		t.Errorf("empty range: %v", err)
	}
	_, err = s.Top(ctx, store.TopQuery{AppID: "a", By: "colour", Start: Base, End: Base.Add(time.Hour)})
	if !strings.Contains(fmt.Sprint(err), "colour") || apierr.Violations(err) == nil {
		t.Errorf("unknown split: %v", err)
	}
	_, err = s.Top(ctx, store.TopQuery{AppID: "a", By: "path", Start: Base, End: Base.Add(time.Hour), Limit: store.MaxTopLimit + 1})
	if apierr.Violations(err) == nil {
		t.Errorf("limit over the maximum: %v", err)
	}
}

// Reports of one node ingested at once (two replicas) record a change once.
func testHealthConcurrent(t *testing.T, s store.Store) {
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &metricsv1.Report{BootId: "b", Seq: uint64(i + 1), Servers: []*metricsv1.ServerHealth{{AppId: "app1", Upstream: "up", Server: "s1:80", Reason: "timeout"}}}
			if _, err := s.Ingest(ctx, "n1", r, Base); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, err := s.Health(ctx, store.HealthQuery{AppID: "app1", Start: Base, End: Base.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("%d changes from 8 concurrent identical reports, want 1", len(got))
	}
}

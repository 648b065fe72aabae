package metrics

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
	"github.com/strata-edge/strata/pkg/background"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
	"github.com/strata-edge/strata/pkg/testenv"
	"github.com/strata-edge/strata/services/metrics/store"
)

// newIngestEnv is newEnv with a real SQLite metrics store receiving the
// reports of the embedded NATS server.
func newIngestEnv(t testing.TB, opts Options) (*env, store.Store) {
	t.Helper()
	st, err := store.OpenSQLite(filepath.Join(t.TempDir(), "metrics.db"), store.Retention{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() }) // after the service stopped (cleanups run last first)
	opts.Results = st
	return newEnv(t, opts), st
}

// newPostgresEnv is newIngestEnv on PostgreSQL ($STRATA_TEST_POSTGRES), in
// a schema of its own dropped at the end.
func newPostgresEnv(t testing.TB, opts Options) (*env, store.Store) {
	t.Helper()
	dsn := testenv.PostgresDSN(t)
	b := make([]byte, 6)
	rand.Read(b)
	schema := "metrics_svc_test_" + hex.EncodeToString(b)
	st, err := store.OpenPostgresOptions(context.Background(), dsn, store.PostgresOptions{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		st.Close()
		conn, err := pgx.Connect(context.Background(), dsn)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	opts.Results = st
	return newEnv(t, opts), st
}

func report(boot string, seq uint64, apps ...*metricsv1.AppSecond) *metricsv1.Report {
	return &metricsv1.Report{BootId: boot, Seq: seq, ClusterId: "cl_1", PartitionId: "p1", Apps: apps}
}

func appSecond(app string, sec int64, requests uint64) *metricsv1.AppSecond {
	return &metricsv1.AppSecond{AppId: app, UnixSecond: sec, Requests: requests,
		Status: []*metricsv1.CodeCount{{Code: 200, Count: requests}}, BytesOut: 100 * requests}
}

// send sends r as node would (a request on its own subject) and returns
// the answer.
func send(t *testing.T, nc *nats.Conn, node string, r *metricsv1.Report) *nats.Msg {
	t.Helper()
	b, err := proto.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	ans, err := nc.Request(natsutil.MetricsReportSubject(node), b, 5*time.Second)
	if err != nil {
		t.Fatalf("report of %s not answered: %v", node, err)
	}
	return ans
}

// requests sums app's stored requests over the last hour.
func requests(t *testing.T, e *env, st store.Store, app, node string) float64 {
	t.Helper()
	now := time.Now()
	res, err := st.Series(e.ctx, store.SeriesQuery{AppID: app, Series: "requests", NodeID: node, Start: now.Add(-time.Hour), End: now.Add(time.Minute), Step: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, p := range res.GetPoints() {
		n += p.GetValue()
	}
	return n
}

func TestReportStoredOnceAndAnswered(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testStoredOnce(t, newIngestEnv) })
	t.Run("postgres", func(t *testing.T) { testStoredOnce(t, newPostgresEnv) })
}

func testStoredOnce(t *testing.T, newEnv func(testing.TB, Options) (*env, store.Store)) {
	e, st := newEnv(t, Options{})
	r := report("boot1", 1, appSecond("app_a", time.Now().Unix(), 7))
	first := send(t, e.nc, "node_a", r)
	if first.Header.Get(HeaderError) != "" || first.Header.Get("Strata-Duplicate") != "" {
		t.Fatalf("first answer: %v", first.Header)
	}
	// The node did not see the answer and sends it again: answered, not
	// counted twice.
	again := send(t, e.nc, "node_a", r)
	if again.Header.Get(HeaderError) != "" || again.Header.Get("Strata-Duplicate") != "true" {
		t.Fatalf("second answer: %v", again.Header)
	}
	if n := requests(t, e, st, "app_a", ""); n != 7 {
		t.Fatalf("stored %v requests, want 7", n)
	}
	send(t, e.nc, "node_a", report("boot1", 2, appSecond("app_a", time.Now().Unix(), 3)))
	if n := requests(t, e, st, "app_a", ""); n != 10 {
		t.Fatalf("stored %v requests, want 10", n)
	}
}

func TestReportNodeIsTheSubject(t *testing.T) {
	e, st := newIngestEnv(t, Options{})
	r := report("boot1", 1, appSecond("app_a", time.Now().Unix(), 5))
	r.NodeId = "node_victim"
	send(t, e.nc, "node_a", r)
	now := time.Now()
	for node, want := range map[string]bool{"node_a": true, "node_victim": false} {
		ns, err := st.NodeStats(e.ctx, node, now.Add(-time.Hour), now.Add(time.Minute), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if got := ns.GetLastReport() != nil; got != want {
			t.Errorf("node %s has a report: %v, want %v", node, got, want)
		}
	}
	if n := requests(t, e, st, "app_a", "node_victim"); n != 0 {
		t.Fatalf("the forged node got %v requests", n)
	}
}

func TestReportRefused(t *testing.T) {
	e, st := newIngestEnv(t, Options{MaxReportBytes: 4 << 10})
	big := report("boot1", 1)
	for i := range 200 {
		big.Apps = append(big.Apps, appSecond(fmt.Sprintf("app_%03d", i), time.Now().Unix(), 1))
	}
	for _, tc := range []struct {
		name, reason string
		r            *metricsv1.Report
	}{
		{"oversized", "more than 4096", big},
		{"no seq", "seq", report("boot1", 0, appSecond("app_a", time.Now().Unix(), 1))},
		{"no boot", "boot_id", report("", 1, appSecond("app_a", time.Now().Unix(), 1))},
		{"future", "apps[0].unix_second", report("boot1", 2, appSecond("app_a", time.Now().Add(3*time.Hour).Unix(), 1))},
		{"no app", "apps[0].app_id", report("boot1", 3, appSecond("", time.Now().Unix(), 1))},
		{"bad sketch", "apps[0].latency_ms", report("boot1", 4, &metricsv1.AppSecond{AppId: "app_a", UnixSecond: time.Now().Unix(),
			LatencyMs: &metricsv1.Sketch{RelativeAccuracy: 7}})},
		{"not a report", "report", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ans *nats.Msg
			if tc.r == nil {
				var err error
				if ans, err = e.nc.Request(natsutil.MetricsReportSubject("node_a"), []byte{0xff, 0xff}, 5*time.Second); err != nil {
					t.Fatal(err)
				}
			} else {
				ans = send(t, e.nc, "node_a", tc.r)
			}
			if ans.Header.Get(HeaderErrorCode) != "400" || !strings.Contains(ans.Header.Get(HeaderError), tc.reason) {
				t.Fatalf("answer %v, want a refusal naming %q", ans.Header, tc.reason)
			}
		})
	}
	if n := requests(t, e, st, "app_a", ""); n != 0 {
		t.Fatalf("refused reports stored %v requests", n)
	}
}

func TestNodeLiveness(t *testing.T) {
	e, st := newIngestEnv(t, Options{LivenessTimeout: 1500 * time.Millisecond})
	// Its upstream servers' changes are listed with the node's: liveness
	// is told apart by an empty server.
	first := report("boot1", 1)
	first.Servers = []*metricsv1.ServerHealth{{AppId: "app_a", Upstream: "web", Server: "10.0.0.1:80", Healthy: false, Reason: "connect refused", SinceUnix: time.Now().Unix()}}
	send(t, e.nc, "node_a", first)
	liveness := func() []*metricsv1.HealthChange {
		res, err := e.clients[0].ListHealth(e.ctx, &metricsv1.ListHealthRequest{NodeId: "node_a"})
		if err != nil {
			t.Fatal(err)
		}
		var out []*metricsv1.HealthChange
		for _, h := range res.GetChanges() {
			if h.GetServer() == "" {
				out = append(out, h)
			}
		}
		return out
	}
	natstest.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		if c := liveness(); len(c) != 1 || c[0].GetHealthy() || c[0].GetReason() != "no metrics report for 1.5s" {
			return fmt.Errorf("changes %v", c)
		}
		return nil
	})
	send(t, e.nc, "node_a", report("boot1", 2))
	natstest.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		if c := liveness(); len(c) != 2 || !c[0].GetHealthy() || c[0].GetReason() != "metrics report received" {
			return fmt.Errorf("changes %v", c)
		}
		return nil
	})
	// A service started again over the same store records nothing new for
	// a node that keeps reporting.
	e.svc.Stop(context.Background())
	again, err := New(Options{Store: e.store, Results: st, Conn: e.nc, LivenessTimeout: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := again.Start(e.ctx); err != nil {
		t.Fatal(err)
	}
	defer again.Stop(context.Background())
	for seq := uint64(3); seq < 6; seq++ {
		send(t, e.nc, "node_a", report("boot1", seq))
		time.Sleep(300 * time.Millisecond) // the node's flush interval: the liveness loop runs meanwhile

	}
	res, err := st.Health(e.ctx, store.HealthQuery{NodeID: "node_a", Start: time.Now().Add(-time.Hour), End: time.Now().Add(time.Minute), Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for _, h := range res {
		if h.GetServer() == "" {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("stored liveness changes %v: want 2", res)
	}
}

func TestTailSumsNodes(t *testing.T) {
	e, _ := newIngestEnv(t, Options{TailWait: time.Second})
	ctx, cancel := context.WithTimeout(e.ctx, 15*time.Second)
	defer cancel()
	stream, err := e.clients[0].Tail(ctx, &metricsv1.TailRequest{AppId: "app_a"})
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		e.svc.tails.mu.Lock()
		defer e.svc.tails.mu.Unlock()
		if len(e.svc.tails.set) != 1 {
			return fmt.Errorf("%d tails running", len(e.svc.tails.set))
		}
		return nil
	})
	sec := time.Now().Unix() + 1
	send(t, e.nc, "node_a", report("b", 1, appSecond("app_a", sec, 3), appSecond("app_other", sec, 100)))
	send(t, e.nc, "node_b", report("b", 1, appSecond("app_a", sec, 4)))
	send(t, e.nc, "node_b", report("b", 1, appSecond("app_a", sec, 4))) // re-sent: counted once
	for stream.Receive() {
		got := stream.Msg()
		if got.GetSecond().GetUnixSecond() < sec {
			if got.GetSecond().GetRequests() != 0 {
				t.Fatalf("second before the reports: %v", got)
			}
			continue
		}
		if got.GetSecond().GetUnixSecond() != sec || got.GetSecond().GetRequests() != 7 || got.GetNodes() != 2 ||
			got.GetSecond().GetBytesOut() != 700 || got.GetSecond().GetStatus()[0].GetCount() != 7 {
			t.Fatalf("tail second %v", got)
		}
		return
	}
	t.Fatalf("tail ended before the second: %v", stream.Err())
}

func TestQueryMetricMergesNodesOfTheCurrentSQL(t *testing.T) {
	e, _ := newIngestEnv(t, Options{})
	c := e.clients[0]
	m, err := c.CreateMetric(e.ctx, &metricsv1.CreateMetricRequest{Name: "hosts", Sql: okSQL})
	if err != nil {
		t.Fatal(err)
	}
	v1 := m.GetMetric().GetVersion()
	win := time.Now().Add(-time.Minute).Unix()
	hostRow := func(host string, n uint64) *metricsv1.MetricRow {
		return &metricsv1.MetricRow{Keys: []string{host}, Aggs: []*metricsv1.AggState{{Count: n}}}
	}
	result := func(version uint64, rows ...*metricsv1.MetricRow) *metricsv1.Report {
		r := report("b", 0)
		r.Metrics = []*metricsv1.MetricResult{{MetricId: m.GetMetric().GetId(), DefinitionVersion: version, WindowStartUnix: win, WindowSeconds: 10, Rows: rows}}
		return r
	}
	r := result(v1, hostRow("a.example", 5), hostRow("b.example", 1))
	r.Seq = 1
	send(t, e.nc, "node_a", r)
	r = result(v1, hostRow("a.example", 2))
	r.Seq = 1
	send(t, e.nc, "node_b", r)
	q, err := c.QueryMetric(e.ctx, &metricsv1.QueryMetricRequest{Metric: "hosts"})
	if err != nil {
		t.Fatal(err)
	}
	if q.GetWindows() != 2 || len(q.GetRows()) != 2 || q.GetRows()[0].GetValues()[0] != "a.example" || q.GetRows()[0].GetValues()[1] != "7" {
		t.Fatalf("merged %v", q)
	}
	// New SQL: the windows of the old one (another shape) are left out.
	up, err := c.UpdateMetric(e.ctx, &metricsv1.UpdateMetricRequest{Metric: "hosts", Sql: ptr("select count(*) from reqs")})
	if err != nil {
		t.Fatal(err)
	}
	r = result(up.GetMetric().GetVersion(), &metricsv1.MetricRow{Aggs: []*metricsv1.AggState{{Count: 4}}})
	r.Seq = 2
	send(t, e.nc, "node_a", r)
	q, err = c.QueryMetric(e.ctx, &metricsv1.QueryMetricRequest{Metric: "hosts"})
	if err != nil {
		t.Fatal(err)
	}
	if q.GetWindows() != 1 || len(q.GetRows()) != 1 || q.GetRows()[0].GetValues()[0] != "4" {
		t.Fatalf("after the SQL changed: %v", q)
	}
	if _, err := c.QueryMetric(e.ctx, &metricsv1.QueryMetricRequest{Metric: "nope"}); code(err) != connect.CodeNotFound {
		t.Fatalf("unknown metric: %v", err)
	}
}

func TestQueryArguments(t *testing.T) {
	e, _ := newIngestEnv(t, Options{})
	c := e.clients[0]
	now := time.Now()
	for _, tc := range []struct {
		name, field string
		call        func() error
	}{
		{"series app", "app_id", func() error {
			_, err := c.QuerySeries(e.ctx, &metricsv1.QuerySeriesRequest{Series: "requests"})
			return err
		}},
		{"series name", "series", func() error {
			_, err := c.QuerySeries(e.ctx, &metricsv1.QuerySeriesRequest{AppId: "a", Series: "nope"})
			return err
		}},
		{"series range", "start", func() error {
			_, err := c.QuerySeries(e.ctx, &metricsv1.QuerySeriesRequest{AppId: "a", Series: "requests",
				Start: timestamppb.New(now.Add(-401 * 24 * time.Hour)), End: timestamppb.New(now)})
			return err
		}},
		{"series order", "start", func() error {
			_, err := c.QuerySeries(e.ctx, &metricsv1.QuerySeriesRequest{AppId: "a", Series: "requests",
				Start: timestamppb.New(now), End: timestamppb.New(now.Add(-time.Second))})
			return err
		}},
		{"series points", "step_seconds", func() error {
			_, err := c.QuerySeries(e.ctx, &metricsv1.QuerySeriesRequest{AppId: "a", Series: "requests", StepSeconds: 1,
				Start: timestamppb.New(now.Add(-24 * time.Hour)), End: timestamppb.New(now)})
			return err
		}},
		{"top by", "by", func() error {
			_, err := c.QueryTop(e.ctx, &metricsv1.QueryTopRequest{AppId: "a", By: "country"})
			return err
		}},
		{"top limit", "limit", func() error {
			_, err := c.QueryTop(e.ctx, &metricsv1.QueryTopRequest{AppId: "a", Limit: 1001})
			return err
		}},
		{"node", "node_id", func() error {
			_, err := c.GetNodeStats(e.ctx, &metricsv1.GetNodeStatsRequest{})
			return err
		}},
		{"health neither", "app_id", func() error {
			_, err := c.ListHealth(e.ctx, &metricsv1.ListHealthRequest{})
			return err
		}},
		{"health both", "node_id", func() error {
			_, err := c.ListHealth(e.ctx, &metricsv1.ListHealthRequest{AppId: "a", NodeId: "n"})
			return err
		}},
		{"tail app", "app_id", func() error {
			st, err := c.Tail(e.ctx, &metricsv1.TailRequest{})
			if err != nil {
				return err
			}
			for st.Receive() {
			}
			return st.Err()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { wantField(t, tc.call(), tc.field) })
	}
	// A definitions-only process (no store) says so.
	d := newEnv(t, Options{})
	if _, err := d.clients[0].QueryTop(d.ctx, &metricsv1.QueryTopRequest{AppId: "a"}); code(err) != connect.CodeFailedPrecondition {
		t.Fatalf("query without a store: %v", err)
	}
}

func TestStartTwiceAndRestart(t *testing.T) {
	e, _ := newIngestEnv(t, Options{})
	if err := e.svc.Start(e.ctx); !errors.Is(err, background.ErrRunning) {
		t.Fatalf("second Start: %v", err)
	}
	// One ingest subscription still: a report is answered once.
	if ans := send(t, e.nc, "node_a", report("b", 1)); ans.Header.Get(HeaderError) != "" {
		t.Fatalf("answer %v", ans.Header)
	}
	if err := e.svc.Stop(e.ctx); err != nil {
		t.Fatal(err)
	}
	b, _ := proto.Marshal(report("b", 2))
	if _, err := e.nc.Request(natsutil.MetricsReportSubject("node_a"), b, 200*time.Millisecond); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("report to a stopped service: %v", err)
	}
	if err := e.svc.Start(e.ctx); err != nil {
		t.Fatal(err)
	}
	if ans := send(t, e.nc, "node_a", report("b", 2)); ans.Header.Get(HeaderError) != "" {
		t.Fatalf("answer after restart %v", ans.Header)
	}
}

func TestIngestCounted(t *testing.T) {
	e, _ := newIngestEnv(t, Options{MaxReportBytes: 1 << 10})
	r := report("b", 1, appSecond("app_a", time.Now().Unix(), 1))
	send(t, e.nc, "node_a", r)
	send(t, e.nc, "node_a", r)
	big := report("b", 2)
	for i := range 100 {
		big.Apps = append(big.Apps, appSecond(fmt.Sprintf("app_%d", i), time.Now().Unix(), 1))
	}
	send(t, e.nc, "node_a", big)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(e.svc.Collector())
	for outcome, want := range map[string]float64{"stored": 1, "duplicate": 1, "refused": 1, "failed": 0} {
		if got := testutil.ToFloat64(e.svc.prom.reports.WithLabelValues(outcome)); got != want {
			t.Errorf("%s reports: %v, want %v", outcome, got, want)
		}
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP strata_metrics_nodes Nodes this replica saw report, by state (reporting: a report within the liveness timeout; silent: none since).
# TYPE strata_metrics_nodes gauge
strata_metrics_nodes{state="reporting"} 1
strata_metrics_nodes{state="silent"} 0
# HELP strata_metrics_definitions Metric SQL definitions that exist.
# TYPE strata_metrics_definitions gauge
strata_metrics_definitions 0
`), "strata_metrics_nodes", "strata_metrics_definitions"); err != nil {
		t.Fatal(err)
	}
}

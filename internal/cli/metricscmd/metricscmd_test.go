package metricscmd_test

import (
	"context"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
	"github.com/strata-edge/strata/gen/strata/metrics/v1/metricsv1connect"
	"github.com/strata-edge/strata/internal/cli/clientx/clitest"
	"github.com/strata-edge/strata/internal/cli/metricscmd"
	"github.com/strata-edge/strata/pkg/apiauth"
	"github.com/strata-edge/strata/pkg/metricsql"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/sketch"
	metricssvc "github.com/strata-edge/strata/services/metrics"
	"github.com/strata-edge/strata/services/metrics/store"
)

// t0 is the service's clock at the start of a test: fixed, so that the
// seconds in the answers are too; it advances with real time (the tail
// sends a second once it is over).
var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

const (
	app  = "app_0000000000000001"
	node = "node_0000000000000001"
)

type factory struct {
	clitest.Env
	c metricsv1connect.MetricsServiceClient
}

func (f *factory) MetricsClient() (metricsv1connect.MetricsServiceClient, error) { return f.c, nil }
func (f *factory) MetricsStreamClient() (metricsv1connect.MetricsServiceClient, error) {
	return f.c, nil
}

type env struct {
	*factory
	nc    *nats.Conn
	start time.Time
}

// now is the service's clock.
func (e *env) now() time.Time { return t0.Add(time.Since(e.start)) }

// newEnv runs the real metrics service (JetStream event store, SQLite
// results, embedded NATS for the reports) behind a test server.
func newEnv(t *testing.T) *env {
	t.Helper()
	es, js := clitest.Store(t)
	results, err := store.OpenSQLite(filepath.Join(t.TempDir(), "metrics.db"), store.Retention{})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{nc: js.Conn(), start: time.Now()}
	svc, err := metricssvc.New(metricssvc.Options{Store: es, Results: results, Conn: e.nc, Now: e.now,
		LivenessTimeout: time.Hour, TailWait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop(context.Background()) })
	mux := http.NewServeMux()
	mux.Handle(svc.Handler())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r.WithContext(apiauth.WithPrincipal(r.Context(), apiauth.Principal{Name: "alice", Kind: "user"})))
	}))
	t.Cleanup(srv.Close)
	e.factory = &factory{c: metricsv1connect.NewMetricsServiceClient(srv.Client(), srv.URL)}
	return e
}

// report sends r as node's report, as a node does, and waits for the answer.
func (e *env) report(t *testing.T, r *metricsv1.Report) {
	t.Helper()
	b, err := proto.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := e.nc.Request(natsutil.MetricsReportSubject(node), b, 5*time.Second)
	if err != nil {
		t.Fatalf("report %d: %v", r.GetSeq(), err)
	}
	if s := msg.Header.Get("Nats-Service-Error"); s != "" {
		t.Fatalf("report %d refused: %s", r.GetSeq(), s)
	}
}

// second is one app-second: status -> count, latency ms 1..requests, and
// the requests per path.
func second(at time.Time, status map[uint32]uint64, paths map[string]uint64) *metricsv1.AppSecond {
	a := &metricsv1.AppSecond{AppId: app, UnixSecond: at.Unix()}
	lat := sketch.New()
	for code := uint32(100); code < 600; code++ {
		n := status[code]
		if n == 0 {
			continue
		}
		a.Status = append(a.Status, &metricsv1.CodeCount{Code: code, Count: n})
		a.Requests += n
		for i := range n {
			lat.Add(float64(i + 1))
		}
	}
	a.BytesIn, a.BytesOut = 100*a.Requests, 1000*a.Requests
	a.LatencyMs = lat.Proto()
	for _, p := range slices.Sorted(maps.Keys(paths)) {
		a.Paths = append(a.Paths, &metricsv1.NameCount{Name: p, Count: paths[p]})
	}
	a.Cache = []*metricsv1.NameCount{{Name: "MISS", Count: a.Requests}}
	a.Upstreams = []*metricsv1.UpstreamSecond{{Server: "10.0.0.1:8080", Attempts: a.Requests}}
	return a
}

// secondRE is a tail line's second, which depends on when the test ran.
var secondRE = regexp.MustCompile(`"unix_second":\s*"(\d+)"`)

// TestJSONGolden runs every metrics and metric command with -o json against
// the real service fed real reports, and compares each output with
// testdata/json/<step>.json (refresh with -update).
func TestJSONGolden(t *testing.T) {
	e := newEnv(t)
	cmds := func() []*cobra.Command { return metricscmd.Commands(e) }
	e.GoldenSteps(t, cmds, []clitest.Step{
		{Name: "metric-create", Args: []string{"metric", "create", "paths", "--sql", "SELECT path, count(*) FROM reqs GROUP BY path", "--interval", "10s", "--description", "requests per path"}},
		{Name: "metric-create-api", Args: []string{"metric", "create", "api", "--sql", "SELECT status, count(*), quantile(0.99, latency_ms) FROM reqs WHERE path LIKE '/api/%' GROUP BY status"}},
	})
	e.GoldenSteps(t, cmds, []clitest.Step{
		{Name: "metric-update", Args: []string{"metric", "update", "api", "--interval", "30s", "--expect-version", strconv.FormatUint(e.show(t, "api").GetVersion(), 10)}},
		{Name: "metric-list", Args: []string{"metric", "list"}},
		{Name: "metric-show", Args: []string{"metric", "show", "paths"}},
	})

	// The node's reports: 30 x 200, 7 x 404, 3 x 502 over three seconds, a
	// system sample, the health of its upstream server, and a window of
	// the paths metric.
	def := e.show(t, "paths")
	q, err := metricsql.Compile(def.GetSql())
	if err != nil {
		t.Fatal(err)
	}
	agg := q.NewAggregator(metricsql.Limits{})
	for path, n := range map[string]int{"/ok": 30, "/missing": 7, "/bad": 3} {
		for range n {
			agg.Add(&metricsql.Request{Time: t0.Add(-55 * time.Second), App: app, Path: path, Method: "GET", Status: 200})
		}
	}
	base := t0.Add(-60 * time.Second)
	e.report(t, &metricsv1.Report{BootId: "boot-1", Seq: 1, ClusterId: "cl_0000000000000001", PartitionId: "part_0000000000000001",
		Apps: []*metricsv1.AppSecond{
			second(base, map[uint32]uint64{200: 20}, map[string]uint64{"/ok": 20}),
			second(base.Add(time.Second), map[uint32]uint64{200: 10, 404: 7}, map[string]uint64{"/ok": 10, "/missing": 7}),
			second(base.Add(2*time.Second), map[uint32]uint64{502: 3}, map[string]uint64{"/bad": 3}),
		},
		System: []*metricsv1.SystemSample{{UnixSecond: base.Unix(), CpuPercent: 12.5, Load1: 0.4, MemoryUsedBytes: 3 << 30, MemoryTotalBytes: 8 << 30,
			OpenConnections: 12, Goroutines: 80, HeapBytes: 40 << 20,
			Disks:      []*metricsv1.DiskUsage{{Path: "/var/lib/strata", UsedBytes: 20 << 30, TotalBytes: 100 << 30}},
			Interfaces: []*metricsv1.NetInterface{{Name: "eth0", BytesRecv: 150 << 10, BytesSent: 2 << 20, PacketsRecv: 100, PacketsSent: 1500}}}},
		Servers: []*metricsv1.ServerHealth{{AppId: app, Upstream: "web", Server: "10.0.0.1:8080", Healthy: false, Reason: "GET /healthz: status 503", SinceUnix: base.Unix()}},
		Metrics: []*metricsv1.MetricResult{agg.Flush(def.GetId(), def.GetVersion(), base, 10)},
	})
	// The same report again (a node that saw no answer): counted once.
	e.report(t, &metricsv1.Report{BootId: "boot-1", Seq: 1, Apps: []*metricsv1.AppSecond{second(base, map[uint32]uint64{200: 20}, map[string]uint64{"/ok": 20})}})

	since, until := base.Add(-30*time.Second).Format(time.RFC3339), base.Add(30*time.Second).Format(time.RFC3339)
	rng := []string{"--since", since, "--until", until}
	e.GoldenSteps(t, cmds, []clitest.Step{
		{Name: "metrics-top-status", Args: append([]string{"metrics", "top", "--app", app, "--by", "status"}, rng...)},
		{Name: "metrics-top-path", Args: append([]string{"metrics", "top", "--app", app, "--by", "path", "--limit", "2"}, rng...)},
		{Name: "metrics-top-node", Args: append([]string{"metrics", "top", "--app", app, "--by", "node"}, rng...)},
		{Name: "metrics-top-upstream", Args: append([]string{"metrics", "top", "--app", app, "--by", "upstream"}, rng...)},
		{Name: "metrics-top-cache", Args: append([]string{"metrics", "top", "--app", app, "--by", "cache"}, rng...)},
		{Name: "metrics-series-requests", Args: append([]string{"metrics", "series", "--app", app, "--metric", "requests", "--step", "10s"}, rng...)},
		{Name: "metrics-series-5xx-node", Args: append([]string{"metrics", "series", "--app", app, "--metric", "status_5xx", "--step", "20s", "--node", node}, rng...)},
		{Name: "metrics-series-p99", Args: append([]string{"metrics", "series", "--app", app, "--metric", "latency_p99", "--step", "30s"}, rng...)},
		{Name: "metrics-node", Args: append([]string{"metrics", "node", node, "--step", "10s"}, rng...)},
		{Name: "metrics-health-app", Args: append([]string{"metrics", "health", "--app", app}, rng...)},
		{Name: "metric-query", Args: append([]string{"metric", "query", "paths"}, rng...)},
	})

	// Text for people, from the same answers.
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{append([]string{"metrics", "top", "--app", app}, rng...), []string{"STATUS  REQUESTS  SHARE  5XX", "200     30        75.0%  0", "502     3         7.5%   3", "total 40 requests"}},
		{append([]string{"metrics", "series", "--app", app, "--metric", "requests", "--step", "10s"}, rng...), []string{"requests, 10s steps (stored at 1s)", "total 40"}},
		{append([]string{"metrics", "node", node}, rng...), []string{"12.5%", "150.0 KiB", "cpu "}},
		{append([]string{"metrics", "health", "--app", app}, rng...), []string{"10.0.0.1:8080", "down", "GET /healthz: status 503"}},
		{append([]string{"metric", "query", "paths"}, rng...), []string{"PATH", "/ok       30", "3 rows from 1 node windows"}},
		{[]string{"metric", "list"}, []string{"paths", "api", "30s"}},
	} {
		out, err := e.Run(cmds(), tc.args...)
		if err != nil {
			t.Fatalf("strata %s: %v", strings.Join(tc.args, " "), err)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("strata %s lacks %q:\n%s", strings.Join(tc.args, " "), w, out)
			}
		}
	}

	// The tail: one line a second; the second a report arrives for shows it.
	var (
		wg      sync.WaitGroup
		tailOut string
		tailErr error
	)
	tailEnv := &factory{c: e.c}
	tailEnv.AsJSON = true
	wg.Add(1)
	go func() {
		defer wg.Done()
		tailOut, tailErr = tailEnv.Run(metricscmd.Commands(tailEnv), "metrics", "tail", "--app", app, "--count", "5")
	}()
	time.Sleep(300 * time.Millisecond)
	at := e.now().Truncate(time.Second).Add(time.Second)
	e.report(t, &metricsv1.Report{BootId: "boot-1", Seq: 2, Apps: []*metricsv1.AppSecond{second(at, map[uint32]uint64{200: 4, 500: 1}, map[string]uint64{"/ok": 5})}})
	wg.Wait()
	if tailErr != nil {
		t.Fatalf("metrics tail: %v", tailErr)
	}
	lines := strings.Split(strings.TrimSpace(tailOut), "\n")
	var busy []string
	for _, l := range lines {
		if strings.Contains(l, `"requests"`) {
			busy = append(busy, l)
		}
	}
	if len(lines) != 5 || len(busy) != 1 {
		t.Fatalf("metrics tail --count 5 -o json: %d lines, %d with requests, want 5 and 1:\n%s", len(lines), len(busy), tailOut)
	}
	m := secondRE.FindStringSubmatch(busy[0])
	if m == nil || m[1] != strconv.FormatInt(at.Unix(), 10) {
		t.Fatalf("metrics tail: the line with requests is not of second %d:\n%s", at.Unix(), busy[0])
	}
	clitest.Golden(t, "metrics-tail", []byte(secondRE.ReplaceAllString(busy[0], `"unix_second": "SECOND"`)))

	e.GoldenSteps(t, cmds, []clitest.Step{
		{Name: "metric-delete", Args: []string{"metric", "delete", "api"}},
		{Name: "metric-list-after-delete", Args: []string{"metric", "list"}},
	})
}

// Errors of the service reach the user with the field named.
func TestServiceErrors(t *testing.T) {
	e := newEnv(t)
	cmds := metricscmd.Commands(e)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"metric", "create", "bad", "--sql", "SELECT path FROM logs"}, "FROM"},
		{[]string{"metric", "show", "nope"}, "not_found"},
		{[]string{"metric", "query", "nope"}, "not_found"},
	} {
		_, err := e.Run(cmds, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("strata %s: %v, want an error with %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
	if _, err := e.Run(metricscmd.Commands(e), "metric", "create", "m", "--sql", "SELECT count(*) FROM reqs"); err != nil {
		t.Fatal(err)
	}
	read := strconv.FormatUint(e.show(t, "m").GetVersion(), 10)
	if _, err := e.Run(metricscmd.Commands(e), "metric", "update", "m", "--interval", "20s", "--expect-version", read); err != nil {
		t.Fatalf("update at the version read: %v", err)
	}
	if _, err := e.Run(metricscmd.Commands(e), "metric", "update", "m", "--interval", "30s", "--expect-version", read); err == nil || !strings.Contains(err.Error(), "aborted") {
		t.Errorf("update with a stale --expect-version: %v, want aborted", err)
	}
	if _, err := e.Run(metricscmd.Commands(e), "metric", "create", "m", "--sql", "SELECT count(*) FROM reqs"); err == nil || !strings.Contains(err.Error(), "already_exists") {
		t.Errorf("second create of m: %v, want already_exists", err)
	}
}

// show reads a definition through the API.
func (e *env) show(t *testing.T, name string) *metricsv1.MetricDefinition {
	t.Helper()
	res, err := e.c.GetMetric(context.Background(), &metricsv1.GetMetricRequest{Metric: name})
	if err != nil {
		t.Fatal(err)
	}
	return res.GetMetric()
}

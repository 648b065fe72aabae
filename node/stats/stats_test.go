package stats_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/node/proxy"
	"github.com/strata-edge/strata/node/stats"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

const nodeID = "n1"

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// fixture is a real proxy in front of a real upstream, an embedded NATS
// server, and a reporter on its own connection.
type fixture struct {
	t      *testing.T
	proxy  *proxy.Proxy
	nc     *nats.Conn // the hub side: responders
	rep    *stats.Reporter
	sql    *stats.MetricSQL
	client *http.Client
}

func newFixture(t *testing.T, opts stats.Options) *fixture {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fail" {
			w.WriteHeader(503)
		}
		_, _ = io.WriteString(w, "hello")
	}))
	t.Cleanup(up.Close)
	srv := natstest.RunServer(t)
	sql := stats.NewMetricSQL("p1", nil, quiet())
	p, err := proxy.New(proxy.Options{HTTPAddr: "127.0.0.1:0", Logger: quiet(), PerSecondStats: true, Requests: sql})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop(context.Background()) })
	app := &configv1.App{Id: "a", Name: "a", Domains: []string{"a.test"},
		Upstreams: []*configv1.Upstream{{Id: "u", Name: "main", Servers: []*configv1.Server{{Address: up.Listener.Addr().String(), Weight: 1}}}},
		Rules: []*configv1.Rule{{Name: "nf", When: "PathPrefix(`/missing`)", Actions: []*configv1.Action{
			{Action: &configv1.Action_Respond{Respond: &configv1.RespondAction{Status: 404}}}}}}}
	if err := p.Update(&syncv1.Snapshot{Version: 1, Apps: []*configv1.App{app}}); err != nil {
		t.Fatal(err)
	}
	opts.NATS = natstest.Connect(t, srv)
	opts.NodeID, opts.ClusterID, opts.PartitionID = nodeID, "c1", "p1"
	opts.Source, opts.MetricSQL, opts.Logger = p, sql, quiet()
	if opts.Interval == 0 {
		opts.Interval = 100 * time.Millisecond
	}
	if opts.Timeout == 0 {
		opts.Timeout = 200 * time.Millisecond
	}
	rep, err := stats.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, proxy: p, nc: natstest.Connect(t, srv), rep: rep, sql: sql, client: &http.Client{}}
}

func (f *fixture) start() {
	if err := f.rep.Start(f.t.Context()); err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { _ = f.rep.Stop(context.Background()) })
}

// get sends n requests for path and checks their status.
func (f *fixture) get(path string, n, status int) {
	f.t.Helper()
	for range n {
		req, _ := http.NewRequest("GET", "http://"+f.proxy.HTTPAddr().String()+path, nil)
		req.Host = "a.test"
		resp, err := f.client.Do(req)
		if err != nil {
			f.t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != status {
			f.t.Fatalf("GET %s: %d, want %d", path, resp.StatusCode, status)
		}
	}
}

// collector is the metrics service's part: it answers (while answering)
// and keeps every report it received, by seq.
type collector struct {
	mu        sync.Mutex
	answering bool
	received  []*metricsv1.Report // every delivery, duplicates included
	bySeq     map[uint64]*metricsv1.Report
}

func (f *fixture) collect(answering bool) *collector {
	c := &collector{answering: answering, bySeq: map[uint64]*metricsv1.Report{}}
	sub, err := f.nc.Subscribe(natsutil.MetricsReportAll, func(m *nats.Msg) {
		var r metricsv1.Report
		if err := proto.Unmarshal(m.Data, &r); err != nil {
			f.t.Errorf("report: %v", err)
			return
		}
		if m.Subject != natsutil.MetricsReportSubject(nodeID) {
			f.t.Errorf("report on %s", m.Subject)
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		c.received = append(c.received, &r)
		if c.answering {
			c.bySeq[r.Seq] = &r
			_ = m.Respond([]byte("ok"))
		}
	})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := f.nc.Flush(); err != nil {
		f.t.Fatal(err)
	}
	return c
}

func (c *collector) answer() { c.mu.Lock(); c.answering = true; c.mu.Unlock() }

// codes sums the stored (deduplicated) reports' status counts.
func (c *collector) codes() map[uint32]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := map[uint32]uint64{}
	for _, r := range c.bySeq {
		for _, a := range r.Apps {
			for _, s := range a.Status {
				m[s.Code] += s.Count
			}
		}
	}
	return m
}

func wantCodes(t *testing.T, c *collector, want map[uint32]uint64) {
	t.Helper()
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if got := c.codes(); fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("codes %v, want %v", got, want)
		}
		return nil
	})
}

// Traffic through the proxy reaches the service with exact counts per
// status code, in reports numbered 1, 2, 3, ... of one boot, with system
// samples and the upstream servers' health.
func TestReportsCountExactly(t *testing.T) {
	f := newFixture(t, stats.Options{SampleInterval: 50 * time.Millisecond, DataDir: t.TempDir()})
	c := f.collect(true)
	f.start()
	f.get("/ok", 20, 200)
	f.get("/missing", 5, 404)
	f.get("/fail", 3, 503)
	f.get("/bytes%ff%fe", 2, 200)       // not UTF-8 once decoded
	time.Sleep(1100 * time.Millisecond) // into another second
	f.get("/ok", 4, 200)
	wantCodes(t, c, map[uint32]uint64{200: 26, 404: 5, 503: 3})
	// Hold on to the samples for a moment so that at least one report
	// carries a delta-based one.
	natstest.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, r := range c.bySeq {
			for _, s := range r.System {
				if s.MemoryTotalBytes > 0 && s.Goroutines > 0 && s.HeapBytes > 0 && len(s.Disks) == 1 {
					return nil
				}
			}
		}
		return fmt.Errorf("no system sample yet")
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	var servers int
	for i, r := range c.received {
		if r.Seq != uint64(i+1) || r.BootId != f.rep.BootID() || r.NodeId != nodeID || r.ClusterId != "c1" || r.PartitionId != "p1" {
			t.Fatalf("report %d: seq %d boot %q node %q", i, r.Seq, r.BootId, r.NodeId)
		}
		for _, s := range r.Servers {
			if s.AppId == "a" && s.Upstream == "main" && s.Healthy {
				servers++
			}
		}
	}
	if servers == 0 {
		t.Fatal("no report listed the upstream server")
	}
}

// A service that receives but does not answer, then answers: every
// report is sent again with its seq, so after deduplication on seq each
// request is counted exactly once, in order.
func TestUnansweredReportsAreSentAgain(t *testing.T) {
	f := newFixture(t, stats.Options{})
	c := f.collect(false)
	f.start()
	f.get("/ok", 10, 200)
	f.get("/missing", 2, 404)
	natstest.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		if n := f.rep.Queued(); n < 3 {
			return fmt.Errorf("%d queued", n)
		}
		return nil
	})
	f.get("/fail", 1, 503)
	c.answer()
	wantCodes(t, c, map[uint32]uint64{200: 10, 404: 2, 503: 1})
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := map[uint64]int{}
	var last uint64
	for _, r := range c.received {
		seen[r.Seq]++
		if r.Seq < last && seen[r.Seq] == 1 {
			t.Fatalf("seq %d first sent after %d", r.Seq, last)
		}
		last = max(last, r.Seq)
	}
	if seen[1] < 2 {
		t.Fatalf("report 1 delivered %d times, want a resend", seen[1])
	}
	for s := uint64(1); s <= last; s++ {
		if c.bySeq[s] == nil && seen[s] > 0 {
			t.Fatalf("seq %d never answered", s)
		}
	}
}

// With nobody answering, the queue keeps its bound: the oldest reports are
// dropped, the next report says how many.
func TestQueueBoundCountsDropped(t *testing.T) {
	f := newFixture(t, stats.Options{Interval: 20 * time.Millisecond, Queue: 3})
	f.start()
	natstest.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if n := f.rep.Queued(); n != 3 {
			return fmt.Errorf("%d queued", n)
		}
		return nil
	})
	time.Sleep(100 * time.Millisecond) // a few more flushes drop a few more
	if n := f.rep.Queued(); n != 3 {
		t.Fatalf("%d queued, bound 3", n)
	}
	c := f.collect(true)
	natstest.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		if len(c.received) == 0 {
			return fmt.Errorf("nothing received")
		}
		first := c.received[0]
		// Every earlier seq was dropped or is waiting in the queue of 3.
		if first.Seq < 5 || first.DroppedReports == 0 || first.DroppedReports+3 < first.Seq-1 {
			t.Fatalf("first report received: seq %d, dropped %d", first.Seq, first.DroppedReports)
		}
		return nil
	})
}

// A Metric SQL definition runs on the node's requests: its windows arrive
// as MetricResults with exact counts per group; a definition of another
// partition does not run.
func TestMetricSQLResults(t *testing.T) {
	f := newFixture(t, stats.Options{})
	c := f.collect(true)
	if f.sql.Active() {
		t.Fatal("active without definitions")
	}
	f.sql.Update([]*metricsv1.MetricDefinition{
		{Id: "m1", Version: 7, Sql: "SELECT path, status, count(*) FROM reqs GROUP BY path, status", IntervalSeconds: 1},
		{Id: "m2", Version: 1, Sql: "SELECT count(*) FROM reqs", IntervalSeconds: 1, PartitionIds: []string{"other"}},
	})
	if !f.sql.Active() {
		t.Fatal("not active with a definition")
	}
	f.start()
	f.get("/ok", 6, 200)
	f.get("/missing", 2, 404)
	f.get("/fail", 1, 503)
	f.get("/x%ff", 1, 200) // a key that is not UTF-8 once decoded
	want := "/fail|503=1 /missing|404=2 /ok|200=6 /x\uFFFD|200=1"
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		got := map[string]uint64{}
		for _, r := range c.bySeq {
			for _, m := range r.Metrics {
				if m.MetricId != "m1" || m.DefinitionVersion != 7 || m.WindowSeconds != 1 || m.WindowStartUnix == 0 {
					t.Fatalf("result %v", m)
				}
				for _, row := range m.Rows {
					got[strings.Join(row.Keys, "|")] += row.Aggs[0].Count
				}
			}
		}
		var parts []string
		for _, k := range []string{"/fail|503", "/missing|404", "/ok|200", "/x\uFFFD|200"} {
			parts = append(parts, fmt.Sprintf("%s=%d", k, got[k]))
		}
		if s := strings.Join(parts, " "); s != want || len(got) != 4 {
			return fmt.Errorf("groups %v, want %s", got, want)
		}
		return nil
	})
	// The same id and version keeps running; removing it stops it.
	f.sql.Update([]*metricsv1.MetricDefinition{{Id: "m1", Version: 7, Sql: "SELECT path, status, count(*) FROM reqs GROUP BY path, status", IntervalSeconds: 1}})
	if !f.sql.Active() {
		t.Fatal("unchanged definition stopped")
	}
	f.sql.Update(nil)
	if f.sql.Active() {
		t.Fatal("active after its definitions left")
	}
}

// A clean stop reports the open second: nothing is lost.
func TestStopFlushesOpenSecond(t *testing.T) {
	f := newFixture(t, stats.Options{Interval: time.Hour})
	c := f.collect(true)
	f.start()
	f.get("/ok", 3, 200)
	if err := f.rep.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := c.codes(); got[200] != 3 {
		t.Fatalf("after stop: %v", got)
	}
}

// A report larger than MaxReportBytes goes in several, each within it.
func TestLargeReportsAreSplit(t *testing.T) {
	f := newFixture(t, stats.Options{Interval: time.Hour, MaxReportBytes: 600})
	c := f.collect(true)
	f.start()
	for i := range 40 {
		f.get(fmt.Sprintf("/ok/%d/%s", i, strings.Repeat("x", 40)), 1, 200)
	}
	// Several seconds' worth of AppSeconds would be needed for a split by
	// apps; the paths make one AppSecond large instead, so wait for two
	// seconds to close.
	time.Sleep(1100 * time.Millisecond)
	f.get("/ok", 1, 200)
	time.Sleep(1100 * time.Millisecond)
	f.get("/ok", 1, 200)
	if err := f.rep.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	// One flush (at Stop) held three seconds: over the bound, so split,
	// each report within it unless it is a single large AppSecond.
	c.mu.Lock()
	var withApps, apps int
	for _, r := range c.bySeq {
		if len(r.Apps) > 0 {
			withApps++
			apps += len(r.Apps)
		}
		if size := proto.Size(r); size > 600 && len(r.Apps) > 1 {
			t.Errorf("report %d: %d bytes with %d apps", r.Seq, size, len(r.Apps))
		}
	}
	c.mu.Unlock()
	if got := c.codes(); got[200] != 42 || apps != 3 || withApps < 2 {
		t.Fatalf("%d AppSeconds in %d reports, codes %v", apps, withApps, got)
	}
}

// A report the service refuses (error headers) is dropped, not re-sent.
func TestRefusedReportIsDropped(t *testing.T) {
	f := newFixture(t, stats.Options{})
	var mu sync.Mutex
	seen := map[uint64]int{}
	sub, err := f.nc.Subscribe(natsutil.MetricsReportAll, func(m *nats.Msg) {
		var r metricsv1.Report
		_ = proto.Unmarshal(m.Data, &r)
		mu.Lock()
		seen[r.Seq]++
		mu.Unlock()
		reply := nats.NewMsg(m.Reply)
		reply.Header.Set("Nats-Service-Error-Code", "400")
		reply.Header.Set("Nats-Service-Error", "apps[0]: bad")
		_ = m.RespondMsg(reply)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	_ = f.nc.Flush()
	f.start()
	natstest.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(seen) < 3 {
			return fmt.Errorf("%d reports seen", len(seen))
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	for seq, n := range seen {
		if n != 1 {
			t.Fatalf("refused report %d sent %d times", seq, n)
		}
	}
}

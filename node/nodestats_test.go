package node_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/node"
	"github.com/strata-edge/strata/node/store"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// The node reports its traffic over its leaf link to a responder on the
// hub: exact request counts per app, and the results of a Metric SQL
// definition that arrived with the snapshot (kind "metric"); a clean stop
// reports what was still open.
func TestNodeSendsMetricsReports(t *testing.T) {
	hub, leafURL := runHub(t)
	control := natstest.Connect(t, hub)
	var mu sync.Mutex
	bySeq := map[string]*metricsv1.Report{}
	sub, err := control.Subscribe(natsutil.MetricsReportAll, func(m *nats.Msg) {
		var r metricsv1.Report
		if proto.Unmarshal(m.Data, &r) != nil || m.Subject != natsutil.MetricsReportSubject("n1") {
			t.Errorf("report on %s", m.Subject)
			return
		}
		mu.Lock()
		bySeq[fmt.Sprint(r.BootId, r.Seq)] = &r
		mu.Unlock()
		_ = m.Respond(nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	counts := func() (requests, metric uint64) {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range bySeq {
			for _, a := range r.Apps {
				for _, pc := range a.Paths {
					if a.AppId == "web" && pc.Name == "/counted" {
						requests += pc.Count
					}
				}
			}
			for _, m := range r.Metrics {
				for _, row := range m.Rows {
					if m.MetricId == "met_1" && strings.Join(row.Keys, ",") == "/counted,200" {
						metric += row.Aggs[0].Count
					}
				}
			}
		}
		return requests, metric
	}

	p := newPublisher(t, control)
	def := &metricsv1.MetricDefinition{Id: "met_1", Name: "by-status", Sql: "SELECT path, status, count(*) FROM reqs GROUP BY path, status", IntervalSeconds: 1, Version: 1}
	web := app(upstream(t, "A"))
	d := &syncv1.Delta{PartitionId: partition, FromVersion: 0, ToVersion: 3, Schema: natsutil.SyncSchema,
		Upserts: []*syncv1.Resource{store.Resource(web, 3), store.Resource(def, 3)}}
	p.version = 3
	p.send(d, &syncv1.Snapshot{PartitionId: partition, Version: 3, Apps: []*configv1.App{web}, Metrics: []*metricsv1.MetricDefinition{def}})
	n := startNode(t, node.Options{DataDir: t.TempDir(), HubLeafURLs: []string{leafURL}, MetricsInterval: 100 * time.Millisecond})
	waitServes(t, n, 3, "A")
	counted := func(k int) {
		for range k {
			if s := fetch(t, n, "app.example.com", "/counted"); s != "" {
				t.Fatalf("cache status %q", s)
			}
		}
	}
	counted(5)
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if r, m := counts(); r != 5 || m != 5 {
			return fmt.Errorf("%d requests, %d in the metric", r, m)
		}
		return nil
	})
	// Requests of the current second reach the service at a clean stop.
	if o, _ := n.Observe(); o.Reports == nil || o.Reports.Sent == 0 || o.Reports.Dropped != 0 {
		t.Fatalf("reporter counters %+v", o.Reports)
	}
	counted(3)
	stopNode(t, n)
	if r, m := counts(); r != 8 || m != 8 {
		t.Fatalf("after stop: %d requests reported, %d in the metric; want 8", r, m)
	}
}

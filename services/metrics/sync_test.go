package metrics

import (
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"

	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
	"github.com/strata-edge/strata/services/edgesync"
)

// names returns the metrics of a partition's track view.
func names(ts *edgesync.Tracks, partition string, staging bool) []string {
	var out []string
	for _, m := range ts.Snapshot(partition, staging).GetMetrics() {
		out = append(out, m.GetName())
	}
	slices.Sort(out)
	return out
}

func TestDefinitionsReachTheirPartitions(t *testing.T) {
	tracks := edgesync.New(slog.New(slog.NewTextHandler(io.Discard, nil)), false)
	e := newEnv(t, Options{Sync: tracks, Partitions: partitions{"p1": "p1", "p2": "p2", "p3": "p3"}})
	e.createPartition(t, "p1")
	e.createPartition(t, "p2")
	c := e.clients[0]
	one, err := c.CreateMetric(e.ctx, &metricsv1.CreateMetricRequest{Name: "only-p1", Sql: okSQL, PartitionIds: []string{"p1"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateMetric(e.ctx, &metricsv1.CreateMetricRequest{Name: "everywhere", Sql: okSQL}); err != nil {
		t.Fatal(err)
	}
	check := func(partition string, want ...string) {
		t.Helper()
		if err := tracks.CatchUp(e.ctx, e.store); err != nil {
			t.Fatal(err)
		}
		for _, staging := range []bool{false, true} {
			if got := names(tracks, partition, staging); !slices.Equal(got, want) {
				t.Fatalf("partition %s (staging %v) runs %v, want %v", partition, staging, got, want)
			}
		}
	}
	check("p1", "everywhere", "only-p1")
	check("p2", "everywhere")
	// The snapshot carries the definition as the nodes run it, version
	// included (what their results name).
	snap := tracks.Snapshot("p1", false)
	i := slices.IndexFunc(snap.GetMetrics(), func(m *metricsv1.MetricDefinition) bool { return m.GetName() == "only-p1" })
	if got := snap.GetMetrics()[i]; got.GetSql() != okSQL || got.GetVersion() != one.GetMetric().GetVersion() {
		t.Fatalf("synced %v", got)
	}

	// A partition created later gets the metrics of every partition.
	e.createPartition(t, "p3")
	check("p3", "everywhere")

	// Moving and deleting take effect at once.
	if _, err := c.UpdateMetric(e.ctx, &metricsv1.UpdateMetricRequest{Metric: "only-p1", SetPartitions: true, PartitionIds: []string{"p2"}}); err != nil {
		t.Fatal(err)
	}
	check("p1", "everywhere")
	check("p2", "everywhere", "only-p1")
	if got := e.svc.MetricsIn("p2"); len(got) != 1 || got[0] != fmt.Sprintf("%q (%s)", "only-p1", one.GetMetric().GetId()) {
		t.Fatalf("metrics in p2: %v", got)
	}
	if got := e.svc.MetricsIn("p3"); len(got) != 0 {
		t.Fatalf("metrics in p3: %v (a metric of every partition keeps none)", got)
	}
	if _, err := c.DeleteMetric(e.ctx, &metricsv1.DeleteMetricRequest{Metric: "everywhere"}); err != nil {
		t.Fatal(err)
	}
	check("p1")
	check("p2", "only-p1")
	check("p3")
}

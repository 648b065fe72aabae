package metricscmd

import (
	"bytes"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
	"github.com/strata-edge/strata/pkg/sketch"
)

var updateText = flag.Bool("update-text", false, "rewrite testdata/text/*.txt")

// goldenText compares what render writes with testdata/text/<name>.txt
// (rewritten with -update-text): the text a person reads, fixed here
// because times in it are not (-o json output has its goldens against the
// real service).
func goldenText(t *testing.T, name string, render func(io.Writer) error) {
	t.Helper()
	var b bytes.Buffer
	if err := render(&b); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "text", name+".txt")
	if *updateText {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update-text to write it)", err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Errorf("%s differs from %s\n--- got\n%s--- want\n%s", name, path, b.Bytes(), want)
	}
}

func TestTextOutput(t *testing.T) {
	was := time.Local
	time.Local = time.UTC
	t.Cleanup(func() { time.Local = was })
	t0 := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

	goldenText(t, "top-status", func(w io.Writer) error {
		return topText(w, &metricsv1.QueryTopResponse{By: "status", Total: 40, Rows: []*metricsv1.TopRow{
			{Name: "200", Requests: 30}, {Name: "404", Requests: 7}, {Name: "502", Requests: 3, Errors: 3}}})
	})
	goldenText(t, "top-path", func(w io.Writer) error {
		return topText(w, &metricsv1.QueryTopResponse{By: "path", Total: 40, Rows: []*metricsv1.TopRow{
			{Name: "/ok", Requests: 30}, {Name: "/missing", Requests: 8, Error: 1}, {Name: "/bad", Requests: 3, Errors: 3}}})
	})
	goldenText(t, "top-empty", func(w io.Writer) error {
		return topText(w, &metricsv1.QueryTopResponse{By: "node"})
	})

	var pts []*metricsv1.Point
	for i, v := range []float64{0, 3, 8, 12, 30, 22, 9, 1} {
		pts = append(pts, &metricsv1.Point{UnixSecond: t0.Unix() + int64(i*10), Value: v})
	}
	goldenText(t, "series-requests", func(w io.Writer) error {
		return seriesText(w, &metricsv1.QuerySeriesResponse{Series: "requests", StepSeconds: 10, ResolutionSeconds: 1, Points: pts}, false)
	})
	goldenText(t, "series-latency", func(w io.Writer) error {
		lat := []*metricsv1.Point{{UnixSecond: t0.Unix(), Value: 1.25}, {UnixSecond: t0.Unix() + 60, Value: 14.5}, {UnixSecond: t0.Unix() + 120, Value: 3}}
		return seriesText(w, &metricsv1.QuerySeriesResponse{Series: "latency_p99", StepSeconds: 60, ResolutionSeconds: 60, Points: lat}, true)
	})
	goldenText(t, "series-empty", func(w io.Writer) error {
		return seriesText(w, &metricsv1.QuerySeriesResponse{Series: "bytes_out", StepSeconds: 10, ResolutionSeconds: 1}, false)
	})

	goldenText(t, "node", func(w io.Writer) error {
		var s []*metricsv1.SystemSample
		for i, cpu := range []float64{5, 12.5, 80, 40} {
			s = append(s, &metricsv1.SystemSample{UnixSecond: t0.Unix() + int64(i*5), CpuPercent: cpu, Load1: 0.5 + float64(i)/10,
				MemoryUsedBytes: 3 << 30, MemoryTotalBytes: 8 << 30, OpenConnections: uint64(10 * i),
				Disks:      []*metricsv1.DiskUsage{{Path: "/var/lib/strata", UsedBytes: 20 << 30, TotalBytes: 100 << 30}},
				Interfaces: []*metricsv1.NetInterface{{Name: "eth0", BytesRecv: 150 << 10, BytesSent: 2 << 20}, {Name: "lo", BytesRecv: 512, BytesSent: 512}},
				XdpPackets: []*metricsv1.NameCount{{Name: "passed", Count: uint64(1000 * (i + 1))}, {Name: "syn_rate", Count: uint64(995 * i)}}})
		}
		// last_report is shown relative to now: leave it unset here.
		return nodeText(w, "edge-1", &metricsv1.GetNodeStatsResponse{Samples: s, DroppedReports: 2}, false)
	})

	goldenText(t, "query", func(w io.Writer) error {
		return queryText(w, &metricsv1.QueryMetricResponse{Columns: []string{"path", "count(*)"}, Windows: 12, Overflow: 4, Rows: []*metricsv1.ResultRow{
			{Values: []string{"/ok", "30"}}, {Values: []string{"/missing", "7"}}, {Values: []string{"", "4"}, Other: true}}})
	})
	goldenText(t, "metric-show", func(w io.Writer) error {
		return definitionText(w, &metricsv1.MetricDefinition{Id: "met_0000000000000000", Name: "paths", Sql: "SELECT path, count(*) FROM reqs GROUP BY path",
			IntervalSeconds: 10, Version: 42, CreatedAt: timestamppb.New(t0), UpdatedAt: timestamppb.New(t0.Add(time.Minute))})
	})

	goldenText(t, "health-node", func(w io.Writer) error {
		return healthText(w, &metricsv1.ListHealthResponse{Changes: []*metricsv1.HealthChange{
			{Time: timestamppb.New(t0.Add(2 * time.Minute)), NodeId: "node_1", Healthy: true, Reason: "metrics report received"},
			{Time: timestamppb.New(t0.Add(time.Minute)), NodeId: "node_1", Reason: "no metrics report for 15s"},
			{Time: timestamppb.New(t0), NodeId: "node_1", AppId: "app_1", Upstream: "web", Server: "10.0.0.1:8080", Reason: "GET /healthz: status 503"},
		}}, true)
	})

	sk := sketch.New()
	for i := 1; i <= 100; i++ {
		sk.Add(float64(i))
	}
	goldenText(t, "tail", func(w io.Writer) error {
		_, err := io.WriteString(w, tailText(&metricsv1.TailResponse{Nodes: 2, Second: &metricsv1.AppSecond{UnixSecond: t0.Unix(), Requests: 40,
			Status: []*metricsv1.CodeCount{{Code: 200, Count: 30}, {Code: 404, Count: 7}, {Code: 502, Count: 3}}, BytesIn: 4000, BytesOut: 80 << 10,
			LatencyMs: sk.Proto()}})+"\n")
		return err
	})
}

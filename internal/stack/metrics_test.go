package stack_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/internal/stack"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// TestControlMetrics: `strata control --services config,iam,metrics` stores
// the reports nodes send and answers for them, on SQLite in the data
// directory and on PostgreSQL (--metrics-postgres-dsn-file), and a Metric
// SQL definition reaches the snapshot of its partition.
func TestControlMetrics(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts func(t *testing.T) stack.ControlOptions
	}{
		{"sqlite", func(*testing.T) stack.ControlOptions { return stack.ControlOptions{} }},
		{"postgres", metricsPostgres},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opts(t)
			ns := natstest.RunServer(t)
			o.NATSURL = ns.ClientURL()
			o.Services = []string{stack.ServiceConfig, stack.ServiceIAM, stack.ServiceMetrics}
			api, admin := runControl(t, o)
			mc := admin.metric
			ctx := context.Background()

			m, err := mc.CreateMetric(ctx, &metricsv1.CreateMetricRequest{Name: "hosts", Sql: "select host, count(*) from reqs group by host",
				PartitionIds: []string{"default"}})
			if err != nil {
				t.Fatal(err)
			}
			natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
				snap, err := admin.config.GetSnapshot(ctx, &configv1.GetSnapshotRequest{Partition: "default"})
				if err != nil {
					return err
				}
				var view syncv1.Snapshot
				if err := protojson.Unmarshal([]byte(snap.GetJson()), &view); err != nil {
					return err
				}
				if !slices.ContainsFunc(view.GetMetrics(), func(d *metricsv1.MetricDefinition) bool { return d.GetId() == m.GetMetric().GetId() }) {
					return fmt.Errorf("snapshot metrics %v", view.GetMetrics())
				}
				return nil
			})

			// A partition a metric names is kept until the metric moves.
			if _, err := admin.config.CreatePartition(ctx, &configv1.CreatePartitionRequest{Name: "eu"}); err != nil {
				t.Fatal(err)
			}
			if _, err := mc.CreateMetric(ctx, &metricsv1.CreateMetricRequest{Name: "eu-hosts", Sql: "select host, count(*) from reqs group by host",
				PartitionIds: []string{"eu"}}); err != nil {
				t.Fatal(err)
			}
			_, err = admin.config.DeletePartition(ctx, &configv1.DeletePartitionRequest{Partition: "eu"})
			if connect.CodeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), `metrics "eu-hosts"`) {
				t.Fatalf("delete a partition a metric names: %v", err)
			}

			var cluster string
			for _, c := range must[*configv1.ListClustersResponse](t)(admin.config.ListClusters(ctx, &configv1.ListClustersRequest{})).GetClusters() {
				if c.GetName() == "default" {
					cluster = c.GetId()
				}
			}
			nc := natstest.Connect(t, ns)
			now := time.Now()
			b, _ := proto.Marshal(&metricsv1.Report{BootId: "b1", Seq: 1, ClusterId: cluster, Apps: []*metricsv1.AppSecond{{AppId: "app_x", UnixSecond: now.Unix(), Requests: 9}}})
			for range 2 { // a re-sent report counts once
				if _, err := nc.Request(natsutil.MetricsReportSubject("nod_1"), b, 5*time.Second); err != nil {
					t.Fatalf("report not answered: %v", err)
				}
			}
			// All nodes, the cluster by name, another cluster.
			for clusterRef, want := range map[string]float64{"": 9, "default": 9, "nowhere": 0} {
				res, err := mc.QuerySeries(ctx, &metricsv1.QuerySeriesRequest{AppId: "app_x", Series: "requests", ClusterId: clusterRef,
					Start: timestamppb.New(now.Add(-time.Minute)), End: timestamppb.New(now.Add(time.Minute)), StepSeconds: 60})
				if err != nil {
					t.Fatal(err)
				}
				var n float64
				for _, p := range res.GetPoints() {
					n += p.GetValue()
				}
				if n != want {
					t.Fatalf("series of cluster %q %v: %v requests, want %v", clusterRef, res.GetPoints(), n, want)
				}
			}
			if _, err := mc.QuerySeries(ctx, &metricsv1.QuerySeriesRequest{AppId: "app_x", Series: "requests",
				Start: timestamppb.New(now), End: timestamppb.New(now.Add(-time.Minute))}); connect.CodeOf(err) != connect.CodeInvalidArgument {
				t.Fatalf("start after end: %v", err)
			}
			// The process's /metrics counts what it ingested.
			res2, err := http.Get(api + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res2.Body)
			res2.Body.Close()
			for _, want := range []string{`strata_metrics_reports_total{outcome="stored"} 1`, `strata_metrics_reports_total{outcome="duplicate"} 1`, "strata_metrics_definitions 2"} {
				if !strings.Contains(string(body), want) {
					t.Errorf("/metrics lacks %s", want)
				}
			}
		})
	}
}

// metricsPostgres puts the metrics store in a database of its own on the
// server of $STRATA_TEST_POSTGRES (the flag takes a URL; the default
// schema would be shared), given through a secret DSN file.
func metricsPostgres(t *testing.T) stack.ControlOptions {
	dsn := os.Getenv("STRATA_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("STRATA_TEST_POSTGRES is not set; skipping the PostgreSQL metrics store")
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	db := "strata_metrics_test_" + hex.EncodeToString(b)
	if _, err := pool.Exec(ctx, "CREATE DATABASE "+db); err != nil {
		pool.Close()
		t.Fatalf("create database %s: %v", db, err)
	}
	t.Cleanup(func() {
		defer pool.Close()
		if _, err := pool.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", db, err)
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + db
	file := filepath.Join(t.TempDir(), "metrics.dsn")
	if err := os.WriteFile(file, []byte(u.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return stack.ControlOptions{MetricsPostgresDSNFile: file}
}

package metrics

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/nats-io/nats.go"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	cfgev "github.com/strata-edge/strata/gen/strata/events/config/v1"
	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
	"github.com/strata-edge/strata/gen/strata/metrics/v1/metricsv1connect"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/configevents"
	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/eventstore/eventstoretest"
	"github.com/strata-edge/strata/pkg/testenv"
)

// env is a Service on a real embedded JetStream event store behind an
// HTTP/2 server, with a Connect and a gRPC client.
type env struct {
	svc     *Service
	store   eventstore.Store
	nc      *nats.Conn
	clients []metricsv1connect.MetricsServiceClient
	ctx     context.Context
}

// partitions resolves the partitions it lists (by id or name), as the
// config service does.
type partitions map[string]string

func (p partitions) ResolvePartition(ref string) (string, bool) {
	for id, name := range p {
		if ref == id || ref == name {
			return id, true
		}
	}
	return "", false
}

func newEnv(t testing.TB, opts Options) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	es, nc, _ := eventstoretest.JetStream(t)
	opts.Store = es
	if opts.Results != nil {
		opts.Conn = nc
	}
	if opts.Sync != nil {
		go opts.Sync.Follow(ctx, es)
	}
	svc, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Stop(context.Background()) })
	srv := testenv.ServeAs(t, "alice", svc.Handler)
	return &env{svc: svc, store: es, nc: nc, ctx: ctx, clients: []metricsv1connect.MetricsServiceClient{
		metricsv1connect.NewMetricsServiceClient(srv.Client(), srv.URL),
		metricsv1connect.NewMetricsServiceClient(srv.Client(), srv.URL, connect.WithGRPC()),
	}}
}

// createPartition appends the config service's event for partition id.
func (e *env) createPartition(t *testing.T, id string) {
	t.Helper()
	evs, err := configevents.Events(eventstore.Metadata{Actor: "test"}, &cfgev.PartitionCreated{Partition: &configv1.Partition{Id: id, Name: id}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Append(e.ctx, "partition."+id, 0, evs...); err != nil {
		t.Fatal(err)
	}
}

func code(err error) connect.Code {
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.Code()
	}
	return 0
}

// wantField fails unless err is invalid_argument naming field.
func wantField(t *testing.T, err error, field string) {
	t.Helper()
	if code(err) != connect.CodeInvalidArgument {
		t.Fatalf("want invalid_argument on %s, got %v", field, err)
	}
	for _, v := range apierr.FromConnect(err) {
		if v.Field == field {
			return
		}
	}
	t.Fatalf("error %v does not name field %s", err, field)
}

func TestDefinitionLifecycle(t *testing.T) {
	e := newEnv(t, Options{Partitions: partitions{"part_1": "edge"}})
	for i, c := range e.clients {
		name := []string{"connect-hosts", "grpc-hosts"}[i]
		t.Run(name, func(t *testing.T) {
			cr, err := c.CreateMetric(e.ctx, &metricsv1.CreateMetricRequest{Name: name, Sql: okSQL, PartitionIds: []string{"edge"}})
			if err != nil {
				t.Fatal(err)
			}
			m := cr.GetMetric()
			if !strings.HasPrefix(m.GetId(), "met_") || m.GetIntervalSeconds() != DefaultInterval || m.GetVersion() == 0 ||
				len(m.GetPartitionIds()) != 1 || m.GetPartitionIds()[0] != "part_1" || m.GetCreatedAt() == nil {
				t.Fatalf("created %v", m)
			}
			if _, err := c.CreateMetric(e.ctx, &metricsv1.CreateMetricRequest{Name: name, Sql: okSQL}); code(err) != connect.CodeAlreadyExists {
				t.Fatalf("duplicate name: %v", err)
			}
			got, err := c.GetMetric(e.ctx, &metricsv1.GetMetricRequest{Metric: name})
			if err != nil || got.GetMetric().GetId() != m.GetId() {
				t.Fatalf("get by name: %v, %v", got, err)
			}
			// A stale writer is refused; the current one wins.
			up, err := c.UpdateMetric(e.ctx, &metricsv1.UpdateMetricRequest{Metric: m.GetId(), IntervalSeconds: ptr(uint32(60)), ExpectedVersion: m.GetVersion()})
			if err != nil || up.GetMetric().GetIntervalSeconds() != 60 || up.GetMetric().GetVersion() <= m.GetVersion() {
				t.Fatalf("update: %v, %v", up, err)
			}
			if _, err := c.UpdateMetric(e.ctx, &metricsv1.UpdateMetricRequest{Metric: m.GetId(), Description: ptr("x"), ExpectedVersion: m.GetVersion()}); code(err) != connect.CodeAborted {
				t.Fatalf("stale update: %v", err)
			}
			if _, err := c.DeleteMetric(e.ctx, &metricsv1.DeleteMetricRequest{Metric: name, ExpectedVersion: m.GetVersion()}); code(err) != connect.CodeAborted {
				t.Fatalf("stale delete: %v", err)
			}
			up2, err := c.UpdateMetric(e.ctx, &metricsv1.UpdateMetricRequest{Metric: name, SetPartitions: true})
			if err != nil || len(up2.GetMetric().GetPartitionIds()) != 0 || up2.GetMetric().GetCreatedAt().AsTime() != m.GetCreatedAt().AsTime() {
				t.Fatalf("every partition: %v, %v", up2, err)
			}
			if _, err := c.DeleteMetric(e.ctx, &metricsv1.DeleteMetricRequest{Metric: name, ExpectedVersion: up2.GetMetric().GetVersion()}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.GetMetric(e.ctx, &metricsv1.GetMetricRequest{Metric: m.GetId()}); code(err) != connect.CodeNotFound {
				t.Fatalf("get after delete: %v", err)
			}
			if _, err := c.DeleteMetric(e.ctx, &metricsv1.DeleteMetricRequest{Metric: name}); code(err) != connect.CodeNotFound {
				t.Fatalf("delete again: %v", err)
			}
			// The name is free again.
			if _, err := c.CreateMetric(e.ctx, &metricsv1.CreateMetricRequest{Name: name, Sql: okSQL}); err != nil {
				t.Fatal(err)
			}
		})
	}
	list, err := e.clients[0].ListMetrics(e.ctx, &metricsv1.ListMetricsRequest{})
	if err != nil || len(list.GetMetrics()) != 2 || list.GetMetrics()[0].GetName() != "connect-hosts" {
		t.Fatalf("list: %v, %v", list, err)
	}
	// Every change is an event with its actor: the audit log is the history.
	evs, err := e.store.ReadStream(e.ctx, MetricStream(list.GetMetrics()[0].GetId()), 0)
	if err != nil || len(evs) != 1 || evs[0].Metadata.Actor != "alice" || evs[0].Type != TypeMetricDefined {
		t.Fatalf("events %v, %v", evs, err)
	}
}

func TestDefinitionErrors(t *testing.T) {
	e := newEnv(t, Options{Partitions: partitions{"part_1": "edge"}})
	c := e.clients[0]
	for _, tc := range []struct {
		name, field string
		req         *metricsv1.CreateMetricRequest
	}{
		{"sql", "sql", &metricsv1.CreateMetricRequest{Name: "a", Sql: "select count(*) from reqs join x"}},
		{"sql size", "sql", &metricsv1.CreateMetricRequest{Name: "a", Sql: okSQL + strings.Repeat(" ", 5000)}},
		{"interval", "interval_seconds", &metricsv1.CreateMetricRequest{Name: "a", Sql: okSQL, IntervalSeconds: 7200}},
		{"description", "description", &metricsv1.CreateMetricRequest{Name: "a", Sql: okSQL, Description: strings.Repeat("d", 2000)}},
		{"partition", "partition_ids[1]", &metricsv1.CreateMetricRequest{Name: "a", Sql: okSQL, PartitionIds: []string{"edge", "nowhere"}}},
		{"name", "name", &metricsv1.CreateMetricRequest{Sql: okSQL}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.CreateMetric(e.ctx, tc.req)
			wantField(t, err, tc.field)
		})
	}
	if _, err := c.UpdateMetric(e.ctx, &metricsv1.UpdateMetricRequest{Metric: "nope", Sql: ptr(okSQL)}); code(err) != connect.CodeNotFound {
		t.Fatalf("update unknown: %v", err)
	}
	if _, err := c.UpdateMetric(e.ctx, &metricsv1.UpdateMetricRequest{Metric: "nope", PartitionIds: []string{"edge"}}); code(err) != connect.CodeInvalidArgument {
		t.Fatalf("partitions without set_partitions: %v", err)
	}
	if list, _ := c.ListMetrics(e.ctx, &metricsv1.ListMetricsRequest{}); len(list.GetMetrics()) != 0 {
		t.Fatalf("refused input was stored: %v", list)
	}
	maxMetrics = 2
	t.Cleanup(func() { maxMetrics = MaxMetrics })
	for _, n := range []string{"a", "b"} {
		if _, err := c.CreateMetric(e.ctx, &metricsv1.CreateMetricRequest{Name: n, Sql: okSQL}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.CreateMetric(e.ctx, &metricsv1.CreateMetricRequest{Name: "c", Sql: okSQL}); code(err) != connect.CodeFailedPrecondition {
		t.Fatalf("one metric too many: %v", err)
	}
}

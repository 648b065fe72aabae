package metrics

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/authz"
	"github.com/strata-edge/strata/pkg/listfilter"
	"github.com/strata-edge/strata/pkg/metricsql"
	"github.com/strata-edge/strata/services/metrics/store"
)

// Query bounds: a range of at most MaxRange in at most maxPoints steps, at
// most store.MaxTopLimit top rows and maxHealthLimit health changes.
const (
	MaxRange     = 400 * 24 * time.Hour
	defaultRange = time.Hour
	maxPoints    = store.MaxPoints
	targetPoints = 60
	defaultTop   = 10
	defaultLimit = 100
	// maxHealthLimit: the API's bound (the store allows more).
	maxHealthLimit = 1000
)

// The series QuerySeries and the splits QueryTop know: the store's.
var (
	seriesNames = store.SeriesNames()
	topBy       = store.TopBy()
)

// handler implements the MetricsService RPCs on the Service.
type handler struct{ s *Service }

func (h *handler) fail(err error) error { return apierr.ToConnectLog(h.s.log, err) }

func invalid(field, reason string) error {
	return apierr.Invalid(apierr.FieldViolation{Field: field, Reason: reason})
}

func (h *handler) CreateMetric(ctx context.Context, req *metricsv1.CreateMetricRequest) (*metricsv1.CreateMetricResponse, error) {
	d, err := h.s.create(ctx, Spec{Name: req.GetName(), Description: req.GetDescription(), SQL: req.GetSql(),
		IntervalSeconds: req.GetIntervalSeconds(), Partitions: req.GetPartitionIds()})
	if err != nil {
		return nil, h.fail(err)
	}
	return &metricsv1.CreateMetricResponse{Metric: d}, nil
}

func (h *handler) UpdateMetric(ctx context.Context, req *metricsv1.UpdateMetricRequest) (*metricsv1.UpdateMetricResponse, error) {
	c := Change{Description: req.Description, SQL: req.Sql, IntervalSeconds: req.IntervalSeconds}
	if req.GetSetPartitions() {
		parts, err := h.s.resolvePartitions(req.GetPartitionIds())
		if err != nil {
			return nil, h.fail(err)
		}
		c.Partitions = &parts
	} else if len(req.GetPartitionIds()) > 0 {
		return nil, h.fail(invalid("partition_ids", "set set_partitions to replace the partitions (an empty list with it means every partition)"))
	}
	id, err := h.s.exec(ctx, req.GetMetric(), req.GetExpectedVersion(), func(m *Metric) ([]proto.Message, error) { return m.Update(c) })
	if err != nil {
		return nil, h.fail(err)
	}
	return &metricsv1.UpdateMetricResponse{Metric: h.s.definition(id)}, nil
}

func (h *handler) GetMetric(ctx context.Context, req *metricsv1.GetMetricRequest) (*metricsv1.GetMetricResponse, error) {
	d, err := h.lookup(ctx, req.GetMetric())
	if err != nil {
		return nil, h.fail(err)
	}
	return &metricsv1.GetMetricResponse{Metric: d}, nil
}

// lookup returns the live definition ref names (id or name).
func (h *handler) lookup(ctx context.Context, ref string) (*metricsv1.MetricDefinition, error) {
	d, _, err := h.lookupSQL(ctx, ref)
	return d, err
}

// lookupSQL is lookup with the version that set the definition's SQL.
func (h *handler) lookupSQL(ctx context.Context, ref string) (*metricsv1.MetricDefinition, uint64, error) {
	if ref == "" {
		return nil, 0, invalid("metric", "is required: a metric id or name")
	}
	if err := h.s.catchUp(ctx); err != nil {
		return nil, 0, err
	}
	var d *metricsv1.MetricDefinition
	var since uint64
	h.s.proj.Read(func(st *state) {
		if m := st.lookup(ref); m != nil {
			d, since = m.Definition(), m.SQLSince()
		}
	})
	if d == nil {
		return nil, 0, apierr.NotFound("metric", ref)
	}
	return d, since, nil
}

func (h *handler) ListMetrics(ctx context.Context, req *metricsv1.ListMetricsRequest) (*metricsv1.ListMetricsResponse, error) {
	if err := h.s.catchUp(ctx); err != nil {
		return nil, h.fail(err)
	}
	defs := h.s.Definitions()
	slices.SortFunc(defs, func(a, b *metricsv1.MetricDefinition) int { return strings.Compare(a.GetName(), b.GetName()) })
	out := &metricsv1.ListMetricsResponse{}
	var err error
	out.Metrics, out.NextPageToken, err = listfilter.Paged(metricSchema,
		listfilter.Request{PageSize: req.GetPageSize(), PageToken: req.GetPageToken(), Filter: req.GetFilter()},
		defs, (*metricsv1.MetricDefinition).GetName)
	if err != nil {
		return nil, h.fail(err)
	}
	return out, nil
}

func (h *handler) DeleteMetric(ctx context.Context, req *metricsv1.DeleteMetricRequest) (*metricsv1.DeleteMetricResponse, error) {
	if _, err := h.s.exec(ctx, req.GetMetric(), req.GetExpectedVersion(), func(m *Metric) ([]proto.Message, error) { return m.Delete() }); err != nil {
		return nil, h.fail(err)
	}
	return &metricsv1.DeleteMetricResponse{}, nil
}

// results is the metrics store, or why there is none in this process.
func (h *handler) results() (store.Store, error) {
	if h.s.results == nil {
		return nil, apierr.FailedPrecondition("this process runs no metrics store (strata control --services metrics)")
	}
	return h.s.results, nil
}

func (h *handler) QueryMetric(ctx context.Context, req *metricsv1.QueryMetricRequest) (*metricsv1.QueryMetricResponse, error) {
	st, err := h.results()
	if err != nil {
		return nil, h.fail(err)
	}
	d, since, err := h.lookupSQL(ctx, req.GetMetric())
	if err != nil {
		return nil, h.fail(err)
	}
	start, end, err := h.timeRange(req.GetStart(), req.GetEnd())
	if err != nil {
		return nil, h.fail(err)
	}
	q, err := metricsql.Compile(d.GetSql())
	if err != nil {
		// Accepted when defined, so only a newer parser refuses it now.
		return nil, h.fail(apierr.FailedPrecondition(fmt.Sprintf("metric %s: sql no longer compiles: %v", d.GetId(), err)))
	}
	results, err := st.MetricResults(ctx, d.GetId(), start, end)
	if err != nil {
		return nil, h.fail(err)
	}
	// Windows of an earlier SQL have other columns: only the current
	// SQL's are merged (nodes name the version they ran).
	results = slices.DeleteFunc(results, func(r *metricsv1.MetricResult) bool { return r.GetDefinitionVersion() < since })
	out, err := q.Table(results)
	if err != nil {
		return nil, h.fail(err)
	}
	return out, nil
}

func (h *handler) QuerySeries(ctx context.Context, req *metricsv1.QuerySeriesRequest) (*metricsv1.QuerySeriesResponse, error) {
	st, err := h.results()
	if err != nil {
		return nil, h.fail(err)
	}
	app, err := h.s.appID(ctx, req.GetAppId())
	if err != nil {
		return nil, h.fail(err)
	}
	if !slices.Contains(seriesNames, req.GetSeries()) {
		return nil, h.fail(invalid("series", fmt.Sprintf("%q is not a series; use one of %s", req.GetSeries(), strings.Join(seriesNames, ", "))))
	}
	if req.GetNodeId() != "" && req.GetClusterId() != "" {
		return nil, h.fail(invalid("cluster_id", "give node_id or cluster_id, not both"))
	}
	// Optional filters, by id or name.
	node, cluster := req.GetNodeId(), req.GetClusterId()
	if node != "" {
		if node, err = h.s.nodeID(ctx, node); err != nil {
			return nil, h.fail(err)
		}
	}
	if cluster != "" {
		if cluster, err = h.s.objectID(ctx, authz.KindCluster, "cluster_id", cluster); err != nil {
			return nil, h.fail(err)
		}
	}
	start, end, err := h.timeRange(req.GetStart(), req.GetEnd())
	if err != nil {
		return nil, h.fail(err)
	}
	step, err := stepOf(req.GetStepSeconds(), start, end)
	if err != nil {
		return nil, h.fail(err)
	}
	out, err := st.Series(ctx, store.SeriesQuery{AppID: app, Series: req.GetSeries(), NodeID: node, ClusterID: cluster,
		Start: start, End: end, Step: step})
	if err != nil {
		return nil, h.fail(err)
	}
	return out, nil
}

func (h *handler) QueryTop(ctx context.Context, req *metricsv1.QueryTopRequest) (*metricsv1.QueryTopResponse, error) {
	st, err := h.results()
	if err != nil {
		return nil, h.fail(err)
	}
	app, err := h.s.appID(ctx, req.GetAppId())
	if err != nil {
		return nil, h.fail(err)
	}
	by := req.GetBy()
	if by == "" {
		by = "status"
	}
	if !slices.Contains(topBy, by) {
		return nil, h.fail(invalid("by", fmt.Sprintf("%q is not a split; use one of %s", by, strings.Join(topBy, ", "))))
	}
	limit, err := limitOf(req.GetLimit(), defaultTop, store.MaxTopLimit)
	if err != nil {
		return nil, h.fail(err)
	}
	start, end, err := h.timeRange(req.GetStart(), req.GetEnd())
	if err != nil {
		return nil, h.fail(err)
	}
	out, err := st.Top(ctx, store.TopQuery{AppID: app, By: by, Start: start, End: end, Limit: limit})
	if err != nil {
		return nil, h.fail(err)
	}
	return out, nil
}

func (h *handler) GetNodeStats(ctx context.Context, req *metricsv1.GetNodeStatsRequest) (*metricsv1.GetNodeStatsResponse, error) {
	st, err := h.results()
	if err != nil {
		return nil, h.fail(err)
	}
	node, err := h.s.nodeID(ctx, req.GetNodeId())
	if err != nil {
		return nil, h.fail(err)
	}
	start, end, err := h.timeRange(req.GetStart(), req.GetEnd())
	if err != nil {
		return nil, h.fail(err)
	}
	step, err := stepOf(req.GetStepSeconds(), start, end)
	if err != nil {
		return nil, h.fail(err)
	}
	out, err := st.NodeStats(ctx, node, start, end, step)
	if err != nil {
		return nil, h.fail(err)
	}
	return out, nil
}

func (h *handler) ListHealth(ctx context.Context, req *metricsv1.ListHealthRequest) (*metricsv1.ListHealthResponse, error) {
	st, err := h.results()
	if err != nil {
		return nil, h.fail(err)
	}
	q := store.HealthQuery{}
	switch {
	case req.GetAppId() != "" && req.GetNodeId() != "":
		return nil, h.fail(invalid("node_id", "give app_id or node_id, not both"))
	case req.GetAppId() != "":
		q.AppID, err = h.s.appID(ctx, req.GetAppId())
	case req.GetNodeId() != "":
		q.NodeID, err = h.s.nodeID(ctx, req.GetNodeId())
	default:
		err = invalid("app_id", "give app_id (an app's upstream servers) or node_id (a node's liveness)")
	}
	if err != nil {
		return nil, h.fail(err)
	}
	if q.Limit, err = limitOf(req.GetLimit(), defaultLimit, maxHealthLimit); err != nil {
		return nil, h.fail(err)
	}
	if q.Start, q.End, err = h.timeRange(req.GetStart(), req.GetEnd()); err != nil {
		return nil, h.fail(err)
	}
	changes, err := st.Health(ctx, q)
	if err != nil {
		return nil, h.fail(err)
	}
	// limit bounds what is read from the store; the page and filter apply
	// to those changes, newest first.
	slices.SortStableFunc(changes, func(a, b *metricsv1.HealthChange) int { return strings.Compare(healthKey(a), healthKey(b)) })
	out := &metricsv1.ListHealthResponse{}
	out.Changes, out.NextPageToken, err = listfilter.Paged(healthSchema,
		listfilter.Request{PageSize: req.GetPageSize(), PageToken: req.GetPageToken(), Filter: req.GetFilter(), Scope: req.GetAppId() + "\x00" + req.GetNodeId()},
		changes, healthKey)
	if err != nil {
		return nil, h.fail(err)
	}
	return out, nil
}

func (h *handler) Tail(ctx context.Context, req *metricsv1.TailRequest, stream *connect.ServerStream[metricsv1.TailResponse]) error {
	if h.s.conn == nil {
		return h.fail(apierr.FailedPrecondition("this process receives no metrics reports (strata control --services metrics)"))
	}
	app, err := h.s.appID(ctx, req.GetAppId())
	if err != nil {
		return h.fail(err)
	}
	return h.s.runTail(ctx, app, stream.Send)
}

// timeRange checks a query's range: end unset is now, start unset is an
// hour before end; start before end, at most MaxRange apart.
func (h *handler) timeRange(start, end *timestamppb.Timestamp) (time.Time, time.Time, error) {
	e := h.s.now()
	if end != nil {
		if err := end.CheckValid(); err != nil {
			return time.Time{}, time.Time{}, invalid("end", err.Error())
		}
		e = end.AsTime()
	}
	s := e.Add(-defaultRange)
	if start != nil {
		if err := start.CheckValid(); err != nil {
			return time.Time{}, time.Time{}, invalid("start", err.Error())
		}
		s = start.AsTime()
	}
	switch {
	case !s.Before(e):
		return time.Time{}, time.Time{}, invalid("start", fmt.Sprintf("%s is not before end %s", s.UTC().Format(time.RFC3339), e.UTC().Format(time.RFC3339)))
	case e.Sub(s) > MaxRange:
		return time.Time{}, time.Time{}, invalid("start", fmt.Sprintf("the range is %s, more than %d days", e.Sub(s).Round(time.Second), int(MaxRange/(24*time.Hour))))
	}
	return s, e, nil
}

// stepOf is the step of a range: seconds given, or about targetPoints
// points; at most maxPoints points.
func stepOf(seconds uint32, start, end time.Time) (time.Duration, error) {
	step := time.Duration(seconds) * time.Second
	if seconds == 0 {
		step = max(time.Second, (end.Sub(start) / targetPoints).Truncate(time.Second))
	}
	if n := end.Sub(start) / step; n > maxPoints {
		return 0, invalid("step_seconds", fmt.Sprintf("%s steps over the range make %d points, more than %d; use a larger step", step, n, maxPoints))
	}
	return step, nil
}

func limitOf(n uint32, def, max int) (int, error) {
	switch {
	case n == 0:
		return def, nil
	case int64(n) > int64(max):
		return 0, invalid("limit", fmt.Sprintf("%d is more than %d", n, max))
	}
	return int(n), nil
}

// Objects resolves app and node references (ids or names) to ids (the
// config service implements it); optional.
type Objects interface {
	ResolveObject(ctx context.Context, kind, ref string) (authz.ResolvedObject, error)
}

// appID is the id of the app ref names: required; a name is resolved when
// the service has Options.Objects.
func (s *Service) appID(ctx context.Context, ref string) (string, error) {
	return s.objectID(ctx, authz.KindApp, "app_id", ref)
}

func (s *Service) nodeID(ctx context.Context, ref string) (string, error) {
	return s.objectID(ctx, authz.KindNode, "node_id", ref)
}

func (s *Service) objectID(ctx context.Context, kind, field, ref string) (string, error) {
	switch {
	case ref == "":
		return "", invalid(field, "is required")
	case len(ref) > maxIDBytes:
		return "", invalid(field, fmt.Sprintf("is %d bytes long, more than %d", len(ref), maxIDBytes))
	case s.objects == nil:
		return ref, nil
	}
	obj, err := s.objects.ResolveObject(ctx, kind, ref)
	if err != nil {
		// A removed app or node keeps its numbers until retention: an id
		// that no longer resolves is still asked for.
		return ref, nil
	}
	return obj.Object.ID, nil
}

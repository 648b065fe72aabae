// Package store keeps what the metrics service ingests from the nodes
// (per-app traffic seconds, system samples, Metric SQL windows, upstream
// server health) and answers the service's queries. One interface, two
// implementations (SQLite through modernc.org/sqlite, PostgreSQL through
// pgx, with TimescaleDB hypertables when the extension is present), one
// conformance suite (storetest). See README.md for the schema.
package store

import (
	"context"
	"fmt"
	"time"

	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
	"github.com/strata-edge/strata/pkg/apierr"
)

// Store is the metrics storage. Every method is safe for concurrent use;
// Compact may also run concurrently in several processes on one
// PostgreSQL database.
type Store interface {
	// Ingest stores a node's report once: (nodeID, r.BootId, r.Seq) seen
	// before -> dup=true, nothing changes. Atomic. A report over the limits
	// (Limits) or with a malformed sketch is refused (apierr.Invalid naming
	// the field) before anything is stored.
	Ingest(ctx context.Context, nodeID string, r *metricsv1.Report, received time.Time) (dup bool, err error)
	// Series returns one traffic series of an app from q.Start to q.End in
	// steps (counts per step, quantiles of the step's merged sketches).
	Series(ctx context.Context, q SeriesQuery) (*metricsv1.QuerySeriesResponse, error)
	// Top splits an app's traffic in the range by status, path, upstream,
	// cache or node, largest first.
	Top(ctx context.Context, q TopQuery) (*metricsv1.QueryTopResponse, error)
	// NodeStats returns a node's system samples (the last of each step;
	// step 0: about 60), when it last reported and the reports it dropped.
	NodeStats(ctx context.Context, nodeID string, start, end time.Time, step time.Duration) (*metricsv1.GetNodeStatsResponse, error)
	// Health returns health changes in [Start, End), newest first.
	Health(ctx context.Context, q HealthQuery) ([]*metricsv1.HealthChange, error)
	// RecordHealth stores node liveness changes the service sees.
	RecordHealth(ctx context.Context, changes []*metricsv1.HealthChange) error
	// MetricResults returns the stored windows of one Metric SQL metric
	// (every node) whose start is in [start, end), oldest first.
	MetricResults(ctx context.Context, metricID string, start, end time.Time) ([]*metricsv1.MetricResult, error)
	// Compact downsamples and applies retention as of now; the service
	// calls it every minute. Idempotent.
	Compact(ctx context.Context, now time.Time) error
	Close() error
}

// SeriesQuery selects one series. NodeID or ClusterID (optional) restrict
// it to one node or one cluster. Step 0 picks one for about 60 points; a
// step is rounded up to a multiple of the resolution read.
type SeriesQuery struct {
	AppID, Series, NodeID, ClusterID string
	Start, End                       time.Time
	Step                             time.Duration
}

// TopQuery selects a split. By: status, path, upstream, cache, node.
// Limit 0 means 10, at most MaxTopLimit.
type TopQuery struct {
	AppID, By  string
	Start, End time.Time
	Limit      int
}

// HealthQuery selects health changes: an app's upstream servers (AppID),
// one node's (NodeID: its servers and its liveness), or both filters.
// Limit 0 means 100, at most MaxHealthLimit.
type HealthQuery struct {
	AppID, NodeID string
	Start, End    time.Time
	Limit         int
}

// Retention says how long each resolution is kept: 1 s rows for Second,
// then rolled into 1 min rows kept for Minute, then into 1 h rows kept for
// Hour. Zero fields: 1h, 7*24h, 365*24h. Metric results, system samples,
// health changes and the ingest dedup keys are kept for Minute.
// (Field names in errors: retention.1s, retention.1m, retention.1h, as the
// strata dev/control flags --metrics-retention-1s/-1m/-1h.)
type Retention struct{ Second, Minute, Hour time.Duration }

func (r Retention) withDefaults() (Retention, error) {
	if r.Second == 0 {
		r.Second = time.Hour
	}
	if r.Minute == 0 {
		r.Minute = 7 * 24 * time.Hour
	}
	if r.Hour == 0 {
		r.Hour = 365 * 24 * time.Hour
	}
	switch {
	case r.Second < time.Minute:
		return r, apierr.Invalid(apierr.FieldViolation{Field: "retention.1s", Reason: fmt.Sprintf("%v: at least 1m", r.Second)})
	case r.Minute < r.Second || r.Minute < time.Hour:
		return r, apierr.Invalid(apierr.FieldViolation{Field: "retention.1m", Reason: fmt.Sprintf("%v: at least 1h and at least retention.1s", r.Minute)})
	case r.Hour < r.Minute:
		return r, apierr.Invalid(apierr.FieldViolation{Field: "retention.1h", Reason: fmt.Sprintf("%v: at least retention.1m", r.Hour)})
	}
	return r, nil
}

// Series names.
var seriesNames = []string{
	"requests", "status_1xx", "status_2xx", "status_3xx", "status_4xx", "status_5xx",
	"bytes_in", "bytes_out", "latency_p50", "latency_p90", "latency_p99", "latency_p999",
	"upstream_errors", "upstream_latency_p99", "cache_hit_ratio",
}

// SeriesNames lists the series Series answers.
func SeriesNames() []string { return append([]string(nil), seriesNames...) }

// TopBy lists the splits Top answers.
func TopBy() []string { return []string{"status", "path", "upstream", "cache", "node", "waf_rule"} }

// Resolutions, seconds.
const (
	resSecond = 1
	resMinute = 60
	resHour   = 3600
)

// Limits of one report and of queries; bigger input is refused naming the
// field.
const (
	MaxAppSeconds     = 10_000
	MaxSystemSamples  = 1_000
	MaxMetricResults  = 1_000
	MaxMetricRows     = 10_000 // rows of one MetricResult
	MaxServers        = 10_000
	MaxStatusCodes    = 100  // per AppSecond
	MaxUpstreams      = 256  // per AppSecond
	MaxNames          = 64   // cache statuses, paths, upstream error reasons per AppSecond
	MaxWAFRules       = 64   // (rule, action) counts per AppSecond
	MaxWAFRuleIDLen   = 64   // a WAF rule id (services/waf.MaxRuleIDLength)
	MaxIDLen          = 128  // app, node, boot, cluster, partition, metric ids
	MaxNameLen        = 2048 // a path, a server, a reason
	MaxPoints         = 11_000
	MaxTopLimit       = 1_000
	MaxHealthLimit    = 10_000
	MaxHealthChanges  = 10_000 // per RecordHealth
	maxFutureSkew     = time.Hour
	pathsKeptPerRow   = 256 // paths of a downsampled row
	defaultTopLimit   = 10
	defaultHealthRows = 100
	targetPoints      = 60
)

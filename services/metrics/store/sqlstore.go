package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
	"github.com/strata-edge/strata/pkg/sketch"
)

// dialect is what differs between SQLite and PostgreSQL; the SQL is
// written with ? placeholders and {p} before every table name.
type dialect struct {
	postgres bool
	prefix   string // "schema." on PostgreSQL
	blob     string // column type of encoded protos
	greatest string // max of two values: max (SQLite) or GREATEST
}

func (d dialect) q(s string) string {
	s = strings.ReplaceAll(s, "{p}", d.prefix)
	s = strings.ReplaceAll(s, "{blob}", d.blob)
	s = strings.ReplaceAll(s, "{greatest}", d.greatest)
	if !d.postgres {
		return s
	}
	var b strings.Builder
	n := 0
	for _, c := range s {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// sqlStore is the Store over database/sql, shared by both databases.
type sqlStore struct {
	db  *sql.DB
	d   dialect
	ret Retention
	// writeMu serializes SQLite's writers (one writer at a time anyway;
	// waiting here beats SQLITE_BUSY). nil on PostgreSQL.
	writeMu *sync.Mutex
	// lockTx takes the compaction lock inside a transaction (PostgreSQL:
	// an advisory lock, so replicas compact one at a time).
	lockTx func(ctx context.Context, tx *sql.Tx) error
	// lockNode serializes the health derivation of one node's reports
	// (two replicas may ingest two of them at once); nil on SQLite.
	lockNode func(ctx context.Context, tx *sql.Tx, node string) error
}

func schemaSQL(d dialect) []string {
	return []string{
		`CREATE TABLE IF NOT EXISTS {p}reports (node_id TEXT NOT NULL, boot_id TEXT NOT NULL, seq BIGINT NOT NULL, received BIGINT NOT NULL, PRIMARY KEY (node_id, boot_id, seq))`,
		`CREATE INDEX IF NOT EXISTS reports_received ON {p}reports (received)`,
		`CREATE TABLE IF NOT EXISTS {p}traffic (res INTEGER NOT NULL, ts BIGINT NOT NULL, app_id TEXT NOT NULL, node_id TEXT NOT NULL, cluster_id TEXT NOT NULL,
			requests BIGINT NOT NULL, s1xx BIGINT NOT NULL, s2xx BIGINT NOT NULL, s3xx BIGINT NOT NULL, s4xx BIGINT NOT NULL, s5xx BIGINT NOT NULL,
			bytes_in BIGINT NOT NULL, bytes_out BIGINT NOT NULL, upstream_errors BIGINT NOT NULL, cache_hits BIGINT NOT NULL, cache_total BIGINT NOT NULL, waf_hits BIGINT NOT NULL,
			latency {blob}, upstream_latency {blob}, dims {blob})`,
		`CREATE INDEX IF NOT EXISTS traffic_app_ts ON {p}traffic (app_id, ts)`,
		`CREATE INDEX IF NOT EXISTS traffic_res_ts ON {p}traffic (res, ts)`,
		`CREATE TABLE IF NOT EXISTS {p}samples (node_id TEXT NOT NULL, ts BIGINT NOT NULL, sample {blob} NOT NULL)`,
		`CREATE INDEX IF NOT EXISTS samples_node_ts ON {p}samples (node_id, ts)`,
		`CREATE INDEX IF NOT EXISTS samples_ts ON {p}samples (ts)`,
		`CREATE TABLE IF NOT EXISTS {p}nodes (node_id TEXT PRIMARY KEY, cluster_id TEXT NOT NULL, last_report BIGINT NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS {p}boots (node_id TEXT NOT NULL, boot_id TEXT NOT NULL, dropped BIGINT NOT NULL, last_seen BIGINT NOT NULL, PRIMARY KEY (node_id, boot_id))`,
		`CREATE TABLE IF NOT EXISTS {p}metric_results (metric_id TEXT NOT NULL, node_id TEXT NOT NULL, window_start BIGINT NOT NULL, received BIGINT NOT NULL, result {blob} NOT NULL)`,
		`CREATE INDEX IF NOT EXISTS metric_results_id ON {p}metric_results (metric_id, window_start)`,
		`CREATE INDEX IF NOT EXISTS metric_results_start ON {p}metric_results (window_start)`,
		`CREATE TABLE IF NOT EXISTS {p}server_state (node_id TEXT NOT NULL, app_id TEXT NOT NULL, upstream TEXT NOT NULL, server TEXT NOT NULL, healthy INTEGER NOT NULL, reason TEXT NOT NULL, PRIMARY KEY (node_id, app_id, upstream, server))`,
		`CREATE TABLE IF NOT EXISTS {p}health (ts BIGINT NOT NULL, node_id TEXT NOT NULL, app_id TEXT NOT NULL, upstream TEXT NOT NULL, server TEXT NOT NULL, healthy INTEGER NOT NULL, reason TEXT NOT NULL)`,
		`CREATE INDEX IF NOT EXISTS health_app_ts ON {p}health (app_id, ts)`,
		`CREATE INDEX IF NOT EXISTS health_node_ts ON {p}health (node_id, ts)`,
		`CREATE INDEX IF NOT EXISTS health_ts ON {p}health (ts)`,
		`CREATE TABLE IF NOT EXISTS {p}meta (name TEXT PRIMARY KEY, value BIGINT NOT NULL)`,
	}
}

func (s *sqlStore) setup(ctx context.Context) error {
	for _, stmt := range schemaSQL(s.d) {
		if _, err := s.db.ExecContext(ctx, s.d.q(stmt)); err != nil {
			return fmt.Errorf("metrics store schema: %w", err)
		}
	}
	return nil
}

// writeTx runs f in a transaction, committed when f returns nil.
func (s *sqlStore) writeTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	if s.writeMu != nil {
		s.writeMu.Lock()
		defer s.writeMu.Unlock()
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

var errDup = errors.New("duplicate report")

func i64(u uint64) int64 {
	if u > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(u)
}

// trafficRow is one row of the traffic table.
type trafficRow struct {
	res                        int
	ts                         int64
	app, node, cluster         string
	requests                   int64
	status                     [5]int64 // 1xx..5xx
	bytesIn, bytesOut          int64
	upErrors, cacheHits, cache int64
	waf                        int64
	latency, upLatency, dims   []byte
}

const trafficCols = `res, ts, app_id, node_id, cluster_id, requests, s1xx, s2xx, s3xx, s4xx, s5xx, bytes_in, bytes_out, upstream_errors, cache_hits, cache_total, waf_hits, latency, upstream_latency, dims`
const trafficNCols = 20

func (t *trafficRow) args() []any {
	return []any{t.res, t.ts, t.app, t.node, t.cluster, t.requests, t.status[0], t.status[1], t.status[2], t.status[3], t.status[4],
		t.bytesIn, t.bytesOut, t.upErrors, t.cacheHits, t.cache, t.waf, t.latency, t.upLatency, t.dims}
}

func (t *trafficRow) scan(rows *sql.Rows) error {
	return rows.Scan(&t.res, &t.ts, &t.app, &t.node, &t.cluster, &t.requests, &t.status[0], &t.status[1], &t.status[2], &t.status[3], &t.status[4],
		&t.bytesIn, &t.bytesOut, &t.upErrors, &t.cacheHits, &t.cache, &t.waf, &t.latency, &t.upLatency, &t.dims)
}

func marshalSketch(s *sketch.Sketch) []byte {
	if s == nil || s.Count() == 0 {
		return nil
	}
	b, _ := proto.Marshal(s.Proto())
	return b
}

// rowFromAppSecond turns a validated AppSecond into a 1 s row.
func rowFromAppSecond(node, cluster string, a *metricsv1.AppSecond) (trafficRow, error) {
	t := trafficRow{res: resSecond, ts: a.UnixSecond, app: a.AppId, node: node, cluster: cluster,
		requests: i64(a.Requests), bytesIn: i64(a.BytesIn), bytesOut: i64(a.BytesOut), waf: i64(a.WafHits)}
	for _, c := range a.Status {
		t.status[c.Code/100-1] += i64(c.Count)
	}
	for _, e := range a.UpstreamErrors {
		t.upErrors += i64(e.Count)
	}
	for _, c := range a.Cache {
		t.cache += i64(c.Count)
		if strings.EqualFold(c.Name, "HIT") {
			t.cacheHits += i64(c.Count)
		}
	}
	var err error
	// Validated already: stored as sent, decoded only to merge.
	if t.latency, err = marshalWire(a.LatencyMs); err != nil {
		return t, err
	}
	dims := &metricsv1.AppSecond{Status: a.Status, Cache: a.Cache, Paths: a.Paths, UpstreamErrors: a.UpstreamErrors, WafRules: a.WafRules}
	var ups []*metricsv1.Sketch
	for _, u := range a.Upstreams {
		if u.LatencyMs.GetCount() > 0 {
			ups = append(ups, u.LatencyMs)
		}
		dims.Upstreams = append(dims.Upstreams, &metricsv1.UpstreamSecond{Server: u.Server, Attempts: u.Attempts, Errors: u.Errors})
	}
	switch len(ups) {
	case 0:
	case 1:
		if t.upLatency, err = marshalWire(ups[0]); err != nil {
			return t, err
		}
	default:
		up := sketch.New()
		for _, p := range ups {
			us, err := sketch.FromProto(p)
			if err != nil {
				return t, err
			}
			if err := up.Merge(us); err != nil {
				return t, err
			}
		}
		t.upLatency = marshalSketch(up)
	}
	if t.dims, err = proto.Marshal(dims); err != nil {
		return t, err
	}
	return t, nil
}

func marshalWire(p *metricsv1.Sketch) ([]byte, error) {
	if p.GetCount() == 0 {
		return nil, nil
	}
	return proto.Marshal(p)
}

// insertTraffic inserts rows in multi-row statements.
func (s *sqlStore) insertTraffic(ctx context.Context, tx *sql.Tx, rows []trafficRow) error {
	const batch = 200
	one := "(" + strings.TrimSuffix(strings.Repeat("?,", trafficNCols), ",") + ")"
	var full string
	for len(rows) > 0 {
		n := min(batch, len(rows))
		var q string
		if n == batch && full != "" {
			q = full
		} else {
			q = s.d.q("INSERT INTO {p}traffic (" + trafficCols + ") VALUES " + strings.TrimSuffix(strings.Repeat(one+",", n), ","))
			if n == batch {
				full = q
			}
		}
		args := make([]any, 0, n*trafficNCols)
		for i := range n {
			args = append(args, rows[i].args()...)
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("insert traffic: %w", err)
		}
		rows = rows[n:]
	}
	return nil
}

func (s *sqlStore) Ingest(ctx context.Context, nodeID string, r *metricsv1.Report, received time.Time) (bool, error) {
	if err := validateReport(nodeID, r, received); err != nil {
		return false, err
	}
	rows := make([]trafficRow, 0, len(r.Apps))
	for _, a := range r.Apps {
		t, err := rowFromAppSecond(nodeID, r.ClusterId, a)
		if err != nil {
			return false, err
		}
		rows = append(rows, t)
	}
	recvMs := received.UnixMilli()
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.d.q(`INSERT INTO {p}reports (node_id, boot_id, seq, received) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`),
			nodeID, r.BootId, i64(r.Seq), received.Unix())
		if err != nil {
			return fmt.Errorf("insert report key: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return errDup
		}
		if err := s.insertTraffic(ctx, tx, rows); err != nil {
			return err
		}
		for _, smp := range r.System {
			b, err := proto.Marshal(smp)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, s.d.q(`INSERT INTO {p}samples (node_id, ts, sample) VALUES (?, ?, ?)`), nodeID, smp.UnixSecond, b); err != nil {
				return fmt.Errorf("insert sample: %w", err)
			}
		}
		for _, m := range r.Metrics {
			b, err := proto.Marshal(m)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, s.d.q(`INSERT INTO {p}metric_results (metric_id, node_id, window_start, received, result) VALUES (?, ?, ?, ?, ?)`),
				m.MetricId, nodeID, m.WindowStartUnix, received.Unix(), b); err != nil {
				return fmt.Errorf("insert metric result: %w", err)
			}
		}
		if err := s.deriveHealth(ctx, tx, nodeID, r.Servers, received); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.d.q(`INSERT INTO {p}nodes (node_id, cluster_id, last_report) VALUES (?, ?, ?)
			ON CONFLICT (node_id) DO UPDATE SET cluster_id = excluded.cluster_id, last_report = {greatest}({p}nodes.last_report, excluded.last_report)`),
			nodeID, r.ClusterId, recvMs); err != nil {
			return fmt.Errorf("upsert node: %w", err)
		}
		if _, err := tx.ExecContext(ctx, s.d.q(`INSERT INTO {p}boots (node_id, boot_id, dropped, last_seen) VALUES (?, ?, ?, ?)
			ON CONFLICT (node_id, boot_id) DO UPDATE SET dropped = {greatest}({p}boots.dropped, excluded.dropped), last_seen = {greatest}({p}boots.last_seen, excluded.last_seen)`),
			nodeID, r.BootId, i64(r.DroppedReports), received.Unix()); err != nil {
			return fmt.Errorf("upsert boot: %w", err)
		}
		return nil
	})
	if errors.Is(err, errDup) {
		return true, nil
	}
	return false, err
}

type serverKey struct{ app, upstream, server string }
type serverState struct {
	healthy bool
	reason  string
}

// deriveHealth records a change for every server whose health or reason
// differs from what this node said last (or that it names first).
func (s *sqlStore) deriveHealth(ctx context.Context, tx *sql.Tx, nodeID string, servers []*metricsv1.ServerHealth, received time.Time) error {
	if len(servers) == 0 {
		return nil
	}
	if s.lockNode != nil {
		if err := s.lockNode(ctx, tx, nodeID); err != nil {
			return fmt.Errorf("lock node %s: %w", nodeID, err)
		}
	}
	known := map[serverKey]serverState{}
	rows, err := tx.QueryContext(ctx, s.d.q(`SELECT app_id, upstream, server, healthy, reason FROM {p}server_state WHERE node_id = ?`), nodeID)
	if err != nil {
		return fmt.Errorf("read server state: %w", err)
	}
	for rows.Next() {
		var k serverKey
		var st serverState
		var h int
		if err := rows.Scan(&k.app, &k.upstream, &k.server, &h, &st.reason); err != nil {
			rows.Close()
			return err
		}
		st.healthy = h != 0
		known[k] = st
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, sv := range servers {
		k := serverKey{sv.AppId, sv.Upstream, sv.Server}
		st := serverState{sv.Healthy, sv.Reason}
		if old, ok := known[k]; ok && old == st {
			continue
		}
		known[k] = st
		at := received.UnixMilli()
		if sv.SinceUnix > 0 && sv.SinceUnix <= received.Unix() {
			at = sv.SinceUnix * 1000
		}
		h := 0
		if sv.Healthy {
			h = 1
		}
		if _, err := tx.ExecContext(ctx, s.d.q(`INSERT INTO {p}health (ts, node_id, app_id, upstream, server, healthy, reason) VALUES (?, ?, ?, ?, ?, ?, ?)`),
			at, nodeID, k.app, k.upstream, k.server, h, sv.Reason); err != nil {
			return fmt.Errorf("insert health change: %w", err)
		}
		if _, err := tx.ExecContext(ctx, s.d.q(`INSERT INTO {p}server_state (node_id, app_id, upstream, server, healthy, reason) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (node_id, app_id, upstream, server) DO UPDATE SET healthy = excluded.healthy, reason = excluded.reason`),
			nodeID, k.app, k.upstream, k.server, h, sv.Reason); err != nil {
			return fmt.Errorf("upsert server state: %w", err)
		}
	}
	return nil
}

func (s *sqlStore) RecordHealth(ctx context.Context, changes []*metricsv1.HealthChange) error {
	if len(changes) > MaxHealthChanges {
		return invalid("changes", "%d changes, at most %d", len(changes), MaxHealthChanges)
	}
	for i, c := range changes {
		f := fmt.Sprintf("changes[%d]", i)
		if c.GetTime() == nil {
			return invalid(f+".time", "required")
		}
		if err := checkID(f+".node_id", c.NodeId, true); err != nil {
			return err
		}
		if err := checkID(f+".app_id", c.AppId, false); err != nil {
			return err
		}
		for _, n := range []struct{ f, v string }{{".upstream", c.Upstream}, {".server", c.Server}, {".reason", c.Reason}} {
			if err := checkName(f+n.f, n.v); err != nil {
				return err
			}
		}
	}
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		for _, c := range changes {
			h := 0
			if c.Healthy {
				h = 1
			}
			if _, err := tx.ExecContext(ctx, s.d.q(`INSERT INTO {p}health (ts, node_id, app_id, upstream, server, healthy, reason) VALUES (?, ?, ?, ?, ?, ?, ?)`),
				c.Time.AsTime().UnixMilli(), c.NodeId, c.AppId, c.Upstream, c.Server, h, c.Reason); err != nil {
				return fmt.Errorf("insert health change: %w", err)
			}
		}
		return nil
	})
}

func (s *sqlStore) Health(ctx context.Context, q HealthQuery) ([]*metricsv1.HealthChange, error) {
	if err := checkRange(q.Start, q.End); err != nil {
		return nil, err
	}
	limit := q.Limit
	switch {
	case limit == 0:
		limit = defaultHealthRows
	case limit < 0 || limit > MaxHealthLimit:
		return nil, invalid("limit", "%d: between 1 and %d", q.Limit, MaxHealthLimit)
	}
	where, args := "ts >= ? AND ts < ?", []any{q.Start.UnixMilli(), q.End.UnixMilli()}
	if q.AppID != "" {
		where += " AND app_id = ?"
		args = append(args, q.AppID)
	}
	if q.NodeID != "" {
		where += " AND node_id = ?"
		args = append(args, q.NodeID)
	}
	args = append(args, limit)
	rows, err := s.db.QueryContext(ctx, s.d.q(`SELECT ts, node_id, app_id, upstream, server, healthy, reason FROM {p}health WHERE `+where+` ORDER BY ts DESC LIMIT ?`), args...)
	if err != nil {
		return nil, fmt.Errorf("query health: %w", err)
	}
	defer rows.Close()
	var out []*metricsv1.HealthChange
	for rows.Next() {
		var ms int64
		var h int
		c := &metricsv1.HealthChange{}
		if err := rows.Scan(&ms, &c.NodeId, &c.AppId, &c.Upstream, &c.Server, &h, &c.Reason); err != nil {
			return nil, err
		}
		c.Healthy = h != 0
		c.Time = timestamppb.New(time.UnixMilli(ms))
		out = append(out, c)
	}
	return out, rows.Err()
}

// MaxMetricWindows bounds what one MetricResults call returns.
const MaxMetricWindows = 50_000

func (s *sqlStore) MetricResults(ctx context.Context, metricID string, start, end time.Time) ([]*metricsv1.MetricResult, error) {
	if err := checkID("metric_id", metricID, true); err != nil {
		return nil, err
	}
	if err := checkRange(start, end); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, s.d.q(`SELECT result FROM {p}metric_results WHERE metric_id = ? AND window_start >= ? AND window_start < ? ORDER BY window_start, node_id LIMIT ?`),
		metricID, start.Unix(), end.Unix(), MaxMetricWindows+1)
	if err != nil {
		return nil, fmt.Errorf("query metric results: %w", err)
	}
	defer rows.Close()
	var out []*metricsv1.MetricResult
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		m := &metricsv1.MetricResult{}
		if err := proto.Unmarshal(b, m); err != nil {
			return nil, fmt.Errorf("stored metric result: %w", err)
		}
		out = append(out, m)
	}
	if len(out) > MaxMetricWindows {
		return nil, invalid("start", "more than %d windows in the range; narrow it", MaxMetricWindows)
	}
	return out, rows.Err()
}

func (s *sqlStore) NodeStats(ctx context.Context, nodeID string, start, end time.Time, step time.Duration) (*metricsv1.GetNodeStatsResponse, error) {
	if err := checkID("node_id", nodeID, true); err != nil {
		return nil, err
	}
	if err := checkRange(start, end); err != nil {
		return nil, err
	}
	stepS, err := pickStep(start, end, step, 1)
	if err != nil {
		return nil, err
	}
	out := &metricsv1.GetNodeStatsResponse{}
	var last sql.NullInt64
	if err := s.db.QueryRowContext(ctx, s.d.q(`SELECT last_report FROM {p}nodes WHERE node_id = ?`), nodeID).Scan(&last); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("query node: %w", err)
	}
	if last.Valid {
		out.LastReport = timestamppb.New(time.UnixMilli(last.Int64))
	}
	var dropped int64
	if err := s.db.QueryRowContext(ctx, s.d.q(`SELECT CAST(COALESCE(SUM(dropped), 0) AS BIGINT) FROM {p}boots WHERE node_id = ?`), nodeID).Scan(&dropped); err != nil {
		return nil, fmt.Errorf("query dropped reports: %w", err)
	}
	out.DroppedReports = uint64(dropped)
	rows, err := s.db.QueryContext(ctx, s.d.q(`SELECT ts, sample FROM {p}samples WHERE node_id = ? AND ts >= ? AND ts < ? ORDER BY ts`), nodeID, start.Unix(), end.Unix())
	if err != nil {
		return nil, fmt.Errorf("query samples: %w", err)
	}
	defer rows.Close()
	var cur []byte
	curBucket := int64(math.MinInt64)
	flush := func() error {
		if cur == nil {
			return nil
		}
		smp := &metricsv1.SystemSample{}
		if err := proto.Unmarshal(cur, smp); err != nil {
			return fmt.Errorf("stored sample: %w", err)
		}
		out.Samples = append(out.Samples, smp)
		return nil
	}
	for rows.Next() {
		var ts int64
		var b []byte
		if err := rows.Scan(&ts, &b); err != nil {
			return nil, err
		}
		if bk := ts / stepS; bk != curBucket {
			if err := flush(); err != nil {
				return nil, err
			}
			curBucket = bk
		}
		cur = b // the last sample of each step
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}

// pickStep returns the step in seconds: a multiple of res, about
// targetPoints points for step 0, at most MaxPoints points.
func pickStep(start, end time.Time, step time.Duration, res int64) (int64, error) {
	span := end.Unix() - start.Unix()
	if span <= 0 {
		span = 1
	}
	var st int64
	switch {
	case step < 0:
		return 0, invalid("step", "%v is negative", step)
	case step == 0:
		st = (span + targetPoints - 1) / targetPoints
	default:
		st = int64((step + time.Second - 1) / time.Second)
	}
	st = max(res, (st+res-1)/res*res)
	if pts := (span + st - 1) / st; pts > MaxPoints {
		return 0, invalid("step", "%ds gives %d points, at most %d", st, pts, MaxPoints)
	}
	return st, nil
}

func (s *sqlStore) meta(ctx context.Context, name string) (int64, error) {
	var v int64
	err := s.db.QueryRowContext(ctx, s.d.q(`SELECT value FROM {p}meta WHERE name = ?`), name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return v, err
}

// resolution picks the finest resolution that still holds start: 1 s rows
// before the first compaction cutoff (rolled_1) are gone into 1 min rows.
func (s *sqlStore) resolution(ctx context.Context, start time.Time) (int64, error) {
	r1, err := s.meta(ctx, "rolled_1")
	if err != nil {
		return 0, err
	}
	r60, err := s.meta(ctx, "rolled_60")
	if err != nil {
		return 0, err
	}
	switch t := start.Unix(); {
	case t >= r1:
		return resSecond, nil
	case t >= r60:
		return resMinute, nil
	default:
		return resHour, nil
	}
}

var countCols = map[string]string{
	"requests": "requests", "status_1xx": "s1xx", "status_2xx": "s2xx", "status_3xx": "s3xx", "status_4xx": "s4xx", "status_5xx": "s5xx",
	"bytes_in": "bytes_in", "bytes_out": "bytes_out", "upstream_errors": "upstream_errors",
}

var quantileCols = map[string]struct {
	col string
	q   float64
}{
	"latency_p50": {"latency", 0.5}, "latency_p90": {"latency", 0.9}, "latency_p99": {"latency", 0.99}, "latency_p999": {"latency", 0.999},
	"upstream_latency_p99": {"upstream_latency", 0.99},
}

func (s *sqlStore) Series(ctx context.Context, q SeriesQuery) (*metricsv1.QuerySeriesResponse, error) {
	if err := checkID("app_id", q.AppID, true); err != nil {
		return nil, err
	}
	if err := checkID("node_id", q.NodeID, false); err != nil {
		return nil, err
	}
	if err := checkID("cluster_id", q.ClusterID, false); err != nil {
		return nil, err
	}
	_, isCount := countCols[q.Series]
	_, isQuantile := quantileCols[q.Series]
	if !isCount && !isQuantile && q.Series != "cache_hit_ratio" {
		return nil, invalid("series", "unknown series %q: one of %s", q.Series, strings.Join(seriesNames, ", "))
	}
	if err := checkRange(q.Start, q.End); err != nil {
		return nil, err
	}
	res, err := s.resolution(ctx, q.Start)
	if err != nil {
		return nil, err
	}
	step, err := pickStep(q.Start, q.End, q.Step, res)
	if err != nil {
		return nil, err
	}
	from := q.Start.Unix() / step * step
	if q.Start.Unix() < 0 && q.Start.Unix()%step != 0 {
		from -= step
	}
	to := q.End.Unix()
	if q.End.Nanosecond() > 0 {
		to++
	}
	n := (to - from + step - 1) / step
	if n > MaxPoints {
		return nil, invalid("step", "%ds gives %d points, at most %d", step, n, MaxPoints)
	}
	out := &metricsv1.QuerySeriesResponse{Series: q.Series, StepSeconds: uint32(step), ResolutionSeconds: uint32(res)}
	vals := make([]float64, n)
	where, args := "app_id = ? AND ts >= ? AND ts < ?", []any{q.AppID, from, to}
	if q.NodeID != "" {
		where += " AND node_id = ?"
		args = append(args, q.NodeID)
	}
	if q.ClusterID != "" {
		where += " AND cluster_id = ?"
		args = append(args, q.ClusterID)
	}
	bucket := fmt.Sprintf("(ts - %d) / %d", from, step) // integers the store computed, not input text
	switch {
	case isCount:
		rows, err := s.db.QueryContext(ctx, s.d.q(`SELECT `+bucket+` AS b, CAST(SUM(`+countCols[q.Series]+`) AS BIGINT) FROM {p}traffic WHERE `+where+` GROUP BY b`), args...)
		if err != nil {
			return nil, fmt.Errorf("query series: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var b, v int64
			if err := rows.Scan(&b, &v); err != nil {
				return nil, err
			}
			if b >= 0 && b < n {
				vals[b] = float64(v)
			}
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	case q.Series == "cache_hit_ratio":
		rows, err := s.db.QueryContext(ctx, s.d.q(`SELECT `+bucket+` AS b, CAST(SUM(cache_hits) AS BIGINT), CAST(SUM(cache_total) AS BIGINT) FROM {p}traffic WHERE `+where+` GROUP BY b`), args...)
		if err != nil {
			return nil, fmt.Errorf("query series: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var b, hits, total int64
			if err := rows.Scan(&b, &hits, &total); err != nil {
				return nil, err
			}
			if b >= 0 && b < n && total > 0 {
				vals[b] = float64(hits) / float64(total)
			}
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	default:
		qc := quantileCols[q.Series]
		acc := make([]sketchAcc, n)
		rows, err := s.db.QueryContext(ctx, s.d.q(`SELECT ts, `+qc.col+` FROM {p}traffic WHERE `+where+` AND `+qc.col+` IS NOT NULL`), args...)
		if err != nil {
			return nil, fmt.Errorf("query series: %w", err)
		}
		defer rows.Close()
		var b []byte
		for rows.Next() {
			var ts int64
			if err := rows.Scan(&ts, &b); err != nil {
				return nil, err
			}
			if i := (ts - from) / step; i >= 0 && i < n {
				if err := acc[i].addBytes(b); err != nil {
					return nil, err
				}
			}
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
		for i := range acc {
			vals[i] = acc[i].quantile(qc.q)
		}
	}
	out.Points = make([]*metricsv1.Point, n)
	for i := range n {
		out.Points[i] = &metricsv1.Point{UnixSecond: from + i*step, Value: vals[i]}
	}
	return out, nil
}

func (s *sqlStore) Top(ctx context.Context, q TopQuery) (*metricsv1.QueryTopResponse, error) {
	if err := checkID("app_id", q.AppID, true); err != nil {
		return nil, err
	}
	if !slices.Contains(TopBy(), q.By) {
		return nil, invalid("by", "unknown split %q: one of %s", q.By, strings.Join(TopBy(), ", "))
	}
	if err := checkRange(q.Start, q.End); err != nil {
		return nil, err
	}
	limit := q.Limit
	switch {
	case limit == 0:
		limit = defaultTopLimit
	case limit < 0 || limit > MaxTopLimit:
		return nil, invalid("limit", "%d: between 1 and %d", q.Limit, MaxTopLimit)
	}
	from, to := q.Start.Unix(), q.End.Unix()
	if q.End.Nanosecond() > 0 {
		to++
	}
	out := &metricsv1.QueryTopResponse{By: q.By}
	var total int64
	if err := s.db.QueryRowContext(ctx, s.d.q(`SELECT CAST(COALESCE(SUM(requests), 0) AS BIGINT) FROM {p}traffic WHERE app_id = ? AND ts >= ? AND ts < ?`),
		q.AppID, from, to).Scan(&total); err != nil {
		return nil, fmt.Errorf("query total: %w", err)
	}
	out.Total = uint64(total)
	if q.By == "node" {
		rows, err := s.db.QueryContext(ctx, s.d.q(`SELECT node_id, CAST(SUM(requests) AS BIGINT) AS r, CAST(SUM(s5xx) AS BIGINT) FROM {p}traffic
			WHERE app_id = ? AND ts >= ? AND ts < ? GROUP BY node_id ORDER BY r DESC, node_id LIMIT ?`), q.AppID, from, to, limit)
		if err != nil {
			return nil, fmt.Errorf("query top: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var name string
			var r, e int64
			if err := rows.Scan(&name, &r, &e); err != nil {
				return nil, err
			}
			out.Rows = append(out.Rows, &metricsv1.TopRow{Name: name, Requests: uint64(r), Errors: uint64(e)})
		}
		return out, rows.Err()
	}
	rows, err := s.db.QueryContext(ctx, s.d.q(`SELECT dims FROM {p}traffic WHERE app_id = ? AND ts >= ? AND ts < ? AND dims IS NOT NULL`), q.AppID, from, to)
	if err != nil {
		return nil, fmt.Errorf("query top: %w", err)
	}
	defer rows.Close()
	acc := map[string]*metricsv1.TopRow{}
	add := func(name string, n, errBound, errors uint64) {
		r := acc[name]
		if r == nil {
			r = &metricsv1.TopRow{Name: name}
			acc[name] = r
		}
		r.Requests += n
		r.Error += errBound
		r.Errors += errors
	}
	var d metricsv1.AppSecond
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		d.Reset()
		if err := proto.Unmarshal(b, &d); err != nil {
			return nil, fmt.Errorf("stored dims: %w", err)
		}
		switch q.By {
		case "status":
			for _, c := range d.Status {
				var e uint64
				if c.Code >= 500 {
					e = c.Count
				}
				add(strconv.Itoa(int(c.Code)), c.Count, 0, e)
			}
		case "path":
			for _, p := range d.Paths {
				add(p.Name, p.Count, p.Error, 0)
			}
		case "cache":
			for _, c := range d.Cache {
				add(c.Name, c.Count, 0, 0)
			}
		case "upstream":
			for _, u := range d.Upstreams {
				var e uint64
				for _, x := range u.Errors {
					e += x.Count
				}
				add(u.Server, u.Attempts, 0, e)
			}
		case "waf_rule":
			for _, w := range d.WafRules {
				add(w.RuleId, w.Count, 0, 0)
				switch w.Action {
				case "blocked":
					acc[w.RuleId].Blocked += w.Count
				case "challenged":
					acc[w.RuleId].Challenged += w.Count
				}
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, r := range acc {
		out.Rows = append(out.Rows, r)
	}
	slices.SortFunc(out.Rows, func(a, b *metricsv1.TopRow) int {
		if a.Requests != b.Requests {
			if a.Requests > b.Requests {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	if len(out.Rows) > limit {
		out.Rows = out.Rows[:limit]
	}
	return out, nil
}

func (s *sqlStore) Close() error { return s.db.Close() }

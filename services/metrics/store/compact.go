package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
)

// Compact rolls 1 s rows older than Retention.Second into 1 min rows and
// 1 min rows older than Retention.Minute into 1 h rows (counts add,
// sketches merge, the split dimensions add), then deletes 1 h rows older
// than Retention.Hour and samples, metric results, health changes and
// dedup keys older than Retention.Minute.
//
// Each roll-up step deletes its source rows with DELETE ... RETURNING and
// writes their aggregate in the same transaction, so a row is rolled
// exactly once however many compactions run and whatever Ingest does
// meanwhile; a late row lands at 1 s and is rolled by the next run.
func (s *sqlStore) Compact(ctx context.Context, now time.Time) error {
	cut1 := floorTo(now.Add(-s.ret.Second).Unix(), resMinute)
	if err := s.rollup(ctx, resSecond, resMinute, cut1); err != nil {
		return err
	}
	cut60 := floorTo(now.Add(-s.ret.Minute).Unix(), resHour)
	if err := s.rollup(ctx, resMinute, resHour, cut60); err != nil {
		return err
	}
	hourCut := now.Add(-s.ret.Hour).Unix()
	minCut := now.Add(-s.ret.Minute)
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := s.lockTx(ctx, tx); err != nil {
			return err
		}
		for _, st := range []struct {
			sql string
			arg any
		}{
			{`DELETE FROM {p}traffic WHERE res = 3600 AND ts < ?`, hourCut},
			{`DELETE FROM {p}traffic WHERE res < 3600 AND ts < ?`, hourCut}, // late rows past every retention
			{`DELETE FROM {p}samples WHERE ts < ?`, minCut.Unix()},
			{`DELETE FROM {p}metric_results WHERE window_start < ?`, minCut.Unix()},
			{`DELETE FROM {p}health WHERE ts < ?`, minCut.UnixMilli()},
			{`DELETE FROM {p}reports WHERE received < ?`, minCut.Unix()},
			{`DELETE FROM {p}boots WHERE last_seen < ?`, minCut.Unix()},
		} {
			if _, err := tx.ExecContext(ctx, s.d.q(st.sql), st.arg); err != nil {
				return fmt.Errorf("compact: %w", err)
			}
		}
		return nil
	})
}

func floorTo(t, res int64) int64 {
	if t < 0 {
		return 0
	}
	return t / res * res
}

// rollup moves rows of resolution from older than cutoff into rows of
// resolution to, one target bucket per transaction (bounded memory), and
// then records the cutoff (the resolution Series reads for old ranges).
func (s *sqlStore) rollup(ctx context.Context, from, to, cutoff int64) error {
	for {
		var oldest sql.NullInt64
		if err := s.db.QueryRowContext(ctx, s.d.q(`SELECT MIN(ts) FROM {p}traffic WHERE res = ? AND ts < ?`), from, cutoff).Scan(&oldest); err != nil {
			return fmt.Errorf("compact: %w", err)
		}
		if !oldest.Valid {
			break
		}
		lo := floorTo(oldest.Int64, to)
		hi := min(lo+to, cutoff)
		err := s.writeTx(ctx, func(tx *sql.Tx) error {
			if err := s.lockTx(ctx, tx); err != nil {
				return err
			}
			rows, err := tx.QueryContext(ctx, s.d.q(`DELETE FROM {p}traffic WHERE res = ? AND ts >= ? AND ts < ? RETURNING `+trafficCols), from, lo, hi)
			if err != nil {
				return fmt.Errorf("compact: %w", err)
			}
			groups := map[groupKey]*rollRow{}
			for rows.Next() {
				var t trafficRow
				if err := t.scan(rows); err != nil {
					rows.Close()
					return err
				}
				k := groupKey{t.app, t.node, t.cluster, floorTo(t.ts, int64(to))}
				g := groups[k]
				if g == nil {
					g = newRollRow()
					groups[k] = g
				}
				if err := g.add(&t); err != nil {
					rows.Close()
					return fmt.Errorf("compact row of %s at %d: %w", t.app, t.ts, err)
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			out := make([]trafficRow, 0, len(groups))
			for k, g := range groups {
				t, err := g.row(int(to), k)
				if err != nil {
					return err
				}
				out = append(out, t)
			}
			return s.insertTraffic(ctx, tx, out)
		})
		if err != nil {
			return err
		}
	}
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.d.q(`INSERT INTO {p}meta (name, value) VALUES (?, ?)
			ON CONFLICT (name) DO UPDATE SET value = {greatest}({p}meta.value, excluded.value)`), fmt.Sprintf("rolled_%d", from), cutoff)
		return err
	})
}

type groupKey struct {
	app, node, cluster string
	ts                 int64
}

// rollRow accumulates rows into one of a coarser resolution.
type rollRow struct {
	t          trafficRow
	lat, upLat sketchAcc
	status     map[uint32]uint64
	cache      map[string]uint64
	paths      map[string][2]uint64 // count, error
	upErrs     map[string]uint64
	upstreams  map[string]*upAcc
	waf        map[wafKey]uint64
}

type wafKey struct{ rule, action string }

type upAcc struct {
	attempts uint64
	errors   map[string]uint64
}

func newRollRow() *rollRow {
	return &rollRow{status: map[uint32]uint64{}, cache: map[string]uint64{},
		paths: map[string][2]uint64{}, upErrs: map[string]uint64{}, upstreams: map[string]*upAcc{}, waf: map[wafKey]uint64{}}
}

func (g *rollRow) add(t *trafficRow) error {
	g.t.requests += t.requests
	for i := range g.t.status {
		g.t.status[i] += t.status[i]
	}
	g.t.bytesIn += t.bytesIn
	g.t.bytesOut += t.bytesOut
	g.t.upErrors += t.upErrors
	g.t.cacheHits += t.cacheHits
	g.t.cache += t.cache
	g.t.waf += t.waf
	if err := g.lat.addBytes(t.latency); err != nil {
		return err
	}
	if err := g.upLat.addBytes(t.upLatency); err != nil {
		return err
	}
	if len(t.dims) == 0 {
		return nil
	}
	var d metricsv1.AppSecond
	if err := proto.Unmarshal(t.dims, &d); err != nil {
		return fmt.Errorf("stored dims: %w", err)
	}
	for _, c := range d.Status {
		g.status[c.Code] += c.Count
	}
	for _, c := range d.Cache {
		g.cache[c.Name] += c.Count
	}
	for _, p := range d.Paths {
		v := g.paths[p.Name]
		g.paths[p.Name] = [2]uint64{v[0] + p.Count, v[1] + p.Error}
	}
	for _, e := range d.UpstreamErrors {
		g.upErrs[e.Name] += e.Count
	}
	for _, w := range d.WafRules {
		g.waf[wafKey{w.RuleId, w.Action}] += w.Count
	}
	for _, u := range d.Upstreams {
		a := g.upstreams[u.Server]
		if a == nil {
			a = &upAcc{errors: map[string]uint64{}}
			g.upstreams[u.Server] = a
		}
		a.attempts += u.Attempts
		for _, e := range u.Errors {
			a.errors[e.Name] += e.Count
		}
	}
	return nil
}

func nameCounts(m map[string]uint64) []*metricsv1.NameCount {
	out := make([]*metricsv1.NameCount, 0, len(m))
	for n, c := range m {
		out = append(out, &metricsv1.NameCount{Name: n, Count: c})
	}
	slices.SortFunc(out, func(a, b *metricsv1.NameCount) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (g *rollRow) row(res int, k groupKey) (trafficRow, error) {
	t := g.t
	t.res, t.ts, t.app, t.node, t.cluster = res, k.ts, k.app, k.node, k.cluster
	var err error
	if t.latency, err = g.lat.bytes(); err != nil {
		return t, err
	}
	if t.upLatency, err = g.upLat.bytes(); err != nil {
		return t, err
	}
	d := &metricsv1.AppSecond{Cache: nameCounts(g.cache), UpstreamErrors: nameCounts(g.upErrs)}
	for c, n := range g.status {
		d.Status = append(d.Status, &metricsv1.CodeCount{Code: c, Count: n})
	}
	slices.SortFunc(d.Status, func(a, b *metricsv1.CodeCount) int { return cmp.Compare(a.Code, b.Code) })
	for n, v := range g.paths {
		d.Paths = append(d.Paths, &metricsv1.NameCount{Name: n, Count: v[0], Error: v[1]})
	}
	// Keep the largest paths: the union of many seconds' top-k lists is
	// bounded again here (a dropped path loses its counts in this row).
	slices.SortFunc(d.Paths, func(a, b *metricsv1.NameCount) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	if len(d.Paths) > pathsKeptPerRow {
		d.Paths = d.Paths[:pathsKeptPerRow]
	}
	for srv, a := range g.upstreams {
		d.Upstreams = append(d.Upstreams, &metricsv1.UpstreamSecond{Server: srv, Attempts: a.attempts, Errors: nameCounts(a.errors)})
	}
	slices.SortFunc(d.Upstreams, func(a, b *metricsv1.UpstreamSecond) int { return strings.Compare(a.Server, b.Server) })
	d.WafRules = wafRules(g.waf)
	t.dims, err = proto.Marshal(d)
	return t, err
}

// wafRulesKeptPerRow bounds a rolled-up row's WAF rule counts: the largest
// are kept, the rest added to rule "other" of their action (totals stay
// exact).
const wafRulesKeptPerRow = 256

func wafRules(m map[wafKey]uint64) []*metricsv1.WafRuleCount {
	out := make([]*metricsv1.WafRuleCount, 0, len(m))
	for k, n := range m {
		out = append(out, &metricsv1.WafRuleCount{RuleId: k.rule, Action: k.action, Count: n})
	}
	slices.SortFunc(out, func(a, b *metricsv1.WafRuleCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.RuleId, b.RuleId), strings.Compare(a.Action, b.Action))
	})
	if len(out) <= wafRulesKeptPerRow {
		return out
	}
	other := map[string]uint64{}
	for _, r := range out[wafRulesKeptPerRow-len(WAFActions):] {
		other[r.Action] += r.Count
	}
	out = out[:wafRulesKeptPerRow-len(WAFActions)]
	for _, a := range WAFActions {
		if n := other[a]; n > 0 {
			out = append(out, &metricsv1.WafRuleCount{RuleId: "other", Action: a, Count: n})
		}
	}
	return out
}

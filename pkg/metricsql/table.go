package metricsql

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strconv"

	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
	"github.com/strata-edge/strata/pkg/sketch"
)

// OtherValue is the text of the GROUP BY columns in the other row
// (ResultRow.other tells it from a group of that name).
const OtherValue = "(other)"

// merged is one group merged over results.
type merged struct {
	keys  []string
	other bool
	err   uint64
	aggs  []aggState
	// topMin sums the smallest count of the top-N results that hold this
	// group (see Table).
	topMin uint64
	vals   []string
	nums   []float64
}

// Table merges the results of nodes and windows (the same definition
// version: the shape is checked) into the final table: counts and sums
// add exactly, quantiles merge their sketches, then ORDER BY and LIMIT
// apply and values are formatted. The other row, if any, comes last.
func (q *Query) Table(results []*metricsv1.MetricResult) (*metricsv1.QueryMetricResponse, error) {
	resp := &metricsv1.QueryMetricResponse{Columns: q.Columns(), Windows: uint64(len(results))}
	groups := map[string]*merged{}
	var other *merged
	// Space-saving: a group missing from a summary that dropped groups may
	// have had up to that summary's smallest count there; add it to the
	// estimate and the error (the mergeable-summaries bound).
	var topMinSum uint64
	var key []byte
	for ri, res := range results {
		var resMin uint64
		evicted := false
		for _, row := range res.GetRows() {
			if err := q.checkRow(row); err != nil {
				return nil, fmt.Errorf("result %d (metric %s, window %d): %w", ri, res.GetMetricId(), res.GetWindowStartUnix(), err)
			}
			var m *merged
			if row.GetOther() {
				evicted = true
				if other == nil {
					other = q.newMerged(nil)
					other.other = true
				}
				m = other
			} else {
				key = key[:0]
				for _, k := range row.GetKeys() {
					key = binary.AppendUvarint(key, uint64(len(k)))
					key = append(key, k...)
				}
				m = groups[string(key)]
				if m == nil {
					m = q.newMerged(row.GetKeys())
					groups[string(key)] = m
				}
				if n := q.rowCount(row); resMin == 0 || n < resMin {
					resMin = n
				}
			}
			m.err += row.GetError()
			for i, st := range row.GetAggs() {
				s := aggState{count: st.GetCount(), sum: st.GetSum(), min: st.GetMin(), max: st.GetMax()}
				if q.aggs[i].fn == aggQuantile {
					sk, err := sketch.FromProto(st.GetSketch())
					if err != nil {
						return nil, fmt.Errorf("result %d (metric %s): aggregate %d: %w", ri, res.GetMetricId(), i, err)
					}
					if sk.Accuracy() != sketch.DefaultAccuracy && sk.Count() > 0 {
						return nil, fmt.Errorf("result %d (metric %s): aggregate %d: sketch accuracy %v, want %v", ri, res.GetMetricId(), i, sk.Accuracy(), sketch.DefaultAccuracy)
					}
					s.sk = sk
				}
				mergeState(&m.aggs[i], &s)
			}
		}
		resp.Overflow += res.GetOverflow()
		if q.topN && evicted {
			topMinSum += resMin
			for _, row := range res.GetRows() {
				if row.GetOther() {
					continue
				}
				key = key[:0]
				for _, k := range row.GetKeys() {
					key = binary.AppendUvarint(key, uint64(len(k)))
					key = append(key, k...)
				}
				groups[string(key)].topMin += resMin
			}
		}
	}
	if len(q.groups) == 0 && len(groups) == 0 {
		// Like SQL: without GROUP BY there is one row, 0 when nothing matched.
		groups[""] = q.newMerged([]string{})
	}
	rows := make([]*merged, 0, len(groups))
	for _, m := range groups {
		if m.topMin < topMinSum {
			extra := topMinSum - m.topMin
			m.err += extra
			for i, ag := range q.aggs {
				if ag.fn == aggCountStar {
					m.aggs[i].count += extra
				}
			}
		}
		q.format(m)
		rows = append(rows, m)
	}
	slices.SortFunc(rows, q.compare)
	if q.limit > 0 && len(rows) > q.limit {
		rows = rows[:q.limit]
	}
	for _, m := range rows {
		resp.Rows = append(resp.Rows, &metricsv1.ResultRow{Values: m.vals})
	}
	if other != nil {
		q.format(other)
		resp.Rows = append(resp.Rows, &metricsv1.ResultRow{Values: other.vals, Other: true})
	}
	return resp, nil
}

func (q *Query) newMerged(keys []string) *merged {
	m := &merged{keys: keys, aggs: make([]aggState, len(q.aggs))}
	for i, ag := range q.aggs {
		if ag.fn == aggQuantile {
			m.aggs[i].sk = sketch.New()
		}
	}
	return m
}

// rowCount is a row's request count: its count(*) if it has one.
func (q *Query) rowCount(row *metricsv1.MetricRow) uint64 {
	for i, ag := range q.aggs {
		if ag.fn == aggCountStar {
			return row.GetAggs()[i].GetCount()
		}
	}
	return 0
}

// checkRow checks a row has the query's shape (a result of another
// definition version may not).
func (q *Query) checkRow(row *metricsv1.MetricRow) error {
	if len(row.GetAggs()) != len(q.aggs) {
		return fmt.Errorf("row has %d aggregates, the query %d", len(row.GetAggs()), len(q.aggs))
	}
	if !row.GetOther() && len(row.GetKeys()) != len(q.groups) {
		return fmt.Errorf("row has %d keys, the query groups by %d", len(row.GetKeys()), len(q.groups))
	}
	return nil
}

// format fills m's output values and the numbers ORDER BY compares.
func (q *Query) format(m *merged) {
	m.vals = make([]string, len(q.outputs))
	m.nums = make([]float64, len(q.outputs))
	for i, o := range q.outputs {
		if !o.agg {
			if m.other {
				m.vals[i] = OtherValue
				continue
			}
			m.vals[i] = m.keys[o.idx]
			if q.groups[o.idx].kind == kindNumber {
				m.nums[i], _ = strconv.ParseFloat(m.vals[i], 64)
			}
			continue
		}
		s := &m.aggs[o.idx]
		v, ok := value(q.aggs[o.idx], s)
		m.nums[i] = v
		switch {
		case !ok:
			m.vals[i] = "" // NULL: no values
			m.nums[i] = math.Inf(-1)
		case q.aggs[o.idx].fn == aggCountStar || q.aggs[o.idx].fn == aggCount:
			m.vals[i] = strconv.FormatUint(s.count, 10)
		default:
			m.vals[i] = formatNumber(v)
		}
	}
}

// value is an aggregate's final value; false when it is NULL (no values).
func value(ag aggregate, s *aggState) (float64, bool) {
	switch ag.fn {
	case aggCountStar, aggCount:
		return float64(s.count), true
	}
	if s.count == 0 {
		return 0, false
	}
	switch ag.fn {
	case aggSum:
		return s.sum, true
	case aggAvg:
		return s.sum / float64(s.count), true
	case aggMin:
		return s.min, true
	case aggMax:
		return s.max, true
	default:
		return s.sk.Quantile(ag.q), true
	}
}

// formatNumber writes at most 3 decimals: latencies in ms need no more.
func formatNumber(v float64) string {
	if math.Abs(v) < 1e15 {
		v = math.Round(v*1000) / 1000
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// compare orders rows by ORDER BY, then by their keys, so that a table is
// deterministic.
func (q *Query) compare(a, b *merged) int {
	for _, o := range q.order {
		c := 0
		out := q.outputs[o.out]
		if out.agg || q.groups[out.idx].kind == kindNumber {
			switch x, y := a.nums[o.out], b.nums[o.out]; {
			case x < y:
				c = -1
			case x > y:
				c = 1
			}
		} else {
			c = compareStrings(a.vals[o.out], b.vals[o.out])
		}
		if o.desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return slices.Compare(a.keys, b.keys)
}

package metricsql

import (
	"encoding/binary"
	"math"
	"slices"
	"time"

	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
	"github.com/strata-edge/strata/pkg/sketch"
)

// Limits bound an aggregator's memory.
type Limits struct {
	// MaxGroups caps the groups of one window; 0 means DefaultMaxGroups.
	// Requests of further groups are counted in one "other" row, or, for
	// ORDER BY count(*) DESC LIMIT N, replace the smallest group
	// (space-saving), so memory never grows beyond the cap.
	MaxGroups int
}

// Aggregator is the streaming state of one Query on one node for one
// window. Not safe for concurrent use.
type Aggregator struct {
	q      *Query
	max    int
	ctx    evalCtx
	key    []byte
	groups map[string]*group
	other  *group // nil until a group does not fit
	// overflow counts the requests in other.
	overflow uint64
	// heap orders groups by n, smallest first, once a top-N aggregator is
	// full (nil before).
	heap []*group
	free []*group // reset groups of earlier windows, for reuse
}

// group is the state of one group.
type group struct {
	key  string   // encoded keys, the map key
	keys []string // the GROUP BY values, substrings of key
	// n is the group's request count; in top-N mode it includes err, the
	// count inherited from the group it replaced (space-saving).
	n    uint64
	err  uint64
	aggs []aggState
	hidx int
}

type aggState struct {
	count         uint64
	sum, min, max float64
	sk            *sketch.Sketch
}

// NewAggregator returns an empty aggregator of q.
func (q *Query) NewAggregator(l Limits) *Aggregator {
	max := l.MaxGroups
	if max <= 0 {
		max = DefaultMaxGroups
	}
	return &Aggregator{q: q, max: max, groups: make(map[string]*group)}
}

// Add counts one request. It copies what it keeps; an existing group costs
// no allocation.
func (a *Aggregator) Add(r *Request) {
	q := a.q
	if q.where != nil && !q.where(r, &a.ctx) {
		return
	}
	key := a.key[:0]
	for _, col := range q.groups {
		if col.str != nil {
			s := col.str(r)
			key = binary.AppendUvarint(key, uint64(len(s)))
			key = append(key, s...)
			continue
		}
		a.ctx.buf = col.app(a.ctx.buf[:0], r)
		key = binary.AppendUvarint(key, uint64(len(a.ctx.buf)))
		key = append(key, a.ctx.buf...)
	}
	a.key = key
	g, ok := a.groups[string(key)]
	if !ok {
		g = a.newGroup(key)
	}
	g.n++
	for i := range q.aggs {
		q.aggs[i].add(&g.aggs[i], r)
	}
	if a.heap != nil && g != a.other {
		a.down(g.hidx)
	}
}

func (ag *aggregate) add(s *aggState, r *Request) {
	switch ag.fn {
	case aggCountStar:
		s.count++
		return
	case aggCount:
		if ag.col.optional && isNullValue(ag.col, r) {
			return
		}
		s.count++
		return
	}
	v := ag.col.num(r)
	if math.IsNaN(v) {
		return
	}
	if s.count == 0 || v < s.min {
		s.min = v
	}
	if s.count == 0 || v > s.max {
		s.max = v
	}
	s.count++
	s.sum += v
	if s.sk != nil {
		s.sk.Add(v)
	}
}

func isNullValue(col *column, r *Request) bool {
	switch {
	case col.kind == kindNumber:
		return col.num(r) == 0
	case col.str == nil:
		return !r.ClientIP.IsValid()
	}
	return col.str(r) == ""
}

// newGroup makes room for the group of key: a new group under the cap,
// else the other row, or in top-N mode the smallest group, taken over.
func (a *Aggregator) newGroup(key []byte) *group {
	if len(a.groups) < a.max {
		g := a.alloc()
		a.setKey(g, key)
		a.groups[g.key] = g
		return g
	}
	if !a.q.topN {
		return a.otherRow()
	}
	if a.heap == nil {
		a.heap = make([]*group, 0, len(a.groups))
		for _, g := range a.groups {
			g.hidx = len(a.heap)
			a.heap = append(a.heap, g)
		}
		for i := len(a.heap)/2 - 1; i >= 0; i-- {
			a.down(i)
		}
	}
	// Space-saving (Metwally et al. 2005): the new key takes over the
	// smallest counter; its count may exceed its true count by err.
	min := a.heap[0]
	o := a.otherRow()
	for i := range o.aggs {
		mergeState(&o.aggs[i], &min.aggs[i])
	}
	own := min.n - min.err
	o.n += own
	a.overflow += own
	delete(a.groups, min.key)
	resetStates(min.aggs)
	a.setKey(min, key)
	min.err = min.n // Add adds this request to n
	a.groups[min.key] = min
	return min
}

// otherRow returns the other row; beyond the cap (not top-N) it counts
// the request about to be added as overflowing.
func (a *Aggregator) otherRow() *group {
	if a.other == nil {
		a.other = a.alloc()
	}
	if !a.q.topN {
		a.overflow++
	}
	return a.other
}

func (a *Aggregator) alloc() *group {
	if n := len(a.free); n > 0 {
		g := a.free[n-1]
		a.free = a.free[:n-1]
		return g
	}
	g := &group{aggs: make([]aggState, len(a.q.aggs))}
	for i, ag := range a.q.aggs {
		if ag.fn == aggQuantile {
			g.aggs[i].sk = sketch.New()
		}
	}
	return g
}

func (a *Aggregator) setKey(g *group, key []byte) {
	g.key = string(key)
	g.keys = g.keys[:0]
	for rest := g.key; len(rest) > 0; {
		n, w := binary.Uvarint([]byte(rest[:min(len(rest), binary.MaxVarintLen64)]))
		rest = rest[w:]
		g.keys = append(g.keys, rest[:n])
		rest = rest[n:]
	}
	for len(g.keys) < len(a.q.groups) {
		g.keys = append(g.keys, "")
	}
}

func resetStates(s []aggState) {
	for i := range s {
		sk := s[i].sk
		if sk != nil {
			sk.Reset()
		}
		s[i] = aggState{sk: sk}
	}
}

func mergeState(dst, src *aggState) {
	if src.count == 0 {
		return
	}
	if dst.count == 0 || src.min < dst.min {
		dst.min = src.min
	}
	if dst.count == 0 || src.max > dst.max {
		dst.max = src.max
	}
	dst.count += src.count
	dst.sum += src.sum
	if dst.sk != nil && src.sk != nil {
		_ = dst.sk.Merge(src.sk) // one accuracy: sketch.New
	}
}

// down restores the heap below i after heap[i].n grew.
func (a *Aggregator) down(i int) {
	h := a.heap
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		c := l
		if r := l + 1; r < len(h) && h[r].n < h[l].n {
			c = r
		}
		if h[i].n <= h[c].n {
			return
		}
		h[i], h[c] = h[c], h[i]
		h[i].hidx, h[c].hidx = i, c
		i = c
	}
}

// Groups is the number of groups held (not counting the other row).
func (a *Aggregator) Groups() int { return len(a.groups) }

// Flush returns the window's mergeable state and empties the aggregator,
// keeping its memory for the next window.
func (a *Aggregator) Flush(metricID string, version uint64, windowStart time.Time, windowSeconds uint32) *metricsv1.MetricResult {
	res := &metricsv1.MetricResult{
		MetricId: metricID, DefinitionVersion: version,
		WindowStartUnix: windowStart.Unix(), WindowSeconds: windowSeconds,
		Overflow: a.overflow,
	}
	gs := make([]*group, 0, len(a.groups))
	for _, g := range a.groups {
		gs = append(gs, g)
	}
	slices.SortFunc(gs, func(x, y *group) int {
		if x.n != y.n {
			if x.n > y.n {
				return -1
			}
			return 1
		}
		return compareStrings(x.key, y.key)
	})
	res.Rows = make([]*metricsv1.MetricRow, 0, len(gs)+1)
	for _, g := range gs {
		res.Rows = append(res.Rows, a.row(g, false))
	}
	if a.other != nil {
		res.Rows = append(res.Rows, a.row(a.other, true))
	}
	// Reset, keeping the groups for reuse.
	for _, g := range gs {
		a.release(g)
	}
	if a.other != nil {
		a.release(a.other)
	}
	clear(a.groups)
	a.other, a.overflow, a.heap = nil, 0, nil
	return res
}

func (a *Aggregator) release(g *group) {
	resetStates(g.aggs)
	g.n, g.err, g.key, g.keys = 0, 0, "", g.keys[:0]
	a.free = append(a.free, g)
}

func (a *Aggregator) row(g *group, other bool) *metricsv1.MetricRow {
	row := &metricsv1.MetricRow{Other: other, Error: g.err, Aggs: make([]*metricsv1.AggState, len(g.aggs))}
	if !other {
		row.Keys = slices.Clone(g.keys)
	}
	for i := range g.aggs {
		s := &g.aggs[i]
		st := &metricsv1.AggState{Count: s.count, Sum: s.sum, Min: s.min, Max: s.max}
		if a.q.aggs[i].fn == aggCountStar {
			st.Count += g.err // the space-saving estimate
		}
		if s.sk != nil {
			st.Sketch = s.sk.Proto()
		}
		row.Aggs[i] = st
	}
	return row
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

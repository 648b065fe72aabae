package stats

import (
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
	"github.com/strata-edge/strata/node/geo"
	"github.com/strata-edge/strata/pkg/metricsql"
)

// maxResults bounds the closed Metric SQL windows waiting for a report
// (the reporter takes them every interval; only a stalled one loses any).
const maxResults = 1024

// MetricSQL runs the node's Metric SQL definitions: every request (Add,
// from the proxy: proxy.RequestSink) goes to each definition's aggregator
// for the window of interval_seconds, aligned to Unix time, its time falls
// in; closed windows wait for the reporter (take). Definitions come from
// the snapshot (Update). Safe for concurrent use; the aggregators are not,
// so Add takes one mutex, and only while a definition runs (Active).
type MetricSQL struct {
	partition string
	geo       *geo.DB
	log       *slog.Logger

	active atomic.Bool
	// needGeo: a running definition reads country or asn, so Add looks the
	// client up (only then: a lookup costs more than the rest of a row).
	needGeo atomic.Bool

	mu      sync.Mutex
	defs    []*sqlMetric
	results []*metricsv1.MetricResult
	lost    uint64 // results dropped, results full
}

type sqlMetric struct {
	id       string
	version  uint64
	interval int64
	agg      *metricsql.Aggregator
	geo      bool  // reads country or asn
	start    int64 // Unix second the open window starts at
	n        uint64
}

// NewMetricSQL returns a MetricSQL without definitions, for a node of
// partition partitionID (definitions naming other partitions are skipped).
// geo, optional, fills the columns country and asn.
func NewMetricSQL(partitionID string, geo *geo.DB, log *slog.Logger) *MetricSQL {
	if log == nil {
		log = slog.Default()
	}
	return &MetricSQL{partition: partitionID, geo: geo, log: log}
}

// Active reports whether any definition runs: the proxy builds no request
// row otherwise.
func (m *MetricSQL) Active() bool { return m != nil && m.active.Load() }

// Add counts one request in every definition's open window.
func (m *MetricSQL) Add(r *metricsql.Request) {
	if m.geo != nil && m.needGeo.Load() && r.ClientIP.IsValid() {
		info := m.geo.Lookup(r.ClientIP)
		r.Country, r.ASN = info.Country, info.ASN
	}
	sec := r.Time.Unix()
	m.mu.Lock()
	for _, d := range m.defs {
		w := sec - sec%d.interval
		if w > d.start {
			if d.n > 0 {
				m.keep(d.agg.Flush(d.id, d.version, time.Unix(d.start, 0), uint32(d.interval)))
			}
			d.start, d.n = w, 0
		}
		// A request older than the open window (it waited for the lock
		// across a boundary) counts in the open one.
		d.agg.Add(r)
		d.n++
	}
	m.mu.Unlock()
}

// keep queues a closed window's result; called with mu held.
func (m *MetricSQL) keep(res *metricsv1.MetricResult) {
	if len(m.results) >= maxResults {
		m.results = m.results[1:]
		m.lost++
	}
	m.results = append(m.results, res)
}

// Update runs defs from now on: a definition whose id and version run
// already keeps its aggregator and open window; a new or changed one is
// compiled (one that does not compile is logged and skipped: the control
// plane validated it, so that is a node too old for it); a removed or
// replaced one has its open window closed into the results.
func (m *MetricSQL) Update(defs []*metricsv1.MetricDefinition) {
	m.mu.Lock()
	running := make(map[string]*sqlMetric, len(m.defs))
	for _, d := range m.defs {
		running[d.id] = d
	}
	m.mu.Unlock()
	next := make([]*sqlMetric, 0, len(defs))
	for _, def := range defs {
		if !m.forPartition(def) {
			continue
		}
		if d := running[def.GetId()]; d != nil && d.version == def.GetVersion() && d.interval == int64(def.GetIntervalSeconds()) {
			next = append(next, d)
			continue
		}
		iv := int64(def.GetIntervalSeconds())
		if iv < 1 || iv > 3600 {
			m.log.Error("stats: metric definition skipped", "metric", def.GetId(), "err", "interval_seconds must be 1-3600")
			continue
		}
		q, err := metricsql.Compile(def.GetSql())
		if err != nil {
			m.log.Error("stats: metric definition skipped", "metric", def.GetId(), "version", def.GetVersion(), "err", err)
			continue
		}
		next = append(next, &sqlMetric{id: def.GetId(), version: def.GetVersion(), interval: iv, agg: q.NewAggregator(metricsql.Limits{}),
			geo: q.Uses("country") || q.Uses("asn")})
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, d := range m.defs {
		if !slices.Contains(next, d) && d.n > 0 {
			m.keep(d.agg.Flush(d.id, d.version, time.Unix(d.start, 0), uint32(d.interval)))
		}
	}
	m.defs = next
	m.active.Store(len(next) > 0)
	m.needGeo.Store(slices.ContainsFunc(next, func(d *sqlMetric) bool { return d.geo }))
}

func (m *MetricSQL) forPartition(def *metricsv1.MetricDefinition) bool {
	ps := def.GetPartitionIds()
	return len(ps) == 0 || slices.Contains(ps, m.partition)
}

// take returns the results of the windows closed by now (every open one
// too when final) and how many were dropped since the last call.
func (m *MetricSQL) take(now time.Time, final bool) ([]*metricsv1.MetricResult, uint64) {
	if m == nil {
		return nil, 0
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, d := range m.defs {
		if d.n > 0 && (final || now.Unix() >= d.start+d.interval) {
			m.keep(d.agg.Flush(d.id, d.version, time.Unix(d.start, 0), uint32(d.interval)))
			d.n = 0
		}
	}
	out, lost := m.results, m.lost
	m.results, m.lost = nil, 0
	return out, lost
}

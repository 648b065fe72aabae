package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Prometheus metrics of the metrics service (README.md): this replica's
// ingest by outcome and its store time, the tails it runs and the reports
// they missed, and the nodes its liveness table holds. Definitions are read
// from the read model at scrape time, so every replica reports the same.
var (
	descDefinitions = prometheus.NewDesc("strata_metrics_definitions",
		"Metric SQL definitions that exist.", nil, nil)
	descNodes = prometheus.NewDesc("strata_metrics_nodes",
		"Nodes this replica saw report, by state (reporting: a report within the liveness timeout; silent: none since).", []string{"state"}, nil)
	descTails = prometheus.NewDesc("strata_metrics_tails",
		"Tail streams this replica serves.", nil, nil)
)

type promMetrics struct {
	s          *Service
	reports    *prometheus.CounterVec
	ingestTime prometheus.Histogram
	tailDrops  prometheus.Counter
}

func newPromMetrics(s *Service) *promMetrics {
	return &promMetrics{s: s,
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_metrics_reports_total",
			Help: "Node reports this replica received, by outcome: stored, duplicate (stored before: a node's retry), refused (answered with an error; the node drops it), failed (the store failed: not answered, the node sends it again).",
		}, []string{"outcome"}),
		ingestTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "strata_metrics_ingest_seconds",
			Help:    "Time to store one report (decode, store.Ingest), answered or failed.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		tailDrops: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_metrics_tail_dropped_total",
			Help: "Reports a Tail stream missed because its client read too slowly (its buffer was full).",
		}),
	}
}

// Collector returns the service's metrics for a Prometheus registry.
func (s *Service) Collector() prometheus.Collector { return s.prom }

func (m *promMetrics) Describe(ch chan<- *prometheus.Desc) {
	m.reports.Describe(ch)
	m.ingestTime.Describe(ch)
	m.tailDrops.Describe(ch)
	ch <- descDefinitions
	ch <- descNodes
	ch <- descTails
}

func (m *promMetrics) Collect(ch chan<- prometheus.Metric) {
	m.reports.Collect(ch)
	m.ingestTime.Collect(ch)
	m.tailDrops.Collect(ch)
	var defs int
	m.s.proj.Read(func(st *state) { defs = st.live() })
	ch <- prometheus.MustNewConstMetric(descDefinitions, prometheus.GaugeValue, float64(defs))
	reporting, silent := m.s.life.count(m.s.now(), m.s.livenessTimeout)
	ch <- prometheus.MustNewConstMetric(descNodes, prometheus.GaugeValue, float64(reporting), "reporting")
	ch <- prometheus.MustNewConstMetric(descNodes, prometheus.GaugeValue, float64(silent), "silent")
	m.s.tails.mu.Lock()
	n := len(m.s.tails.set)
	m.s.tails.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(descTails, prometheus.GaugeValue, float64(n))
}

package cert

import (
	"context"
	"errors"
	"net"
	"strings"

	"github.com/go-acme/lego/v5/acme"
	"github.com/prometheus/client_golang/prometheus"

	certv1 "github.com/strata-edge/strata/gen/strata/cert/v1"
)

// Prometheus metrics of the cert service (docs/certs.md). Gauges are read
// from the read model at scrape time, so every replica reports the same
// certificates; the failure counter counts this replica's attempts.
var (
	descCerts = prometheus.NewDesc("strata_cert_certificates",
		"Certificates by state (pending, active, failed, expired).", []string{"state"}, nil)
	descExpiry = prometheus.NewDesc("strata_cert_expiry_seconds",
		"Seconds until the certificate's leaf expires (negative once expired).", []string{"certificate_id", "name"}, nil)
	descLastIssued = prometheus.NewDesc("strata_cert_last_issuance_timestamp_seconds",
		"Unix time of the newest successful ACME issuance or renewal (0: none yet).", nil, nil)
)

type metrics struct {
	s        *Service
	failures *prometheus.CounterVec
}

func newMetrics(s *Service) *metrics {
	return &metrics{s: s, failures: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "strata_cert_renewal_failures_total",
		Help: "Failed ACME issuance and renewal attempts of this replica, by reason (the ACME problem type, connection, timeout, other).",
	}, []string{"reason"})}
}

// Collector returns the service's metrics for a Prometheus registry.
func (s *Service) Collector() prometheus.Collector { return s.metrics }

// failed counts one failed issuance attempt.
func (m *metrics) failed(err error) { m.failures.WithLabelValues(failureReason(err)).Inc() }

func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	m.failures.Describe(ch)
	ch <- descCerts
	ch <- descExpiry
	ch <- descLastIssued
}

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	m.failures.Collect(ch)
	now := m.s.now()
	states := map[string]float64{"pending": 0, "active": 0, "failed": 0, "expired": 0}
	for _, r := range m.s.model.list("") {
		c := r.cert
		st := strings.ToLower(strings.TrimPrefix(c.State.String(), "CERTIFICATE_STATE_"))
		if c.NotAfter != nil {
			left := c.NotAfter.AsTime().Sub(now).Seconds()
			if left <= 0 && c.State == certv1.CertificateState_CERTIFICATE_STATE_ACTIVE {
				st = "expired"
			}
			ch <- prometheus.MustNewConstMetric(descExpiry, prometheus.GaugeValue, left, c.Id, c.Name)
		}
		states[st]++
	}
	for st, n := range states {
		ch <- prometheus.MustNewConstMetric(descCerts, prometheus.GaugeValue, n, st)
	}
	m.s.model.mu.RLock()
	last := m.s.model.lastIssued
	m.s.model.mu.RUnlock()
	var ts float64
	if !last.IsZero() {
		ts = float64(last.UnixNano()) / 1e9
	}
	ch <- prometheus.MustNewConstMetric(descLastIssued, prometheus.GaugeValue, ts)
}

// failureReason maps an issuance error to a small set of label values: the
// ACME problem type ("unauthorized", "rateLimited", ...), "connection",
// "timeout" or "other".
func failureReason(err error) string {
	var pd *acme.ProblemDetails
	if errors.As(err, &pd) {
		t := strings.TrimPrefix(pd.Type, "urn:ietf:params:acme:error:")
		if t != "" && len(t) <= 40 && !strings.ContainsAny(t, ":/ ") {
			return t
		}
		return "acme_other"
	}
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return "timeout"
	case errors.As(err, new(*net.OpError)) || errors.As(err, new(*net.DNSError)):
		return "connection"
	}
	// lego formats some errors with %v: fall back to the text.
	msg := err.Error()
	switch {
	case strings.Contains(msg, "urn:ietf:params:acme:error:"):
		t := msg[strings.Index(msg, "urn:ietf:params:acme:error:")+len("urn:ietf:params:acme:error:"):]
		if i := strings.IndexFunc(t, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') }); i >= 0 {
			t = t[:i]
		}
		if t != "" && len(t) <= 40 {
			return t
		}
		return "acme_other"
	case strings.Contains(msg, "connection refused") || strings.Contains(msg, "no such host") || strings.Contains(msg, "dial tcp") || strings.Contains(msg, "unable to communicate"):
		return "connection"
	case strings.Contains(msg, "timeout") || strings.Contains(msg, "deadline exceeded"):
		return "timeout"
	}
	return "other"
}

var _ prometheus.Collector = (*metrics)(nil)

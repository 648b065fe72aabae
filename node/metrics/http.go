package metrics

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/strata-edge/strata/node"
)

// Registry returns a registry holding the node's collector and the Go
// runtime and process collectors: what `strata node --metrics-addr` serves.
func Registry(n *node.Node) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(New(n), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler serves GET /metrics from g (Prometheus text or protobuf, as the
// scraper asks) and GET /healthz with the node's health.
func Handler(n *node.Node, g prometheus.Gatherer, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn), ErrorHandling: promhttp.ContinueOnError}))
	mux.Handle("GET /healthz", Health(n))
	return mux
}

// HealthReport is the body of /healthz.
type HealthReport struct {
	// Status is "ok" (200), "starting" (503: no config applied yet) or
	// "unhealthy" (503: the newest snapshot was rejected; the node runs
	// the previous one).
	Status     string `json:"status"`
	Version    uint64 `json:"version"`
	AppliedAt  string `json:"applied_at,omitempty"`
	ApplyError string `json:"apply_error,omitempty"`
	// DNS is "answering", "off" (by the cluster), "failed" (the listeners
	// could not open) or "none"; it does not change the status code, which
	// load balancers in front of the HTTP listeners act on.
	DNS         string `json:"dns"`
	Connections uint64 `json:"connections"`
}

// Health serves the node's HealthReport: 200 when it runs a config it
// accepted, 503 before the first config or while it rejects the newest.
func Health(n *node.Node) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		o, started := n.Observe()
		rep := HealthReport{Status: "ok", Version: o.Version, DNS: "none", Connections: o.OpenConnections}
		if !o.LastApply.IsZero() {
			rep.AppliedAt = o.LastApply.UTC().Format(time.RFC3339Nano)
		}
		switch {
		case !started || o.Version == 0:
			rep.Status = "starting"
		case o.ApplyErr != nil:
			rep.Status, rep.ApplyError = "unhealthy", o.ApplyErr.Error()
		}
		if d := o.DNS; d != nil {
			switch {
			case d.Answering:
				rep.DNS = "answering"
			case d.ClusterOff:
				rep.DNS = "off"
			case d.Err != nil:
				rep.DNS = "failed"
			default:
				rep.DNS = "starting"
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if rep.Status != "ok" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(rep)
	})
}

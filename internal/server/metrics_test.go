package server_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-edge/strata/internal/server"
)

// TestServerServesMetrics: with Options.Metrics, GET /metrics answers in the
// Prometheus text format without a token; without it, there is no route.
func TestServerServesMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_test_total", Help: "test"})
	reg.MustRegister(c)
	c.Add(3)
	for _, tc := range []struct {
		name    string
		metrics prometheus.Gatherer
		status  int
	}{{"with", reg, 200}, {"without", nil, 404}} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := server.New(server.Options{Addr: "127.0.0.1:0", Metrics: tc.metrics})
			if err != nil {
				t.Fatal(err)
			}
			if err := srv.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { srv.Shutdown(context.Background()) })
			resp, err := http.Get(srv.URL() + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, b)
			}
			if tc.status == 200 && !strings.Contains(string(b), "strata_test_total 3") {
				t.Fatalf("body lacks the counter:\n%s", b)
			}
		})
	}
}

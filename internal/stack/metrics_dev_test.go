package stack_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// TestDevMetricsCountTraffic: requests through strata dev's node are
// reported over NATS with the node's own credentials, stored by the
// metrics service and counted exactly by QueryTop; a Metric SQL metric
// defined through the API runs on the node and groups the same requests.
func TestDevMetricsCountTraffic(t *testing.T) {
	dev := runDev(t)
	httpURL, port := dev.value(t, "http"), dev.port(t, "http")
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, "shop")
	}))
	t.Cleanup(origin.Close)
	ctx := context.Background()
	c := clientsFor(dev.api, dev.token)
	app := proxyApp(t, c, "shop", "shop.example.com", uint32(port), origin.Listener.Addr().String())
	must[*configv1.CreateReleaseResponse](t)(c.config.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: app.Id}))
	def := must[*metricsv1.CreateMetricResponse](t)(c.metric.CreateMetric(ctx, &metricsv1.CreateMetricRequest{Name: "paths",
		Sql: "select path, count(*) from reqs group by path", IntervalSeconds: 1})).GetMetric()

	get := func(path string) (int, error) {
		req, _ := http.NewRequest("GET", httpURL+path, nil)
		req.Host = "shop.example.com"
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode, nil
	}
	// The node serves the app and runs the metric (both in its snapshot).
	natstest.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		nodes := must[*configv1.ListNodesResponse](t)(c.config.ListNodes(ctx, &configv1.ListNodesRequest{})).GetNodes()
		if len(nodes) != 1 || !nodes[0].GetInSync() {
			return fmt.Errorf("nodes %v", nodes)
		}
		return nil
	})
	if code, err := get("/warmup"); err != nil || code != 200 {
		t.Fatalf("GET /warmup: %d %v", code, err)
	}
	for range 30 {
		if code, err := get("/"); err != nil || code != 200 {
			t.Fatalf("GET /: %d %v", code, err)
		}
	}
	for range 7 {
		if code, err := get("/missing"); err != nil || code != 404 {
			t.Fatalf("GET /missing: %d %v", code, err)
		}
	}
	natstest.CheckFor(t, 30*time.Second, 200*time.Millisecond, func() error {
		top, err := c.metric.QueryTop(ctx, &metricsv1.QueryTopRequest{AppId: app.Id, By: "status"})
		if err != nil {
			return err
		}
		got := map[string]uint64{}
		for _, r := range top.GetRows() {
			got[r.GetName()] = r.GetRequests()
		}
		if top.GetTotal() != 38 || got["200"] != 31 || got["404"] != 7 {
			return fmt.Errorf("top by status: total %d, rows %v", top.GetTotal(), got)
		}
		return nil
	})
	natstest.CheckFor(t, 30*time.Second, 200*time.Millisecond, func() error {
		q, err := c.metric.QueryMetric(ctx, &metricsv1.QueryMetricRequest{Metric: def.GetId()})
		if err != nil {
			return err
		}
		got := map[string]string{}
		for _, r := range q.GetRows() {
			got[r.GetValues()[0]] = r.GetValues()[1]
		}
		if got["/"] != "30" || got["/missing"] != "7" || got["/warmup"] != "1" {
			return fmt.Errorf("metric rows %v (columns %v)", got, q.GetColumns())
		}
		return nil
	})
}

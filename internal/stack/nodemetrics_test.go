package stack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/internal/edge"
	"github.com/strata-edge/strata/internal/testbuf"
	"github.com/strata-edge/strata/node/join"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

func getBody(url string) (int, string, error) {
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// TestNodeMetricsEndpoints: strata dev's API /metrics shows its built-in
// node; `strata node --metrics-addr` serves the node's /metrics and a
// /healthz that says "starting" (503) until the node runs a config, then
// "ok" with the version.
func TestNodeMetricsEndpoints(t *testing.T) {
	dev := runDev(t)
	api := dev.api
	code, body, err := getBody(api + "/metrics")
	if err != nil || code != 200 || !strings.Contains(body, `strata_node_info{cluster_id="`) || !strings.Contains(body, "strata_node_sync_version ") {
		t.Fatalf("strata dev /metrics without the node's metrics: %d %v\n%s", code, err, body)
	}

	tokenBytes, err := os.ReadFile(dev.value(t, "token-file"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := clientsFor(api, strings.TrimSpace(string(tokenBytes)))
	jt := must[*configv1.CreateJoinTokenResponse](t)(c.nodes.CreateJoinToken(ctx, &configv1.CreateJoinTokenRequest{Cluster: "default", AutoApprove: true}))
	nodeCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	nb := &testbuf.Buffer{}
	go func() {
		done <- edge.Run(nodeCtx, edge.RunOptions{API: api, MetricsAddr: "127.0.0.1:0", Banner: nb, Options: edge.Options{
			Options:  join.Options{JoinToken: jt.Token, Name: "m-1", DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)},
			HTTPAddr: "127.0.0.1:0"}})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("RunNode: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("RunNode did not return after cancel")
		}
	})
	metricsURL := bannerValue(t, nb, done, "metrics")
	base := strings.TrimSuffix(metricsURL, "/metrics")
	nodeID := bannerValue(t, nb, done, "node")
	code, body, err = getBody(metricsURL)
	if err != nil || code != 200 || !strings.Contains(body, fmt.Sprintf(`node_id=%q`, nodeID)) || !strings.Contains(body, "go_goroutines") {
		t.Fatalf("node /metrics: %d %v\n%s", code, err, body)
	}
	if code, body, _ := getBody(base + "/healthz"); code != 503 || !strings.Contains(body, `"status":"starting"`) {
		t.Fatalf("/healthz before any config: %d %s", code, body)
	}

	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "up") }))
	t.Cleanup(upstream.Close)
	app := must[*configv1.CreateAppResponse](t)(c.config.CreateApp(ctx, &configv1.CreateAppRequest{
		Name: "metrics", Domains: []string{"metrics.example.com"}})).App
	must[*configv1.CreateUpstreamResponse](t)(c.config.CreateUpstream(ctx, &configv1.CreateUpstreamRequest{AppId: app.Id,
		Upstream: &configv1.Upstream{Name: "web", Servers: []*configv1.Server{{Address: upstream.Listener.Addr().String(), Weight: 1}}}}))
	rel := must[*configv1.CreateReleaseResponse](t)(c.config.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: app.Id}))
	natstest.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		code, body, err := getBody(base + "/healthz")
		if err != nil {
			return err
		}
		var rep struct {
			Status  string `json:"status"`
			Version uint64 `json:"version"`
		}
		if err := json.Unmarshal([]byte(body), &rep); err != nil || code != 200 || rep.Status != "ok" || rep.Version == 0 {
			return fmt.Errorf("/healthz: %d %s (release %v)", code, body, rel.GetRelease())
		}
		return nil
	})
}

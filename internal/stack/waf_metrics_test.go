package stack_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
	"github.com/strata-edge/strata/internal/stack"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
	metricstore "github.com/strata-edge/strata/services/metrics/store"
)

// TestControlWAFMetricsPostgres: a node joined to `strata control`, whose
// metrics store is PostgreSQL, blocks requests with a released WAF policy;
// after one report interval QueryTop by waf_rule counts them exactly for
// the rule, and a store opened anew on the database (what a restarted
// control plane opens) reads the same counts.
func TestControlWAFMetricsPostgres(t *testing.T) {
	pg := metricsPostgres(t)
	admin, ext := runExternalHubNode(t, func(o *stack.ControlOptions) { o.MetricsPostgresDSNFile = pg.MetricsPostgresDSNFile })
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer scancel()
		if err := ext.Stop(sctx); err != nil {
			t.Errorf("stop edge: %v", err)
		}
	})
	ctx := context.Background()
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "shop") }))
	t.Cleanup(origin.Close)
	addr := ext.HTTPAddr()
	var port uint32
	if _, err := fmt.Sscanf(addr[strings.LastIndex(addr, ":")+1:], "%d", &port); err != nil {
		t.Fatalf("node address %q: %v", addr, err)
	}
	app := proxyApp(t, admin, "shop", "shop.example.com", port, origin.Listener.Addr().String())
	strata := admin.cli(t)
	strata("waf", "policy", "create", "strict", "--mode", "block", "--crs-off")
	strata("waf", "rule", "add", "--policy", "strict", "--id", "block-admin", "--when", `PathPrefix("/admin")`, "--action", "block")
	strata("waf", "policy", "release", "strict")
	strata("waf", "policy", "attach", "strict", "--app", "shop")
	must[*configv1.CreateReleaseResponse](t)(admin.config.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: app.Id, Note: "waf"}))

	get := func(path string) int {
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		req.Host = "shop.example.com"
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	// The first 403 is the first blocked request; four more follow.
	natstest.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		if got := get("/admin/users"); got != 403 {
			return fmt.Errorf("GET /admin/users = %d, want 403", got)
		}
		return nil
	})
	for range 4 {
		if got := get("/admin/users"); got != 403 {
			t.Fatalf("GET /admin/users = %d, want 403", got)
		}
	}
	if got := get("/products"); got != 200 {
		t.Fatalf("a benign GET = %d, want 200", got)
	}
	blocked := time.Now()
	want := "custom:block-admin=5/5"
	rows := func(r *metricsv1.QueryTopResponse) string {
		var b []string
		for _, row := range r.GetRows() {
			b = append(b, fmt.Sprintf("%s=%d/%d", row.GetName(), row.GetRequests(), row.GetBlocked()))
		}
		return strings.Join(b, " ")
	}
	natstest.CheckFor(t, 30*time.Second, 200*time.Millisecond, func() error {
		top, err := admin.metric.QueryTop(ctx, &metricsv1.QueryTopRequest{AppId: app.Id, By: "waf_rule"})
		if err != nil {
			return err
		}
		if got := rows(top); got != want {
			return fmt.Errorf("top by waf_rule: %s, want %s", got, want)
		}
		return nil
	})
	t.Logf("blocked requests to QueryTop by waf_rule on PostgreSQL: %s", time.Since(blocked).Round(time.Millisecond))

	dsn, err := os.ReadFile(pg.MetricsPostgresDSNFile)
	if err != nil {
		t.Fatal(err)
	}
	st, err := metricstore.OpenPostgres(ctx, strings.TrimSpace(string(dsn)), metricstore.Retention{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	top, err := st.Top(ctx, metricstore.TopQuery{AppID: app.Id, By: "waf_rule", Start: blocked.Add(-time.Minute), End: time.Now().Add(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if got := rows(top); got != want {
		t.Errorf("a store opened anew: top by waf_rule %s, want %s", got, want)
	}
}

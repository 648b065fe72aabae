package stack_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
	wafv1 "github.com/strata-edge/strata/gen/strata/waf/v1"
	"github.com/strata-edge/strata/internal/cli"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// TestDevWAF: a WAF policy made, released and attached with the CLI runs on
// strata dev's node: off it lets an attack through, in block mode the node
// answers it 403 (CRS and a custom rule), `strata waf hits` shows the hits
// with their rule ids as the node reported them, and a revert to the first
// release turns blocking off again.
func TestDevWAF(t *testing.T) {
	dev := runDev(t)
	httpURL, port := dev.value(t, "http"), dev.port(t, "http")
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "shop") }))
	t.Cleanup(origin.Close)
	ctx := context.Background()
	c := clientsFor(dev.api, dev.token)
	app := proxyApp(t, c, "shop", "shop.example.com", uint32(port), origin.Listener.Addr().String())

	strata := c.cli(t)
	get := func(path string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", httpURL+path, nil)
		req.Host = "shop.example.com"
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	inSync := func() {
		t.Helper()
		natstest.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
			nodes := must[*configv1.ListNodesResponse](t)(c.config.ListNodes(ctx, &configv1.ListNodesRequest{})).GetNodes()
			if len(nodes) != 1 || !nodes[0].GetInSync() {
				return fmt.Errorf("nodes %v", nodes)
			}
			return nil
		})
	}
	sqli := "/?id=" + url.QueryEscape("1' OR '1'='1")

	// Release 1: mode off. Attaching an unreleased policy would be refused
	// at the app's release; this one has a release.
	strata("waf", "policy", "create", "strict", "--mode", "off")
	strata("waf", "rule", "add", "--policy", "strict", "--id", "block-admin", "--when", `PathPrefix("/admin")`, "--action", "block")
	strata("waf", "policy", "release", "strict", "--note", "off")
	strata("waf", "policy", "attach", "strict", "--app", "shop")
	must[*configv1.CreateReleaseResponse](t)(c.config.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: app.Id, Note: "waf"}))
	inSync()
	if got := get(sqli); got != 200 {
		t.Fatalf("mode off: GET %s = %d, want 200", sqli, got)
	}

	// Release 2: block. The node swaps the policy with its snapshot.
	strata("waf", "policy", "update", "strict", "--mode", "block")
	released := time.Now()
	strata("waf", "policy", "release", "strict", "--note", "block")
	natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if got := get(sqli); got != 403 {
			return fmt.Errorf("block mode: GET %s = %d, want 403", sqli, got)
		}
		return nil
	})
	t.Logf("release to blocking on the node: %s", time.Since(released).Round(time.Millisecond))
	attacked := time.Now()
	if got := get("/admin/users"); got != 403 {
		t.Fatalf("block mode: GET /admin/users = %d, want 403 (custom rule)", got)
	}
	if got := get("/products?page=2"); got != 200 {
		t.Fatalf("block mode: a benign GET = %d, want 200", got)
	}

	// strata waf hits shows both, with the rule ids.
	natstest.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		res := &wafv1.ListHitsResponse{}
		if err := protojson.Unmarshal([]byte(strata("waf", "hits", "--app", app.Id, "-o", "json")), res); err != nil {
			return err
		}
		var custom, crs bool
		for _, h := range res.GetHits() {
			for _, m := range h.GetMatches() {
				custom = custom || (m.GetRuleId() == "custom:block-admin" && h.GetStatus() == 403 && h.GetAction() == "block")
				crs = crs || (strings.HasPrefix(m.GetRuleId(), "942") && strings.Contains(h.GetUri(), "id="))
			}
		}
		if !custom || !crs {
			return fmt.Errorf("hits %v: want custom:block-admin and a 942xxx SQLi rule", res.GetHits())
		}
		return nil
	})
	t.Logf("attack to strata waf hits: %s", time.Since(attacked).Round(time.Millisecond))
	if out := strata("waf", "stats", "--app", app.Id); !strings.Contains(out, "custom:block-admin") {
		t.Fatalf("waf stats:\n%s", out)
	}

	// The node's metrics reports count the same matches per rule: QueryTop
	// by waf_rule and strata waf stats --since read them from the metrics
	// store.
	natstest.CheckFor(t, 30*time.Second, 200*time.Millisecond, func() error {
		top, err := c.metric.QueryTop(ctx, &metricsv1.QueryTopRequest{AppId: app.Id, By: "waf_rule"})
		if err != nil {
			return err
		}
		var custom, crs bool
		for _, r := range top.GetRows() {
			custom = custom || (r.GetName() == "custom:block-admin" && r.GetRequests() == 1 && r.GetBlocked() == 1)
			crs = crs || (strings.HasPrefix(r.GetName(), "942") && r.GetBlocked() >= 1)
		}
		if !custom || !crs {
			return fmt.Errorf("top by waf_rule %v: want custom:block-admin blocked once and a 942xxx rule blocked", top.GetRows())
		}
		return nil
	})
	t.Logf("attack to the metrics service's rule counts: %s", time.Since(attacked).Round(time.Millisecond))
	res := &metricsv1.QueryTopResponse{}
	if err := protojson.Unmarshal([]byte(strata("waf", "stats", "--app", app.Id, "--since", "10m", "-o", "json")), res); err != nil {
		t.Fatal(err)
	}
	if i := slices.IndexFunc(res.GetRows(), func(r *metricsv1.TopRow) bool { return r.GetName() == "custom:block-admin" }); i < 0 || res.GetRows()[i].GetBlocked() != 1 {
		t.Fatalf("waf stats --since 10m -o json: %v", res.GetRows())
	}
	if out := strata("waf", "stats", "--app", app.Id, "--since", "10m"); !strings.Contains(out, "custom:block-admin") || !strings.Contains(out, "BLOCKED") {
		t.Fatalf("waf stats --since 10m:\n%s", out)
	}

	// Revert to release 1: off again on the node.
	strata("waf", "policy", "revert", "strict", "--to", "1", "--note", "back")
	inSync()
	natstest.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		if got := get(sqli); got != 200 {
			return fmt.Errorf("reverted: GET %s = %d, want 200", sqli, got)
		}
		return nil
	})

	// The policy stays while the app attaches it.
	var out, errs bytes.Buffer
	env := map[string]string{"STRATA_API": dev.api, "STRATA_TOKEN": dev.token}
	if code := cli.Execute(ctx, cli.BuildInfo{Version: "test"}, []string{"waf", "policy", "delete", "strict"}, &out, &errs,
		func(k string) string { return env[k] }); code == 0 || !strings.Contains(errs.String(), `"shop"`) {
		t.Fatalf("delete while attached: exit %d\n%s", code, errs.String())
	}
}

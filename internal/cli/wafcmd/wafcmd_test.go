package wafcmd

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/gen/strata/config/v1/configv1connect"
	"github.com/strata-edge/strata/gen/strata/metrics/v1/metricsv1connect"
	wafv1 "github.com/strata-edge/strata/gen/strata/waf/v1"
	"github.com/strata-edge/strata/gen/strata/waf/v1/wafv1connect"
	"github.com/strata-edge/strata/internal/cli/clientx/clitest"
	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
	wafsvc "github.com/strata-edge/strata/services/waf"
)

type factory struct {
	clitest.Env
	c  wafv1connect.WafServiceClient
	nc *nats.Conn
}

func (f *factory) WafClient() (wafv1connect.WafServiceClient, error)       { return f.c, nil }
func (f *factory) WafStreamClient() (wafv1connect.WafServiceClient, error) { return f.c, nil }
func (f *factory) MetricsClient() (metricsv1connect.MetricsServiceClient, error) {
	return nil, errors.New("no metrics service in this test (internal/stack's waf test reads it)")
}
func (f *factory) AppClient() (configv1connect.ConfigServiceClient, error) {
	return nil, errors.New("no config service in this test (internal/stack's waf test attaches)")
}

// newFactory runs the waf service (no partitions resolver: ids as given)
// on an embedded JetStream.
func newFactory(t *testing.T) *factory {
	t.Helper()
	nc := natstest.Connect(t, natstest.RunServer(t))
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	store, err := eventstore.NewJetStream(context.Background(), js, eventstore.JetStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := wafsvc.New(wafsvc.Options{Store: store, JetStream: js})
	if err != nil {
		t.Fatal(err)
	}
	srv := clitest.Serve(t, svc)
	return &factory{c: wafv1connect.NewWafServiceClient(srv.Client(), srv.URL), nc: nc}
}

func (f *factory) run(args ...string) (string, error) { return f.Run(Commands(f), args...) }

func (f *factory) hit(t *testing.T, node string, h *wafv1.WafHit) {
	t.Helper()
	data, err := proto.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.nc.Publish(natsutil.WafHitSubject(node), data); err != nil {
		t.Fatal(err)
	}
}

// TestWAFJSONGolden: every waf command's -o json output, pinned in
// testdata/json (refresh with -update).
func TestWAFJSONGolden(t *testing.T) {
	f := newFactory(t)
	cmds := func() []*cobra.Command { return Commands(f) }
	f.GoldenSteps(t, cmds, []clitest.Step{
		{Name: "waf-policy-create", Args: []string{"waf", "policy", "create", "strict", "--mode", "detect", "--paranoia", "2", "--skip-ext", "css", "--skip-ext", ".PNG", "--label", "team=web"}},
		{Name: "waf-rule-add", Args: []string{"waf", "rule", "add", "--policy", "strict", "--id", "block-admin", "--when", `PathPrefix("/admin") && !ClientIP("10.0.0.0/8")`, "--action", "block"}},
		{Name: "waf-rule-add-before", Args: []string{"waf", "rule", "add", "--policy", "strict", "--id", "health", "--when", `Path("/healthz")`, "--action", "allow", "--before", "block-admin"}},
		{Name: "waf-rule-update", Args: []string{"waf", "rule", "update", "--policy", "strict", "--id", "block-admin", "--status", "451", "--description", "no admin from outside"}},
		{Name: "waf-rule-list", Args: []string{"waf", "rule", "list", "--policy", "strict"}},
		{Name: "waf-policy-release", Args: []string{"waf", "policy", "release", "strict", "--note", "first"}},
		{Name: "waf-policy-update", Args: []string{"waf", "policy", "update", "strict", "--mode", "block", "--disable-rule", "920350", "--inspect-body", "--body-types", "json", "--inspect-responses", "--response-body-limit", "65536"}},
		{Name: "waf-policy-release-staging", Args: []string{"waf", "policy", "release", "strict", "--staging"}},
		{Name: "waf-policy-promote", Args: []string{"waf", "policy", "promote", "strict"}},
		{Name: "waf-policy-revert", Args: []string{"waf", "policy", "revert", "strict", "--to", "1", "--note", "back"}},
		{Name: "waf-policy-releases", Args: []string{"waf", "policy", "releases", "strict"}},
		{Name: "waf-policy-show", Args: []string{"waf", "policy", "show", "strict"}},
		{Name: "waf-rule-remove", Args: []string{"waf", "rule", "remove", "--policy", "strict", "--id", "health"}},
		{Name: "waf-policy-list", Args: []string{"waf", "policy", "list"}},
	})
	at := timestamppb.New(time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC))
	f.hit(t, "node_1", &wafv1.WafHit{Time: at, AppId: "app_1", PolicyId: "wafp_1", RequestId: "r1", ClientIp: "192.0.2.7", Method: "GET",
		Host: "shop.example.com", Uri: "/admin", Action: "block", Status: 451, Matches: []*wafv1.RuleMatch{{RuleId: "custom:block-admin"}}})
	f.hit(t, "node_1", &wafv1.WafHit{Time: at, AppId: "app_1", PolicyId: "wafp_1", RequestId: "r2", ClientIp: "192.0.2.8", Method: "GET",
		Host: "shop.example.com", Uri: "/?id=1'%20OR%201=1", Action: "block", Status: 403, AnomalyScore: 10,
		Matches: []*wafv1.RuleMatch{{RuleId: "942100", Message: "SQL Injection Attack Detected via libinjection", Target: "ARGS:id", Data: "1' OR 1=1", Phase: 2}}})
	f.hit(t, "node_1", &wafv1.WafHit{Time: at, AppId: "app_1", PolicyId: "wafp_1", RequestId: "r3", ClientIp: "192.0.2.9", Method: "GET",
		Host: "shop.example.com", Uri: "/list.php", Action: "block", Status: 403, AnomalyScore: 4, Direction: "response",
		Matches: []*wafv1.RuleMatch{{RuleId: "951220", Message: "mysql SQL Information Leakage", Target: "RESPONSE_BODY", Data: "You have an error in your SQL syntax", Phase: 4}}})
	natstest.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		out, err := f.run("waf", "stats", "--app", "app_1")
		if err == nil && !strings.Contains(out, "942100") {
			err = errors.New("no hit yet")
		}
		return err
	})
	f.GoldenSteps(t, cmds, []clitest.Step{
		{Name: "waf-hits", Args: []string{"waf", "hits", "--app", "app_1"}},
		{Name: "waf-stats", Args: []string{"waf", "stats", "--app", "app_1"}},
		{Name: "waf-policy-delete", Args: []string{"waf", "policy", "delete", "strict"}},
	})
}

// The text forms a person reads, and the refusals with the field named.
func TestWAFText(t *testing.T) {
	f := newFactory(t)
	if _, err := f.run("waf", "policy", "create", "strict", "--mode", "block"); err != nil {
		t.Fatal(err)
	}
	_, err := f.run("waf", "rule", "add", "--policy", "strict", "--id", "bad", "--when", `PathPrefix("/admin"`, "--action", "block")
	if err == nil || !strings.Contains(err.Error(), `custom_rules[0] (id "bad").when`) {
		t.Fatalf("bad rule: %v", err)
	}
	if _, err := f.run("waf", "policy", "create", "x", "--mode", "strict"); err == nil || !strings.Contains(err.Error(), "--mode") {
		t.Fatalf("bad mode: %v", err)
	}
	if _, err := f.run("waf", "policy", "create", "y", "--paranoia", "7"); err == nil || !strings.Contains(err.Error(), "paranoia_level") {
		t.Fatalf("bad paranoia: %v", err)
	}
	out, err := f.run("waf", "policy", "show", "strict")
	if err != nil || !strings.Contains(out, "mode: block") || !strings.Contains(out, "crs: on, paranoia 1") || !strings.Contains(out, "custom rules: 0") {
		t.Fatalf("show: %v\n%s", err, out)
	}
	if _, err := f.run("waf", "policy", "release", "strict"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.run("waf", "policy", "release", "strict"); err == nil || !strings.Contains(err.Error(), "nothing to release") {
		t.Fatalf("empty release: %v", err)
	}
	out, err = f.run("waf", "policy", "releases", "strict")
	if err != nil || !strings.Contains(out, "all nodes") {
		t.Fatalf("releases: %v\n%s", err, out)
	}
	if _, err := f.run("waf", "policy", "attach", "strict"); err == nil || !strings.Contains(err.Error(), "--app") {
		t.Fatalf("attach without --app: %v", err)
	}
	// Response inspection: on with its limit, refused above 10 MiB by name.
	if _, err := f.run("waf", "policy", "update", "strict", "--response-body-limit", "65536"); err != nil {
		t.Fatal(err)
	}
	out, err = f.run("waf", "policy", "show", "strict")
	if err != nil || !strings.Contains(out, "responses: 65536 bytes of text, JSON and XML bodies") {
		t.Fatalf("show with responses: %v\n%s", err, out)
	}
	if _, err := f.run("waf", "policy", "update", "strict", "--response-body-limit", "20000000"); err == nil || !strings.Contains(err.Error(), "response_body_limit_bytes") {
		t.Fatalf("response body limit over 10 MiB: %v", err)
	}
	if _, err := f.run("waf", "policy", "update", "strict", "--inspect-responses=false"); err != nil {
		t.Fatal(err)
	}
	if out, err = f.run("waf", "policy", "show", "strict"); err != nil || !strings.Contains(out, "responses: off") {
		t.Fatalf("show with responses off: %v\n%s", err, out)
	}
	at := timestamppb.New(time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC))
	f.hit(t, "node_1", &wafv1.WafHit{Time: at, AppId: "app_9", PolicyId: "wafp_1", RequestId: "r9", Method: "GET", Host: "shop.example.com",
		Uri: "/list.php", Action: "block", Status: 403, Direction: "response", Matches: []*wafv1.RuleMatch{{RuleId: "951220", Phase: 4}}})
	natstest.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		out, err := f.run("waf", "hits", "--app", "app_9")
		if err == nil && !regexp.MustCompile(`app_9 +block +response +403 `).MatchString(out) {
			err = fmt.Errorf("hits:\n%s", out)
		}
		return err
	})
}

// updateFrom keeps every setting an app has, role and new fields included.
func TestUpdateFromKeepsEverySetting(t *testing.T) {
	app := &configv1.App{Id: "app_1", Name: "shop", Domains: []string{"shop.example.com"}, HttpsPorts: []uint32{443}, PartitionIds: []string{"par_1"},
		Labels: map[string]string{"team": "web"}, HttpsRedirect: true, Hsts: &configv1.Hsts{MaxAgeSeconds: 60}, WafPolicyId: "wafp_1",
		Limits: &configv1.AppLimits{MaxRequestBodyBytes: 1 << 20}}
	req := updateFrom(app)
	want := &configv1.UpdateAppRequest{AppId: "app_1", Name: "shop", Domains: []string{"shop.example.com"}, HttpsPorts: []uint32{443},
		Partitions: []string{"par_1"}, Labels: map[string]string{"team": "web"}, HttpsRedirect: true, Hsts: &configv1.Hsts{MaxAgeSeconds: 60},
		WafPolicyId: "wafp_1", Limits: &configv1.AppLimits{MaxRequestBodyBytes: 1 << 20}}
	if !proto.Equal(req, want) {
		t.Fatalf("got %v\nwant %v", req, want)
	}
	stream := &configv1.App{Id: "app_2", Name: "echo", Role: &configv1.App_Stream{Stream: &configv1.StreamApp{}}}
	if updateFrom(stream).GetStream() == nil {
		t.Fatal("the stream role was lost")
	}
}

package waf

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	cfgev "github.com/strata-edge/strata/gen/strata/events/config/v1"
	wafv1 "github.com/strata-edge/strata/gen/strata/waf/v1"
	"github.com/strata-edge/strata/gen/strata/waf/v1/wafv1connect"
	"github.com/strata-edge/strata/pkg/configevents"
	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/eventstore/eventstoretest"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/testenv"
	"github.com/strata-edge/strata/pkg/wafengine"
	"github.com/strata-edge/strata/services/edgesync"
)

// partitions is a fixed Partitions: name -> id.
type partitions map[string]string

func (p partitions) ResolvePartition(ref string) (string, bool) {
	if id, ok := p[ref]; ok {
		return id, true
	}
	for _, id := range p {
		if id == ref {
			return id, true
		}
	}
	return "", false
}

// attached is a settable Apps.
type attached map[string][]string

func (a attached) AppsAttaching(id string) []string { return a[id] }

type env struct {
	svc     *Service
	tracks  *edgesync.Tracks
	store   eventstore.Store
	nc      *nats.Conn
	js      jetstream.JetStream
	ctx     context.Context
	apps    attached
	clients []wafv1connect.WafServiceClient
}

func newEnv(t *testing.T, validate func(*wafv1.WafPolicy) error) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	store, nc, js := eventstoretest.JetStream(t)
	// Two partitions exist before the service starts.
	for _, p := range []*configv1.Partition{{Id: "par_eu", Name: "eu"}, {Id: "par_us", Name: "us"}} {
		events, err := configevents.Events(eventstore.Metadata{Actor: "test", Time: time.Now()}, &cfgev.PartitionCreated{Partition: p})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.Append(ctx, "config.partition."+p.Id, 0, events...); err != nil {
			t.Fatal(err)
		}
	}
	tracks := edgesync.New(slog.New(slog.NewTextHandler(io.Discard, nil)), false)
	apps := attached{}
	svc, err := New(Options{Store: store, Sync: tracks, Partitions: partitions{"eu": "par_eu", "us": "par_us"}, Apps: apps,
		Validate: validate, JetStream: js})
	if err != nil {
		t.Fatal(err)
	}
	go tracks.Follow(ctx, store)
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Stop(context.Background()) })
	srv := testenv.ServeAs(t, "alice", svc.Handler)
	return &env{svc: svc, tracks: tracks, store: store, nc: nc, js: js, ctx: ctx, apps: apps, clients: []wafv1connect.WafServiceClient{
		wafv1connect.NewWafServiceClient(srv.Client(), srv.URL),
		wafv1connect.NewWafServiceClient(srv.Client(), srv.URL, connect.WithGRPC()),
	}}
}

func code(err error) connect.Code {
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.Code()
	}
	return 0
}

// synced is policy id in a partition's track view (nil: none).
func (e *env) synced(t *testing.T, partition, id string, staging bool) *wafv1.WafPolicy {
	t.Helper()
	if err := e.tracks.CatchUp(e.ctx, e.store); err != nil {
		t.Fatal(err)
	}
	for _, p := range e.tracks.Snapshot(partition, staging).GetWafPolicies() {
		if p.GetId() == id {
			return p
		}
	}
	return nil
}

func strict() *wafv1.WafPolicy {
	return &wafv1.WafPolicy{Name: "strict", Mode: wafv1.WafMode_WAF_MODE_BLOCK, ParanoiaLevel: 1,
		CustomRules: []*wafv1.CustomRule{{Id: "block-admin", When: `PathPrefix("/admin")`, Action: wafv1.WafRuleAction_WAF_RULE_ACTION_BLOCK}}}
}

func TestPolicyReleasesReachThePartitions(t *testing.T) {
	e := newEnv(t, nil)
	c := e.clients[0]
	cr, err := c.CreatePolicy(e.ctx, &wafv1.CreatePolicyRequest{Policy: strict()})
	if err != nil {
		t.Fatal(err)
	}
	id := cr.GetPolicy().GetId()
	if !strings.HasPrefix(id, "wafp_") || cr.GetPolicy().GetCustomRules()[0].GetStatus() != 403 {
		t.Fatalf("created %v", cr.GetPolicy())
	}
	for _, p := range []string{"par_eu", "par_us"} {
		if e.synced(t, p, id, false) != nil {
			t.Fatal("an unreleased policy reached the tracks")
		}
	}
	if _, err := c.CreateRelease(e.ctx, &wafv1.CreateReleaseRequest{PolicyId: "strict", Note: "one", ExpectedVersion: &cr.Version}); err != nil {
		t.Fatal(err)
	}
	// No partitions named: every partition, both tracks.
	for _, p := range []string{"par_eu", "par_us"} {
		for _, staging := range []bool{false, true} {
			if got := e.synced(t, p, id, staging); got.GetVersion() != 1 || got.GetMode() != wafv1.WafMode_WAF_MODE_BLOCK {
				t.Fatalf("%s staging %v: %v", p, staging, got)
			}
		}
	}
	// A staging release to eu only: staging eu gets it, stable tracks keep release 1, us loses it on staging.
	pol := strict()
	pol.Mode, pol.PartitionIds = wafv1.WafMode_WAF_MODE_DETECT, []string{"eu"}
	if _, err := c.UpdatePolicy(e.ctx, &wafv1.UpdatePolicyRequest{PolicyId: id, Policy: pol}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateRelease(e.ctx, &wafv1.CreateReleaseRequest{PolicyId: id, Staging: true}); err != nil {
		t.Fatal(err)
	}
	if got := e.synced(t, "par_eu", id, true); got.GetVersion() != 2 || got.GetMode() != wafv1.WafMode_WAF_MODE_DETECT {
		t.Fatalf("staging eu: %v", got)
	}
	if got := e.synced(t, "par_us", id, true); got != nil {
		t.Fatalf("staging us still runs %v", got)
	}
	if got := e.synced(t, "par_us", id, false); got.GetVersion() != 1 {
		t.Fatalf("stable us: %v", got)
	}
	if _, err := c.PromoteRelease(e.ctx, &wafv1.PromoteReleaseRequest{PolicyId: id}); err != nil {
		t.Fatal(err)
	}
	if e.synced(t, "par_eu", id, false).GetVersion() != 2 || e.synced(t, "par_us", id, false) != nil {
		t.Fatal("promote did not move the stable tracks")
	}
	// Revert to 1: release 3 with release 1's content everywhere.
	rv, err := e.clients[1].RevertPolicy(e.ctx, &wafv1.RevertPolicyRequest{PolicyId: id, ToRelease: 1, Note: "back"})
	if err != nil {
		t.Fatal(err)
	}
	if rv.GetRelease().GetNumber() != 3 || rv.GetRelease().GetRevertedTo() != 1 {
		t.Fatalf("revert: %v", rv)
	}
	for _, p := range []string{"par_eu", "par_us"} {
		if got := e.synced(t, p, id, false); got.GetVersion() != 3 || got.GetMode() != wafv1.WafMode_WAF_MODE_BLOCK {
			t.Fatalf("reverted %s: %v", p, got)
		}
	}
	ls, err := c.ListReleases(e.ctx, &wafv1.ListReleasesRequest{PolicyId: "strict"})
	if err != nil || len(ls.GetReleases()) != 3 || ls.GetStableRelease() != 3 || ls.GetReleases()[1].GetPromotedBy() != "alice" {
		t.Fatalf("releases: %v, %v", ls, err)
	}
	// Nothing changed since: a release is refused.
	if _, err := c.CreateRelease(e.ctx, &wafv1.CreateReleaseRequest{PolicyId: id}); code(err) != connect.CodeFailedPrecondition {
		t.Fatalf("empty release: %v", err)
	}
	got, err := c.GetPolicy(e.ctx, &wafv1.GetPolicyRequest{PolicyId: "strict"})
	if err != nil || got.GetLatestRelease() != 3 || got.GetPendingChanges() != 0 || got.GetReleased().GetVersion() != 3 {
		t.Fatalf("get: %v, %v", got, err)
	}
}

func TestDeleteRefusedWhileAttached(t *testing.T) {
	e := newEnv(t, nil)
	c := e.clients[0]
	cr, err := c.CreatePolicy(e.ctx, &wafv1.CreatePolicyRequest{Policy: strict()})
	if err != nil {
		t.Fatal(err)
	}
	id := cr.GetPolicy().GetId()
	if _, err := c.CreateRelease(e.ctx, &wafv1.CreateReleaseRequest{PolicyId: id}); err != nil {
		t.Fatal(err)
	}
	e.apps[id] = []string{`"shop" (app_1)`}
	_, err = c.DeletePolicy(e.ctx, &wafv1.DeletePolicyRequest{PolicyId: "strict"})
	if code(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), `"shop" (app_1)`) {
		t.Fatalf("delete while attached: %v", err)
	}
	got, _ := c.GetPolicy(e.ctx, &wafv1.GetPolicyRequest{PolicyId: id})
	if !slices.Equal(got.GetAppIds(), []string{`"shop" (app_1)`}) {
		t.Fatalf("app ids %v", got.GetAppIds())
	}
	delete(e.apps, id)
	if _, err := c.DeletePolicy(e.ctx, &wafv1.DeletePolicyRequest{PolicyId: "strict"}); err != nil {
		t.Fatal(err)
	}
	if e.synced(t, "par_eu", id, false) != nil || e.synced(t, "par_us", id, true) != nil {
		t.Fatal("a deleted policy stays on the tracks")
	}
	if _, err := c.GetPolicy(e.ctx, &wafv1.GetPolicyRequest{PolicyId: id}); code(err) != connect.CodeNotFound {
		t.Fatalf("get deleted: %v", err)
	}
	// The name is free again.
	if _, err := c.CreatePolicy(e.ctx, &wafv1.CreatePolicyRequest{Policy: strict()}); err != nil {
		t.Fatal(err)
	}
}

func TestRefusals(t *testing.T) {
	compileErr := errors.New(`custom_rules[0] (id "block-admin").when: line 1: boom`)
	e := newEnv(t, func(p *wafv1.WafPolicy) error {
		if p.GetLabels()["engine"] == "fail" {
			return compileErr
		}
		return nil
	})
	c := e.clients[1]
	if _, err := c.CreatePolicy(e.ctx, &wafv1.CreatePolicyRequest{Policy: strict()}); err != nil {
		t.Fatal(err)
	}
	many := make([]*wafv1.CustomRule, MaxCustomRules+1)
	for i := range many {
		many[i] = &wafv1.CustomRule{Id: fmt.Sprintf("r%d", i), When: `Path("/")`, Action: wafv1.WafRuleAction_WAF_RULE_ACTION_LOG}
	}
	for _, tc := range []struct {
		name  string
		edit  func(p *wafv1.WafPolicy)
		field string
	}{
		{"name taken", func(p *wafv1.WafPolicy) {}, "name"},
		{"bad name", func(p *wafv1.WafPolicy) { p.Name = "Strict!" }, "name"},
		{"paranoia", func(p *wafv1.WafPolicy) { p.Name, p.ParanoiaLevel = "b", 5 }, "paranoia_level"},
		{"rule syntax", func(p *wafv1.WafPolicy) { p.Name = "c"; p.CustomRules[0].When = `PathPrefix("/admin"` }, `custom_rules[0] (id "block-admin").when`},
		{"rule too long", func(p *wafv1.WafPolicy) { p.Name = "d"; p.CustomRules[0].When = strings.Repeat(" ", MaxWhenBytes+1) }, `custom_rules[0] (id "block-admin").when`},
		{"rule status", func(p *wafv1.WafPolicy) { p.Name = "e"; p.CustomRules[0].Status = 200 }, `custom_rules[0] (id "block-admin").status`},
		{"duplicate id", func(p *wafv1.WafPolicy) { p.Name = "f"; p.CustomRules = append(p.CustomRules, p.CustomRules[0]) }, `custom_rules[1] (id "block-admin").id`},
		{"too many rules", func(p *wafv1.WafPolicy) { p.Name = "g"; p.CustomRules = many }, "custom_rules"},
		{"exclusion", func(p *wafv1.WafPolicy) {
			p.Name = "h"
			p.Exclusions = []*wafv1.RuleExclusion{{RuleIds: []string{"942100-9421"}}}
		}, "exclusions[0].rule_ids[0]"},
		{"target", func(p *wafv1.WafPolicy) {
			p.Name = "i"
			p.Exclusions = []*wafv1.RuleExclusion{{Tags: []string{"attack-sqli"}, Targets: []string{"ARGS:a b"}}}
		}, "exclusions[0].targets[0]"},
		{"body limit", func(p *wafv1.WafPolicy) {
			p.Name = "j"
			p.RequestBody = &wafv1.BodyInspection{Enabled: true, LimitBytes: MaxBodyLimit + 1}
		}, "request_body.limit_bytes"},
		{"response body limit", func(p *wafv1.WafPolicy) {
			p.Name, p.InspectResponses, p.ResponseBodyLimitBytes = "m", true, MaxBodyLimit+1
		}, "response_body_limit_bytes"},
		{"response body limit without responses", func(p *wafv1.WafPolicy) { p.Name, p.ResponseBodyLimitBytes = "n", 1024 }, "response_body_limit_bytes"},
		{"partition", func(p *wafv1.WafPolicy) { p.Name, p.PartitionIds = "k", []string{"mars"} }, "partition_ids[0]"},
		{"engine", func(p *wafv1.WafPolicy) { p.Name, p.Labels = "l", map[string]string{"engine": "fail"} }, `custom_rules[0] (id "block-admin").when`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := strict()
			tc.edit(p)
			_, err := c.CreatePolicy(e.ctx, &wafv1.CreatePolicyRequest{Policy: p})
			if code(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), tc.field+":") {
				t.Fatalf("want invalid_argument on %s, got %v", tc.field, err)
			}
		})
	}
	// Response inspection is accepted, with its body limit.
	resp := strict()
	resp.Name, resp.InspectResponses, resp.ResponseBodyLimitBytes = "responses", true, 65536
	if res, err := c.CreatePolicy(e.ctx, &wafv1.CreatePolicyRequest{Policy: resp, ValidateOnly: true}); err != nil || !res.GetPolicy().GetInspectResponses() || res.GetPolicy().GetResponseBodyLimitBytes() != 65536 {
		t.Fatalf("inspect_responses: %v %v, want it accepted with its limit", res.GetPolicy(), err)
	}
	if _, err := c.GetPolicy(e.ctx, &wafv1.GetPolicyRequest{PolicyId: "nope"}); code(err) != connect.CodeNotFound {
		t.Fatalf("get unknown: %v", err)
	}
	stale := uint64(1)
	if _, err := c.UpdatePolicy(e.ctx, &wafv1.UpdatePolicyRequest{PolicyId: "strict", Policy: strict(), ExpectedVersion: &stale}); code(err) != connect.CodeAborted {
		t.Fatalf("stale update: %v", err)
	}
	// validate_only stores nothing.
	p := strict()
	p.Name = "dry"
	if _, err := c.CreatePolicy(e.ctx, &wafv1.CreatePolicyRequest{Policy: p, ValidateOnly: true}); err != nil {
		t.Fatal(err)
	}
	ls, err := c.ListPolicies(e.ctx, &wafv1.ListPoliciesRequest{})
	if err != nil || len(ls.GetPolicies()) != 1 || ls.GetPolicies()[0].GetName() != "strict" {
		t.Fatalf("list: %v, %v", ls, err)
	}
}

// The real engine (what internal/stack wires): a policy it compiles is
// stored, one naming a rule the Core Rule Set does not have is refused with
// the field.
func TestEngineRefusals(t *testing.T) {
	e := newEnv(t, wafengine.Validate)
	c := e.clients[0]
	p := strict()
	p.Exclusions = []*wafv1.RuleExclusion{{RuleIds: []string{"942100"}, PathPrefixes: []string{"/search"}}}
	if _, err := c.CreatePolicy(e.ctx, &wafv1.CreatePolicyRequest{Policy: p}); err != nil {
		t.Fatal(err)
	}
	p.Name, p.Exclusions = "unknown-rule", []*wafv1.RuleExclusion{{RuleIds: []string{"999999"}}}
	_, err := c.CreatePolicy(e.ctx, &wafv1.CreatePolicyRequest{Policy: p})
	if code(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "exclusions[0].rule_ids[0]: ") || !strings.Contains(err.Error(), "999999") {
		t.Fatalf("unknown CRS rule: %v", err)
	}
}

// publish sends a hit as node does.
func (e *env) publish(t *testing.T, node string, h *wafv1.WafHit) {
	t.Helper()
	data, err := proto.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.nc.Publish(natsutil.WafHitSubject(node), data); err != nil {
		t.Fatal(err)
	}
}

func TestHitsListedWatchedAndCounted(t *testing.T) {
	e := newEnv(t, nil)
	c := e.clients[0]
	t0 := time.Now().Add(-time.Minute)
	watch, err := c.WatchHits(e.ctx, &wafv1.WatchHitsRequest{AppId: "app_1"})
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close()
	for i := range 5 {
		app := "app_1"
		if i%2 == 1 {
			app = "app_2"
		}
		e.publish(t, "node_a", &wafv1.WafHit{Time: timestamppb.New(t0.Add(time.Duration(i) * time.Second)), NodeId: "forged", AppId: app,
			PolicyId: "wafp_1", RequestId: fmt.Sprintf("req-%d", i), Action: "block", Status: 403,
			Matches: []*wafv1.RuleMatch{{RuleId: "942100"}, {RuleId: "custom:block-admin"}}})
	}
	e.publish(t, "node_a", &wafv1.WafHit{Time: timestamppb.New(t0.Add(10 * time.Second)), AppId: "app_1", PolicyId: "wafp_1",
		RequestId: "req-log", Action: "detect", Matches: []*wafv1.RuleMatch{{RuleId: "942100"}}})
	if err := e.nc.Publish(natsutil.WafHitSubject("node_a"), []byte("not a hit")); err != nil {
		t.Fatal(err)
	}
	// The stream of app_1: its four hits, in order, live.
	var watched []string
	for len(watched) < 4 && watch.Receive() {
		if h := watch.Msg().GetHit(); h != nil {
			watched = append(watched, h.GetRequestId())
		}
	}
	if want := []string{"req-0", "req-2", "req-4", "req-log"}; !slices.Equal(watched, want) {
		t.Fatalf("watched %v (%v), want %v", watched, watch.Err(), want)
	}
	ls, err := c.ListHits(e.ctx, &wafv1.ListHitsRequest{AppId: "app_1"})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, h := range ls.GetHits() {
		ids = append(ids, h.GetRequestId())
		if h.GetNodeId() != "node_a" {
			t.Fatalf("node id %q: the subject's must win", h.GetNodeId())
		}
	}
	if want := []string{"req-log", "req-4", "req-2", "req-0"}; !slices.Equal(ids, want) {
		t.Fatalf("listed %v, want %v (newest first)", ids, want)
	}
	ls, _ = c.ListHits(e.ctx, &wafv1.ListHitsRequest{PolicyId: "wafp_1", Since: timestamppb.New(t0.Add(3 * time.Second)), PageSize: 2})
	if len(ls.GetHits()) != 2 || ls.GetHits()[0].GetRequestId() != "req-log" || ls.GetHits()[1].GetRequestId() != "req-4" {
		t.Fatalf("since + page: %v", ls.GetHits())
	}
	st, err := c.GetRuleStats(e.ctx, &wafv1.GetRuleStatsRequest{AppId: "app_1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.GetRules()) != 2 || st.GetRules()[0].GetRuleId() != "942100" || st.GetRules()[0].GetHits() != 4 || st.GetRules()[0].GetBlocked() != 3 ||
		st.GetRules()[1].GetHits() != 3 {
		t.Fatalf("stats %v", st.GetRules())
	}
	// A new watcher with since replays what it missed first.
	w2, err := c.WatchHits(e.ctx, &wafv1.WatchHitsRequest{AppId: "app_2", Since: timestamppb.New(t0)})
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	var replay []string
	for len(replay) < 2 && w2.Receive() {
		if h := w2.Msg().GetHit(); h != nil {
			replay = append(replay, h.GetRequestId())
		}
	}
	if !slices.Equal(replay, []string{"req-1", "req-3"}) {
		t.Fatalf("replayed %v", replay)
	}
}

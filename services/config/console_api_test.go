package config

import (
	"strings"
	"testing"

	"connectrpc.com/connect"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

// validate_only on CreateRule and UpdateRule (AIP-163) runs every check,
// answers the rule as it would be stored, and writes nothing.
func TestRuleValidateOnly(t *testing.T) {
	e := newEnv(t, envOptions{})
	c, ctx := e.client, e.ctx
	app := must(c.CreateApp(ctx, &configv1.CreateAppRequest{Name: "shop", Domains: []string{"shop.example.com"}}))(t).App
	up := must(c.CreateUpstream(ctx, &configv1.CreateUpstreamRequest{AppId: app.Id, Upstream: sampleUpstream("web", "10.0.0.1:80")}))(t)
	version := up.Version

	bad := proxyRule("api", "PathPrefix(", "web")
	_, err := c.CreateRule(ctx, &configv1.CreateRuleRequest{AppId: app.Id, Rule: bad, ValidateOnly: true})
	wantField(t, err, "rule.when")
	_, err = c.CreateRule(ctx, &configv1.CreateRuleRequest{AppId: app.Id, Rule: proxyRule("api", "", "missing"), ValidateOnly: true})
	wantCode(t, err, connect.CodeInvalidArgument)

	good := proxyRule("api", "PathPrefix(`/api`)", "web")
	got := must(c.CreateRule(ctx, &configv1.CreateRuleRequest{AppId: app.Id, Rule: good, ValidateOnly: true, ExpectedVersion: &version}))(t)
	if got.Rule.GetName() != "api" || got.Version != version {
		t.Fatalf("validate-only create answered rule %v version %d, want rule api at version %d", got.Rule, got.Version, version)
	}
	// A stale expected_version is still a conflict.
	stale := version - 1
	_, err = c.CreateRule(ctx, &configv1.CreateRuleRequest{AppId: app.Id, Rule: good, ValidateOnly: true, ExpectedVersion: &stale})
	wantCode(t, err, connect.CodeAborted)
	if a := must(c.GetApp(ctx, &configv1.GetAppRequest{AppId: app.Id}))(t); len(a.App.Rules) != 0 || a.Version != version {
		t.Fatalf("validate-only create wrote: %d rules, version %d (was %d)", len(a.App.Rules), a.Version, version)
	}

	stored := must(c.CreateRule(ctx, &configv1.CreateRuleRequest{AppId: app.Id, Rule: good}))(t)
	version = stored.Version
	changed := proxyRule("api", "PathPrefix(`/v2`)", "web")
	changed.Id = stored.Rule.Id
	got2 := must(c.UpdateRule(ctx, &configv1.UpdateRuleRequest{AppId: app.Id, Rule: changed, ValidateOnly: true}))(t)
	if got2.Rule.GetWhen() != "PathPrefix(`/v2`)" || got2.Rule.GetId() != stored.Rule.Id || got2.Version != version {
		t.Fatalf("validate-only update answered %v version %d", got2.Rule, got2.Version)
	}
	changed.When = "Nope("
	_, err = c.UpdateRule(ctx, &configv1.UpdateRuleRequest{AppId: app.Id, Rule: changed, ValidateOnly: true})
	wantField(t, err, "rule.when")
	// Unchanged content answers the stored rule.
	got3 := must(c.UpdateRule(ctx, &configv1.UpdateRuleRequest{AppId: app.Id, Rule: stored.Rule, ValidateOnly: true}))(t)
	if got3.Rule.GetWhen() != "PathPrefix(`/api`)" {
		t.Fatalf("validate-only update without change answered %v", got3.Rule)
	}
	if a := must(c.GetApp(ctx, &configv1.GetAppRequest{AppId: app.Id}))(t); a.App.Rules[0].When != "PathPrefix(`/api`)" || a.Version != version {
		t.Fatalf("validate-only update wrote: rule %v, version %d (was %d)", a.App.Rules[0], a.Version, version)
	}
}

// DiffApp with to_release compares the newest release with an older one:
// what RevertApp to it would release.
func TestDiffToRelease(t *testing.T) {
	e := newEnv(t, envOptions{})
	c, ctx := e.client, e.ctx
	app := must(c.CreateApp(ctx, &configv1.CreateAppRequest{Name: "shop", Domains: []string{"shop.example.com"}}))(t).App
	must(c.CreateUpstream(ctx, &configv1.CreateUpstreamRequest{AppId: app.Id, Upstream: sampleUpstream("web", "10.0.0.1:80")}))(t)
	must(c.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: app.Id, Note: "one"}))(t)
	must(c.UpdateUpstream(ctx, &configv1.UpdateUpstreamRequest{AppId: app.Id, Upstream: sampleUpstream("web", "10.0.0.9:80")}))(t)
	must(c.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: app.Id, Note: "two"}))(t)
	// A pending change is not part of the comparison.
	must(c.UpdateUpstream(ctx, &configv1.UpdateUpstreamRequest{AppId: app.Id, Upstream: sampleUpstream("web", "10.0.0.5:80")}))(t)

	one := uint64(1)
	d := must(c.DiffApp(ctx, &configv1.DiffAppRequest{AppId: "shop", ToRelease: &one}))(t)
	for _, want := range []string{"--- release 2", "+++ release 1", "-", "10.0.0.9:80", "10.0.0.1:80"} {
		if !strings.Contains(d.Text, want) {
			t.Fatalf("diff to release 1 lacks %q:\n%s", want, d.Text)
		}
	}
	if strings.Contains(d.Text, "10.0.0.5:80") || len(d.Changes) != 0 {
		t.Fatalf("diff to release 1 shows the working copy:\n%s\n%v", d.Text, d.Changes)
	}
	if !strings.Contains(d.ReleasedJson, "10.0.0.9:80") || !strings.Contains(d.PendingJson, "10.0.0.1:80") {
		t.Fatalf("released_json %s / pending_json %s", d.ReleasedJson, d.PendingJson)
	}
	for _, n := range []uint64{0, 3} {
		_, err := c.DiffApp(ctx, &configv1.DiffAppRequest{AppId: app.Id, ToRelease: &n})
		wantField(t, err, "to_release")
	}
}

package config

import (
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/gen/strata/config/v1/configv1connect"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/pkg/configevents"
)

// snapshotOf returns the parsed snapshot of a partition track through the API.
func snapshotOf(t *testing.T, c configv1connect.ConfigServiceClient, e *env, partition string, staging bool) (*configv1.GetSnapshotResponse, *syncv1.Snapshot) {
	t.Helper()
	res := must(c.GetSnapshot(e.ctx, &configv1.GetSnapshotRequest{Partition: partition, Staging: staging}))(t)
	var s syncv1.Snapshot
	if err := protojson.Unmarshal([]byte(res.Json), &s); err != nil {
		t.Fatalf("snapshot json: %v", err)
	}
	return res, &s
}

func serversOf(u *configv1.Upstream) string {
	var s []string
	for _, srv := range u.Servers {
		s = append(s, srv.Address)
	}
	return strings.Join(s, ",")
}

// TestAppLifecycle walks an app through create, edit, diff, release, revert,
// revert of a revert, object revert, delete and release of the deletion,
// with both a Connect and a gRPC client.
func TestAppLifecycle(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, proto := range []struct {
		name   string
		client configv1connect.ConfigServiceClient
	}{{"connect", e.client}, {"grpc", e.grpc}} {
		t.Run(proto.name, func(t *testing.T) {
			testAppLifecycle(t, e, proto.client, proto.name)
		})
	}
}

func testAppLifecycle(t *testing.T, e *env, c configv1connect.ConfigServiceClient, name string) {
	ctx := e.ctx
	domain := name + ".Example.COM."
	created := must(c.CreateApp(ctx, &configv1.CreateAppRequest{Name: "shop-" + name, Domains: []string{domain}}))(t)
	app := created.App
	if app.Domains[0] != name+".example.com" || len(app.HttpPorts) != 1 || app.HttpPorts[0] != 80 {
		t.Fatalf("created app not normalized: %v", app)
	}
	if len(app.PartitionIds) != 1 {
		t.Fatalf("app not in the default partition: %v", app)
	}
	v := created.Version
	stored := must(e.store.ReadStream(ctx, appStream(app.Id), 0))(t)
	if md := stored[0].Metadata; stored[0].Type != configevents.TypeAppCreated || md.Actor != "alice" || md.RequestID != "req-CreateApp" || md.Time.IsZero() {
		t.Fatalf("event metadata: %s %+v", stored[0].Type, md)
	}

	up := must(c.CreateUpstream(ctx, &configv1.CreateUpstreamRequest{AppId: app.Id, ExpectedVersion: &v,
		Upstream: sampleUpstream("web", "10.0.0.1:80")}))(t)
	if up.Upstream.Id == "" || up.Upstream.Policy != configv1.BalancePolicy_BALANCE_POLICY_ROUND_ROBIN || up.Version <= v {
		t.Fatalf("upstream: %v version %d", up.Upstream, up.Version)
	}
	rule := must(c.CreateRule(ctx, &configv1.CreateRuleRequest{AppId: app.Id, Rule: proxyRule("api", "PathPrefix(`/api`)", "web")}))(t)

	diff := must(c.DiffApp(ctx, &configv1.DiffAppRequest{AppId: app.Id}))(t)
	if len(diff.Changes) != 3 || diff.Changes[0].Type != configevents.TypeAppCreated || diff.Changes[2].Type != configevents.TypeRuleCreated {
		t.Fatalf("diff changes: %v", diff.Changes)
	}
	if diff.Changes[1].Actor != "alice" || !strings.Contains(diff.Changes[1].Summary, "upstream web created: servers 10.0.0.1:80=1") {
		t.Fatalf("change summary: %v", diff.Changes[1])
	}
	if diff.ReleasedJson != "" || !strings.Contains(diff.Text, "+  \"name\": \"shop-"+name+"\"") {
		t.Fatalf("diff of a new app:\n%s", diff.Text)
	}

	r1 := must(c.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: app.Id, Note: "first"}))(t)
	if r1.Release.Number != 1 || r1.Release.Kind != "release" || r1.Release.Actor != "alice" || r1.Release.Position != r1.Version {
		t.Fatalf("release 1: %v", r1.Release)
	}
	snapRes, snap := snapshotOf(t, c, e, "default", false)
	if !snapRes.Consistent || snap.Version != r1.Release.Position {
		t.Fatalf("snapshot after release 1: version %d consistent %v", snap.Version, snapRes.Consistent)
	}
	inSnap := findApp(snap, app.Id)
	if inSnap == nil || inSnap.Release != 1 || len(inSnap.Rules) != 1 {
		t.Fatalf("app in snapshot: %v", inSnap)
	}
	if d := must(c.DiffApp(ctx, &configv1.DiffAppRequest{AppId: app.Id}))(t); len(d.Changes) != 0 || d.Text != "" {
		t.Fatalf("diff after release: %v %q", d.Changes, d.Text)
	}

	// Edit: pending until released; the snapshot keeps release 1.
	upd := sampleUpstream("web", "10.0.0.2:80")
	upd.Id = up.Upstream.Id
	must(c.UpdateUpstream(ctx, &configv1.UpdateUpstreamRequest{AppId: app.Id, Upstream: upd}))(t)
	diff = must(c.DiffApp(ctx, &configv1.DiffAppRequest{AppId: app.Id}))(t)
	if len(diff.Changes) != 1 || diff.Changes[0].Summary != "upstream web updated: servers 10.0.0.1:80=1 -> 10.0.0.2:80=1" {
		t.Fatalf("diff of an upstream update: %v", diff.Changes)
	}
	if !strings.Contains(diff.Text, `-          "address": "10.0.0.1:80",`) || !strings.Contains(diff.Text, `+          "address": "10.0.0.2:80",`) {
		t.Fatalf("diff text:\n%s", diff.Text)
	}
	if _, s := snapshotOf(t, c, e, "default", false); serversOf(findApp(s, app.Id).Upstreams[0]) != "10.0.0.1:80" {
		t.Fatal("pending change reached the snapshot")
	}
	r2 := must(c.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: app.Id, Note: "move web"}))(t)

	// Revert to release 1, then revert the revert, then revert one object.
	r3 := must(c.RevertApp(ctx, &configv1.RevertAppRequest{AppId: app.Id, ToRelease: 1, Note: "back"}))(t)
	if r3.Release.Number != 3 || r3.Release.Kind != "revert" || r3.Release.RevertedTo != 1 {
		t.Fatalf("revert: %v", r3.Release)
	}
	got := must(c.GetApp(ctx, &configv1.GetAppRequest{AppId: app.Id}))(t)
	if serversOf(got.Released.Upstreams[0]) != "10.0.0.1:80" || got.Released.Release != 3 || got.PendingChanges != 0 || got.LatestRelease != 3 {
		t.Fatalf("after revert to 1: %v", got)
	}
	r4 := must(c.RevertApp(ctx, &configv1.RevertAppRequest{AppId: app.Id, ToRelease: 3 - 1}))(t)
	got = must(c.GetApp(ctx, &configv1.GetAppRequest{AppId: app.Id}))(t)
	if r4.Release.Number != 4 || serversOf(got.Released.Upstreams[0]) != "10.0.0.2:80" {
		t.Fatalf("revert of the revert: %v %v", r4.Release, got.Released)
	}
	r5 := must(c.RevertApp(ctx, &configv1.RevertAppRequest{AppId: app.Id, ToRelease: 3}))(t)
	got = must(c.GetApp(ctx, &configv1.GetAppRequest{AppId: app.Id}))(t)
	if r5.Release.Number != 5 || serversOf(got.Released.Upstreams[0]) != "10.0.0.1:80" {
		t.Fatalf("revert to a revert release: %v", got.Released)
	}

	// Object revert: change upstream and rule, revert only the upstream.
	upd.Servers[0].Address = "10.0.0.3:80"
	must(c.UpdateUpstream(ctx, &configv1.UpdateUpstreamRequest{AppId: app.Id, Upstream: upd}))(t)
	changedRule := proxyRule("api", "PathPrefix(`/v2`)", "web")
	changedRule.Id = rule.Rule.Id
	must(c.UpdateRule(ctx, &configv1.UpdateRuleRequest{AppId: app.Id, Rule: changedRule}))(t)
	must(c.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: app.Id}))(t) // 6
	r7 := must(c.RevertObject(ctx, &configv1.RevertObjectRequest{AppId: app.Id, Kind: "upstream", Object: "web", ToRelease: 2}))(t)
	if r7.Release.Kind != "object_revert" || r7.Release.Object != "upstream/web" || r7.Release.RevertedTo != 2 {
		t.Fatalf("object revert: %v", r7.Release)
	}
	got = must(c.GetApp(ctx, &configv1.GetAppRequest{AppId: app.Id}))(t)
	if serversOf(got.Released.Upstreams[0]) != "10.0.0.2:80" || got.Released.Rules[0].When != "PathPrefix(`/v2`)" {
		t.Fatalf("object revert changed more than the upstream: %v", got.Released)
	}
	if !proto.Equal(stripRelease(got.App), stripRelease(got.Released)) {
		t.Fatalf("working copy differs from the object revert release:\n%v\n%v", got.App, got.Released)
	}

	rels := must(c.ListReleases(ctx, &configv1.ListReleasesRequest{AppId: app.Id}))(t)
	if len(rels.Releases) != 7 || rels.Releases[0].Number != 7 || rels.Releases[6].Note != "first" || r2.Release.Note != "move web" {
		t.Fatalf("releases: %v", rels.Releases)
	}

	// Delete is pending until released.
	del := must(c.DeleteApp(ctx, &configv1.DeleteAppRequest{AppId: app.Id}))(t)
	if _, s := snapshotOf(t, c, e, "default", false); findApp(s, app.Id) == nil {
		t.Fatal("pending deletion removed the app from the snapshot")
	}
	_, err := c.CreateUpstream(ctx, &configv1.CreateUpstreamRequest{AppId: app.Id, Upstream: sampleUpstream("x", "10.0.0.9:80")})
	wantCode(t, err, connect.CodeFailedPrecondition)
	r8 := must(c.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: app.Id, ExpectedVersion: &del.Version}))(t)
	snapRes, s := snapshotOf(t, c, e, "default", false)
	if findApp(s, app.Id) != nil || s.Version != r8.Release.Position || !snapRes.Consistent {
		t.Fatalf("released deletion: app still in snapshot %d", s.Version)
	}
	list := must(c.ListApps(ctx, &configv1.ListAppsRequest{}))(t)
	for _, a := range list.Apps {
		if a.Id == app.Id && (!a.Deleted || a.LatestRelease != 8) {
			t.Fatalf("summary of the deleted app: %v", a)
		}
	}
	// The name is free again once the deletion is released.
	must(c.CreateApp(ctx, &configv1.CreateAppRequest{Name: "shop-" + name, Domains: []string{domain}}))(t)
}

func findApp(s *syncv1.Snapshot, id string) *configv1.App {
	for _, a := range s.Apps {
		if a.Id == id {
			return a
		}
	}
	return nil
}

func stripRelease(a *configv1.App) *configv1.App {
	c := proto.Clone(a).(*configv1.App)
	c.Release = 0
	return c
}

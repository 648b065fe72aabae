package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/services/edgesync/edgesynctest"
)

// TestDomainConflictAcrossApps: a domain belongs to one app per partition,
// and stays taken until the release that removes it.
func TestDomainConflictAcrossApps(t *testing.T) {
	e := newEnv(t, envOptions{})
	c, ctx := e.client, e.ctx
	must(c.CreatePartition(ctx, &configv1.CreatePartitionRequest{Name: "eu"}))(t)
	a := must(c.CreateApp(ctx, &configv1.CreateAppRequest{Name: "a", Domains: []string{"shop.example.com", "*.example.org"}}))(t).App
	must(c.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: a.Id}))(t)

	_, err := c.CreateApp(ctx, &configv1.CreateAppRequest{Name: "b", Domains: []string{"x.example.com", "SHOP.example.com"}})
	v := wantField(t, err, "domains[1]")
	if !strings.Contains(v.Reason, `app "a" (`+a.Id+`)`) {
		t.Fatalf("conflict does not name the other app: %q", v.Reason)
	}
	// Same domain in another partition, and a name below a wildcard, are fine.
	b := must(c.CreateApp(ctx, &configv1.CreateAppRequest{Name: "b", Domains: []string{"shop.example.com", "www.example.org"}, Partitions: []string{"eu"}}))(t).App
	// Moving b into a's partition conflicts.
	_, err = c.UpdateApp(ctx, &configv1.UpdateAppRequest{AppId: b.Id, Domains: []string{"shop.example.com"}, Partitions: []string{"eu", "default"}})
	wantField(t, err, "domains[0]")

	// a drops the domain: still live until a releases.
	must(c.UpdateApp(ctx, &configv1.UpdateAppRequest{AppId: a.Id, Domains: []string{"*.example.org"}}))(t)
	_, err = c.UpdateApp(ctx, &configv1.UpdateAppRequest{AppId: b.Id, Domains: []string{"shop.example.com"}, Partitions: []string{"eu", "default"}})
	wantField(t, err, "domains[0]")
	must(c.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: a.Id}))(t)
	must(c.UpdateApp(ctx, &configv1.UpdateAppRequest{AppId: b.Id, Domains: []string{"shop.example.com"}, Partitions: []string{"eu", "default"}}))(t)
	must(c.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: b.Id}))(t)

	// Reverting a to release 1 would bring the domain back: refused.
	before := e.head()
	_, err = c.RevertApp(ctx, &configv1.RevertAppRequest{AppId: a.Id, ToRelease: 1})
	ce := wantCode(t, err, connect.CodeFailedPrecondition)
	if !strings.Contains(ce.Message(), "shop.example.com") || !strings.Contains(ce.Message(), b.Id) {
		t.Fatalf("revert conflict message: %s", ce.Message())
	}
	if e.head() != before {
		t.Fatal("refused revert stored events")
	}
	res, _ := snapshotOf(t, c, e, "default", false)
	if !res.Consistent || res.Apps != 2 {
		t.Fatalf("snapshot: %d apps, consistent %v", res.Apps, res.Consistent)
	}
}

// TestStagingRelease: a staging release changes only the staging track;
// PromoteRelease makes it stable, a release without changes is refused.
func TestStagingRelease(t *testing.T) {
	e := newEnv(t, envOptions{})
	c, ctx := e.client, e.ctx
	app := must(c.CreateApp(ctx, &configv1.CreateAppRequest{Name: "a", Domains: []string{"a.example.com"}}))(t).App
	must(c.CreateUpstream(ctx, &configv1.CreateUpstreamRequest{AppId: app.Id, Upstream: sampleUpstream("web", "10.0.0.1:80")}))(t)
	r1 := must(c.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: app.Id}))(t)

	_, stable := snapshotOf(t, c, e, "default", false)
	_, staging := snapshotOf(t, c, e, "default", true)
	if stable.Version != r1.Release.Position || staging.Version != r1.Release.Position {
		t.Fatalf("a normal release moves both tracks: stable %d staging %d, release at %d", stable.Version, staging.Version, r1.Release.Position)
	}

	must(c.UpdateUpstream(ctx, &configv1.UpdateUpstreamRequest{AppId: app.Id, Upstream: sampleUpstream("web", "10.0.0.2:80")}))(t)
	r2 := must(c.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: app.Id, Staging: true}))(t)
	if !r2.Release.Staging || r2.Release.Number != 2 {
		t.Fatalf("staging release: %v", r2.Release)
	}
	_, stable = snapshotOf(t, c, e, "default", false)
	_, staging = snapshotOf(t, c, e, "default", true)
	if stable.Version != r1.Release.Position || serversOf(findApp(stable, app.Id).Upstreams[0]) != "10.0.0.1:80" {
		t.Fatalf("staging release changed the stable track: %v", stable)
	}
	if staging.Version != r2.Release.Position || serversOf(findApp(staging, app.Id).Upstreams[0]) != "10.0.0.2:80" || findApp(staging, app.Id).Release != 2 {
		t.Fatalf("staging track: %v", staging)
	}

	// Nothing pending, the stable track lags: a release is refused (it
	// would be empty) and names the promote command.
	before := e.head()
	_, err := c.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: app.Id, Note: "promote?"})
	ce := wantCode(t, err, connect.CodeFailedPrecondition)
	if !strings.Contains(ce.Message(), "nothing to release") || !strings.Contains(ce.Message(), "strata release promote --app "+app.Id) {
		t.Fatalf("release of a staging release: %s", ce.Message())
	}
	if e.head() != before {
		t.Fatal("refused release stored events")
	}
	apps := must(c.ListApps(ctx, &configv1.ListAppsRequest{}))(t).Apps
	if apps[0].StableRelease != 1 || apps[0].StagingRelease != 2 || apps[0].LatestRelease != 2 {
		t.Fatalf("app list after a staging release: %v", apps[0])
	}

	// A pending change on top does not go out with the promotion.
	must(c.UpdateUpstream(ctx, &configv1.UpdateUpstreamRequest{AppId: app.Id, Upstream: sampleUpstream("web", "10.0.0.3:80")}))(t)
	p := must(c.PromoteRelease(ctx, &configv1.PromoteReleaseRequest{AppId: app.Id, Note: "promote"}))(t)
	if p.Release.Number != 2 || p.Release.PromotedTime == nil {
		t.Fatalf("promoted release: %v", p.Release)
	}
	_, stable = snapshotOf(t, c, e, "default", false)
	if stable.Version != p.Version || serversOf(findApp(stable, app.Id).Upstreams[0]) != "10.0.0.2:80" || findApp(stable, app.Id).Release != 2 {
		t.Fatalf("promotion: version %d (promotion at %d), %v", stable.Version, p.Version, stable)
	}
	got := must(c.GetApp(ctx, &configv1.GetAppRequest{AppId: app.Id}))(t)
	if got.PendingChanges != 1 || got.LatestRelease != 2 {
		t.Fatalf("after promotion: %d pending, latest release %d", got.PendingChanges, got.LatestRelease)
	}
	rl := must(c.ListReleases(ctx, &configv1.ListReleasesRequest{AppId: app.Id}))(t)
	if rl.StableRelease != 2 || rl.StagingRelease != 2 || len(rl.Releases) != 2 || rl.Releases[0].PromotedTime == nil {
		t.Fatalf("release list after promotion: %v", rl)
	}
	// Nothing left to promote.
	_, err = c.PromoteRelease(ctx, &configv1.PromoteReleaseRequest{AppId: app.Id})
	ce = wantCode(t, err, connect.CodeFailedPrecondition)
	if !strings.Contains(ce.Message(), "nothing to promote") {
		t.Fatalf("second promotion: %s", ce.Message())
	}
	r3 := must(c.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: app.Id}))(t)
	// Now nothing is pending and nothing lags.
	_, err = c.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: app.Id})
	wantCode(t, err, connect.CodeFailedPrecondition)

	// Nodes report their track's newest version.
	must(c.CreateCluster(ctx, &configv1.CreateClusterRequest{Name: "edge", Partition: "default"}))(t)
	must(c.RegisterNode(ctx, &configv1.RegisterNodeRequest{Name: "n1", Cluster: "edge", Staging: true}))(t)
	nodes := must(c.ListNodes(ctx, &configv1.ListNodesRequest{Cluster: "edge"}))(t).Nodes
	if len(nodes) != 1 || nodes[0].PartitionId != app.PartitionIds[0] || nodes[0].LatestVersion != r3.Release.Position {
		t.Fatalf("nodes: %v", nodes)
	}
}

// deltasOf reads every delta of a track from the sync stream.
func deltasOf(t *testing.T, e *env, partition string, staging bool) []*syncv1.Delta {
	return edgesynctest.Deltas(t, e.ctx, e.js, partition, staging)
}

// storedSnapshot reads a track's snapshot from the Object Store.
func storedSnapshot(t *testing.T, e *env, partition string, staging bool) (*syncv1.Snapshot, string) {
	t.Helper()
	obs, err := e.js.ObjectStore(e.ctx, natsutil.SnapshotBucket(partition))
	if err != nil {
		t.Fatal(err)
	}
	data, err := obs.GetBytes(e.ctx, natsutil.SnapshotKey(staging))
	if err != nil {
		t.Fatal(err)
	}
	info, err := obs.GetInfo(e.ctx, natsutil.SnapshotKey(staging))
	if err != nil {
		t.Fatal(err)
	}
	var b syncv1.Bundle
	if err := proto.Unmarshal(data, &b); err != nil {
		t.Fatal(err)
	}
	return viewOf(t, &b), info.Metadata["version"]
}

// applyDeltas folds a chain of deltas into a snapshot, the way a node does,
// failing on a gap.
func applyDeltas(t *testing.T, partition string, staging bool, deltas []*syncv1.Delta) *syncv1.Snapshot {
	t.Helper()
	apps := map[string]*configv1.App{}
	var version uint64
	for _, d := range deltas {
		if d.FromVersion != version {
			t.Fatalf("gap: delta %d->%d applied on version %d", d.FromVersion, d.ToVersion, version)
		}
		for _, a := range upsertsOf[*configv1.App](t, d, kindApp) {
			apps[a.Id] = a
		}
		for _, id := range deletesOf(d, kindApp) {
			if _, ok := apps[id]; !ok {
				t.Fatalf("delta %d deletes app %s that is not there", d.ToVersion, id)
			}
			delete(apps, id)
		}
		version = d.ToVersion
	}
	s := &syncv1.Snapshot{PartitionId: partition, Staging: staging, Version: version}
	for _, a := range apps {
		s.Apps = append(s.Apps, a)
	}
	sortApps(s.Apps)
	return s
}

func sortApps(apps []*configv1.App) {
	for i := 1; i < len(apps); i++ {
		for j := i; j > 0 && apps[j].Id < apps[j-1].Id; j-- {
			apps[j], apps[j-1] = apps[j-1], apps[j]
		}
	}
}

func sameApps(a, b *syncv1.Snapshot) error {
	if a.Version != b.Version || len(a.Apps) != len(b.Apps) {
		return fmt.Errorf("version %d with %d apps vs version %d with %d apps", a.Version, len(a.Apps), b.Version, len(b.Apps))
	}
	for i := range a.Apps {
		if !proto.Equal(a.Apps[i], b.Apps[i]) {
			return fmt.Errorf("app %d differs:\n%v\n%v", i, a.Apps[i], b.Apps[i])
		}
	}
	return nil
}

// TestPublishAndRestart: deltas and snapshots reach JetStream; the delta
// chain rebuilds the snapshot; a restarted service rebuilds the same state
// from the log and publishes nothing twice.
func TestPublishAndRestart(t *testing.T) {
	e := newEnv(t, envOptions{publish: true})
	c, ctx := e.client, e.ctx
	must(c.CreatePartition(ctx, &configv1.CreatePartitionRequest{Name: "eu"}))(t)
	a := must(c.CreateApp(ctx, &configv1.CreateAppRequest{Name: "a", Domains: []string{"a.example.com"}}))(t).App
	must(c.CreateUpstream(ctx, &configv1.CreateUpstreamRequest{AppId: a.Id, Upstream: sampleUpstream("web", "10.0.0.1:80")}))(t)
	must(c.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: a.Id}))(t)
	b := must(c.CreateApp(ctx, &configv1.CreateAppRequest{Name: "b", Domains: []string{"b.example.com"}, Partitions: []string{"default", "eu"}}))(t).App
	must(c.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: b.Id}))(t)
	must(c.UpdateUpstream(ctx, &configv1.UpdateUpstreamRequest{AppId: a.Id, Upstream: sampleUpstream("web", "10.0.0.2:80")}))(t)
	must(c.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: a.Id, Staging: true}))(t)
	// b leaves eu, a is deleted.
	must(c.UpdateApp(ctx, &configv1.UpdateAppRequest{AppId: b.Id, Domains: []string{"b.example.com"}, Partitions: []string{"default"}}))(t)
	must(c.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: b.Id}))(t)
	must(c.DeleteApp(ctx, &configv1.DeleteAppRequest{AppId: a.Id}))(t)
	must(c.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: a.Id}))(t)

	partitions := map[string]string{}
	for _, p := range must(c.ListPartitions(ctx, &configv1.ListPartitionsRequest{}))(t).Partitions {
		partitions[p.Name] = p.Id
	}
	type track struct {
		name    string
		staging bool
	}
	tracks := []track{{"default", false}, {"default", true}, {"eu", false}, {"eu", true}}
	wantDeltas := map[track]int{{"default", false}: 4, {"default", true}: 5, {"eu", false}: 2, {"eu", true}: 2}

	check := func() map[track][]*syncv1.Delta {
		t.Helper()
		checkFor(t, func() error {
			if !e.svc.pub.Idle() {
				return errors.New("publisher busy")
			}
			return nil
		})
		got := map[track][]*syncv1.Delta{}
		for _, tr := range tracks {
			pid := partitions[tr.name]
			deltas := deltasOf(t, e, pid, tr.staging)
			if len(deltas) != wantDeltas[tr] {
				t.Fatalf("%v: %d deltas, want %d", tr, len(deltas), wantDeltas[tr])
			}
			fromDeltas := applyDeltas(t, pid, tr.staging, deltas)
			current := e.svc.proj.snapshot(pid, tr.staging)
			if err := sameApps(fromDeltas, current); err != nil {
				t.Fatalf("%v: deltas do not rebuild the snapshot: %v", tr, err)
			}
			if err := Consistent(current); err != nil {
				t.Fatalf("%v: %v", tr, err)
			}
			stored, version := storedSnapshot(t, e, pid, tr.staging)
			if err := sameApps(stored, current); err != nil || version != fmt.Sprint(current.Version) {
				t.Fatalf("%v: stored snapshot (version %s): %v", tr, version, err)
			}
			got[tr] = deltas
		}
		return got
	}
	before := check()
	eu := e.svc.proj.snapshot(partitions["eu"], false)
	if len(eu.Apps) != 0 {
		t.Fatalf("eu still has apps: %v", eu.Apps)
	}
	last := before[track{"eu", false}][1]
	if len(last.Deletes) != 1 || deletesOf(last, kindApp)[0] != b.Id || len(last.Upserts) != 0 {
		t.Fatalf("b leaving eu: %v", last)
	}
	snapBefore := proto.Clone(e.svc.proj.snapshot(partitions["default"], true))
	streamBefore, err := e.js.Stream(ctx, natsutil.SyncStream)
	if err != nil {
		t.Fatal(err)
	}
	seqBefore := streamBefore.CachedInfo().State.LastSeq

	e.restart(envOptions{publish: true})
	after := check()
	for _, tr := range tracks {
		for i := range before[tr] {
			if !proto.Equal(before[tr][i], after[tr][i]) {
				t.Fatalf("%v: delta %d changed after restart", tr, i)
			}
		}
	}
	if !proto.Equal(snapBefore, e.svc.proj.snapshot(partitions["default"], true)) {
		t.Fatal("restart rebuilt a different snapshot")
	}
	st, err := e.js.Stream(ctx, natsutil.SyncStream)
	if err != nil {
		t.Fatal(err)
	}
	if n, m := e.svc.pub.DeltasSent.Load(), e.svc.pub.SnapshotsSent.Load(); n != 0 || m != 0 {
		t.Fatalf("restart sent %d deltas and %d snapshots again", n, m)
	}
	if st.CachedInfo().State.LastSeq != seqBefore {
		t.Fatalf("restart published again: last sequence %d -> %d", seqBefore, st.CachedInfo().State.LastSeq)
	}
	got := must(e.client.GetApp(ctx, &configv1.GetAppRequest{AppId: b.Id}))(t)
	if got.LatestRelease != 2 || len(got.App.PartitionIds) != 1 {
		t.Fatalf("app b after restart: %v", got)
	}

	// New releases after the restart continue the chain.
	must(e.client.UpdateApp(ctx, &configv1.UpdateAppRequest{AppId: b.Id, Domains: []string{"b.example.com", "c.example.com"}}))(t)
	must(e.client.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: b.Id}))(t)
	wantDeltas[track{"default", false}]++
	wantDeltas[track{"default", true}]++
	check()
	if n := e.svc.pub.DeltasSent.Load(); n != 2 {
		t.Fatalf("sent %d deltas for one release on two tracks", n)
	}
}

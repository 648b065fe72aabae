package config

import (
	"sync"
	"testing"
	"time"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/services/edgesync"
)

// fakeHeartbeats stands in for the nodes service's heartbeat table, which
// needs node credentials and a leaf link to fill (tested in services/nodes
// and end to end in e2e/).
type fakeHeartbeats struct {
	mu sync.Mutex
	m  map[string]edgesync.NodeStatus
}

func (f *fakeHeartbeats) set(id string, st edgesync.NodeStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.m[id] = st
}

func (f *fakeHeartbeats) NodeStatuses() map[string]edgesync.NodeStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]edgesync.NodeStatus, len(f.m))
	for k, v := range f.m {
		out[k] = v
	}
	return out
}

func TestListNodesSyncStatus(t *testing.T) {
	hb := &fakeHeartbeats{m: map[string]edgesync.NodeStatus{}}
	e := newEnv(t, envOptions{statuses: hb})
	c, ctx := e.client, e.ctx

	ids := map[string]string{}
	for _, name := range []string{"current", "behind", "silent", "gone"} {
		ids[name] = must(c.RegisterNode(ctx, &configv1.RegisterNodeRequest{Name: name, Cluster: "default"}))(t).Node.Id
	}
	latest := func() uint64 {
		t.Helper()
		return must(c.ListNodes(ctx, &configv1.ListNodesRequest{}))(t).Nodes[0].LatestVersion
	}
	if v := latest(); v != 0 {
		t.Fatalf("latest version before any release: %d", v)
	}
	app := must(c.CreateApp(ctx, &configv1.CreateAppRequest{Name: "shop", Domains: []string{"shop.example.com"}}))(t).App
	must(c.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: app.Id}))(t)
	v1 := latest()
	releasedV1 := time.Now()
	must(c.UpdateApp(ctx, &configv1.UpdateAppRequest{AppId: app.Id, Name: "shop", Domains: []string{"www.example.com"}}))(t)
	must(c.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: app.Id}))(t)
	v2 := latest()
	if v1 == 0 || v2 <= v1 {
		t.Fatalf("versions after two releases: %d, %d", v1, v2)
	}

	seen := time.Now().Add(-2 * time.Second).Truncate(time.Second)
	hb.set(ids["current"], edgesync.NodeStatus{AppliedVersion: v2, LastSeen: seen, Online: true, Healthy: true})
	hb.set(ids["behind"], edgesync.NodeStatus{AppliedVersion: v1, LastSeen: seen, Online: true, Healthy: true,
		ApplyError: "proxy: config version 9: bad", DNS: configv1.NodeDnsState_NODE_DNS_STATE_OFF})
	// Its last heartbeat said DNS answering: offline, that is no longer known.
	hb.set(ids["gone"], edgesync.NodeStatus{AppliedVersion: v2, LastSeen: seen, Online: false, DNS: configv1.NodeDnsState_NODE_DNS_STATE_ANSWERING})
	// A heartbeat of a node the service does not know is ignored.
	hb.set("node_unknown", edgesync.NodeStatus{AppliedVersion: v2, Online: true})

	infos := map[string]*configv1.NodeInfo{}
	for _, n := range must(c.ListNodes(ctx, &configv1.ListNodesRequest{}))(t).Nodes {
		infos[n.Node.Name] = n
	}
	if len(infos) != 4 {
		t.Fatalf("nodes: %v", infos)
	}
	tests := []struct {
		name                    string
		applied                 uint64
		inSync, online, healthy bool
		lagReleases             uint64
		lagging, lastSeen       bool
	}{
		{name: "current", applied: v2, inSync: true, online: true, healthy: true, lastSeen: true},
		{name: "behind", applied: v1, online: true, healthy: true, lagReleases: 1, lagging: true, lastSeen: true},
		{name: "silent", applied: 0, lagReleases: 2, lagging: true},
		{name: "gone", applied: v2, lastSeen: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := infos[tt.name]
			if n.AppliedVersion != tt.applied || n.LatestVersion != v2 || n.InSync != tt.inSync ||
				n.Online != tt.online || n.Healthy != tt.healthy || n.LagReleases != tt.lagReleases {
				t.Errorf("got applied %d latest %d in_sync %v online %v healthy %v lag %d; want %d %d %v %v %v %d",
					n.AppliedVersion, n.LatestVersion, n.InSync, n.Online, n.Healthy, n.LagReleases,
					tt.applied, v2, tt.inSync, tt.online, tt.healthy, tt.lagReleases)
			}
			if tt.lagging {
				// Behind since the first release it lacks was made.
				upper := time.Since(releasedV1).Seconds() + 1
				if tt.name == "behind" {
					upper = time.Since(releasedV1).Seconds()
				}
				if n.LagSeconds <= 0 || n.LagSeconds > upper+1 {
					t.Errorf("lag seconds %.3f, want in (0, %.3f]", n.LagSeconds, upper+1)
				}
			} else if n.LagSeconds != 0 {
				t.Errorf("lag seconds %.3f for a node that is not behind", n.LagSeconds)
			}
			if tt.name == "behind" && (n.ApplyError != "proxy: config version 9: bad" || n.Dns != configv1.NodeDnsState_NODE_DNS_STATE_OFF) {
				t.Errorf("apply error %q, dns %v: want the heartbeat's", n.ApplyError, n.Dns)
			}
			if tt.name == "gone" && n.Dns == configv1.NodeDnsState_NODE_DNS_STATE_ANSWERING {
				t.Errorf("offline node listed as DNS answering")
			}
			if got := n.LastSeen != nil; got != tt.lastSeen {
				t.Fatalf("last seen %v, want set=%v", n.LastSeen, tt.lastSeen)
			}
			if tt.lastSeen && !n.LastSeen.AsTime().Equal(seen) {
				t.Errorf("last seen %v, want %v", n.LastSeen.AsTime(), seen)
			}
		})
	}
}

// TestListNodesReleases: node list names each node's track and the release
// of each app it runs, as of the version it applied: a staging release
// shows on staging nodes only until promoted.
func TestListNodesReleases(t *testing.T) {
	hb := &fakeHeartbeats{m: map[string]edgesync.NodeStatus{}}
	e := newEnv(t, envOptions{statuses: hb})
	c, ctx := e.client, e.ctx
	stable := must(c.RegisterNode(ctx, &configv1.RegisterNodeRequest{Name: "stable", Cluster: "default"}))(t).Node.Id
	staging := must(c.RegisterNode(ctx, &configv1.RegisterNodeRequest{Name: "staging", Cluster: "default", Staging: true}))(t).Node.Id
	app := must(c.CreateApp(ctx, &configv1.CreateAppRequest{Name: "shop", Domains: []string{"shop.example.com"}}))(t).App
	must(c.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: app.Id}))(t)
	must(c.UpdateApp(ctx, &configv1.UpdateAppRequest{AppId: app.Id, Domains: []string{"www.example.com"}}))(t)
	r2 := must(c.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: app.Id, Staging: true}))(t)

	// Each node reports its track's newest version.
	report := func() map[string]*configv1.NodeInfo {
		t.Helper()
		for _, n := range must(c.ListNodes(ctx, &configv1.ListNodesRequest{}))(t).Nodes {
			hb.set(n.Node.Id, edgesync.NodeStatus{AppliedVersion: n.LatestVersion, LastSeen: time.Now(), Online: true, Healthy: true})
		}
		out := map[string]*configv1.NodeInfo{}
		for _, n := range must(c.ListNodes(ctx, &configv1.ListNodesRequest{}))(t).Nodes {
			out[n.Node.Id] = n
		}
		return out
	}
	runs := func(n *configv1.NodeInfo) uint64 {
		if len(n.Releases) != 1 || n.Releases[0].AppId != app.Id || n.Releases[0].AppName != "shop" {
			t.Fatalf("node %s releases %v", n.Node.Name, n.Releases)
		}
		return n.Releases[0].Release
	}
	infos := report()
	if infos[stable].Track != "stable" || infos[staging].Track != "staging" {
		t.Fatalf("tracks: %q %q", infos[stable].Track, infos[staging].Track)
	}
	if runs(infos[stable]) != 1 || runs(infos[staging]) != 2 {
		t.Fatalf("after a staging release: stable node runs %d, staging node %d", runs(infos[stable]), runs(infos[staging]))
	}
	must(c.PromoteRelease(ctx, &configv1.PromoteReleaseRequest{AppId: app.Id}))(t)
	// Before its next report the stable node still runs release 1.
	if got := runs(must(c.ListNodes(ctx, &configv1.ListNodesRequest{}))(t).Nodes[0]); got != 1 {
		t.Fatalf("stable node before reporting the promotion runs %d", got)
	}
	infos = report()
	if runs(infos[stable]) != r2.Release.Number || runs(infos[staging]) != 2 {
		t.Fatalf("after promotion: stable node runs %d, staging node %d", runs(infos[stable]), runs(infos[staging]))
	}
}

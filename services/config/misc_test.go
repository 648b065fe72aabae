package config

import (
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	ev "github.com/strata-edge/strata/gen/strata/events/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
)

func TestPartitionsClustersNodes(t *testing.T) {
	e := newEnv(t, envOptions{})
	c, ctx := e.client, e.ctx
	eu := must(c.CreatePartition(ctx, &configv1.CreatePartitionRequest{Name: "eu"}))(t).Partition
	parts := must(c.ListPartitions(ctx, &configv1.ListPartitionsRequest{}))(t).Partitions
	if len(parts) != 2 || parts[0].Name != "default" || parts[1].Id != eu.Id {
		t.Fatalf("partitions: %v", parts)
	}
	// Partitions are given by id or name.
	cl := must(c.CreateCluster(ctx, &configv1.CreateClusterRequest{Name: "eu-1", Partition: eu.Id}))(t).Cluster
	must(c.CreateCluster(ctx, &configv1.CreateClusterRequest{Name: "eu-2", Partition: "eu"}))(t)
	_, err := c.CreateCluster(ctx, &configv1.CreateClusterRequest{Name: "eu-1", Partition: "eu"})
	wantField(t, err, "name")
	if cls := must(c.ListClusters(ctx, &configv1.ListClustersRequest{}))(t).Clusters; len(cls) != 3 {
		t.Fatalf("clusters: %v", cls)
	}

	n := must(c.RegisterNode(ctx, &configv1.RegisterNodeRequest{Name: "n1", Cluster: "eu-1"}))(t).Node
	if n.ClusterId != cl.Id || n.Staging || !n.Approved {
		t.Fatalf("node: %v", n)
	}
	_, err = c.RegisterNode(ctx, &configv1.RegisterNodeRequest{Name: "n1", Cluster: cl.Id})
	wantField(t, err, "name")
	must(c.RegisterNode(ctx, &configv1.RegisterNodeRequest{Name: "n1", Cluster: "default"}))(t)

	staged := must(c.SetNodeStaging(ctx, &configv1.SetNodeStagingRequest{NodeId: n.Id, Staging: true}))(t).Node
	if !staged.Staging {
		t.Fatal("staging not set")
	}
	infos := must(c.ListNodes(ctx, &configv1.ListNodesRequest{Cluster: "eu-1"}))(t).Nodes
	if len(infos) != 1 || infos[0].PartitionId != eu.Id || !infos[0].Node.Staging {
		t.Fatalf("nodes of eu-1: %v", infos)
	}
	if all := must(c.ListNodes(ctx, &configv1.ListNodesRequest{}))(t).Nodes; len(all) != 2 {
		t.Fatalf("all nodes: %v", all)
	}
	must(c.RemoveNode(ctx, &configv1.RemoveNodeRequest{NodeId: n.Id}))(t)
	_, err = c.RemoveNode(ctx, &configv1.RemoveNodeRequest{NodeId: n.Id})
	wantCode(t, err, connect.CodeNotFound)
	_, err = c.ListNodes(ctx, &configv1.ListNodesRequest{Cluster: "nowhere"})
	wantCode(t, err, connect.CodeNotFound)
	_, err = c.GetApp(ctx, &configv1.GetAppRequest{AppId: "app_missing"})
	wantCode(t, err, connect.CodeNotFound)
	_, err = c.GetSnapshot(ctx, &configv1.GetSnapshotRequest{Partition: "nowhere"})
	wantCode(t, err, connect.CodeNotFound)

	// Apps list sorted by name, with their state.
	b := must(c.CreateApp(ctx, &configv1.CreateAppRequest{Name: "b", Partitions: []string{"eu"}}))(t).App
	must(c.CreateApp(ctx, &configv1.CreateAppRequest{Name: "a"}))(t)
	must(c.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: b.Id}))(t)
	apps := must(c.ListApps(ctx, &configv1.ListAppsRequest{}))(t).Apps
	if len(apps) != 2 || apps[0].Name != "a" || apps[1].LatestRelease != 1 || apps[0].PendingChanges != 1 || apps[1].PartitionIds[0] != eu.Id {
		t.Fatalf("apps: %v", apps)
	}
}

func TestConsistent(t *testing.T) {
	app := func(id, domain string, release uint64, ruleTarget string) *configv1.App {
		a := &configv1.App{Id: id, Domains: []string{domain}, PartitionIds: []string{"p"}, Release: release,
			Upstreams: []*configv1.Upstream{{Id: "u", Name: "web"}}}
		if ruleTarget != "" {
			a.Rules = []*configv1.Rule{proxyRule("r", "", ruleTarget)}
		}
		return a
	}
	tests := []struct {
		name string
		apps []*configv1.App
		want string // substring of the error, "" for consistent
	}{
		{"ok", []*configv1.App{app("a", "a.example.com", 1, "web"), app("b", "b.example.com", 2, "")}, ""},
		{"domain twice", []*configv1.App{app("a", "x.example.com", 1, ""), app("b", "x.example.com", 1, "")}, "served by apps a and b"},
		{"id twice", []*configv1.App{app("a", "a.example.com", 1, ""), app("a", "b.example.com", 1, "")}, "appears twice"},
		{"dangling rule", []*configv1.App{app("a", "a.example.com", 1, "api")}, `proxies to upstream "api"`},
		{"unreleased", []*configv1.App{app("a", "a.example.com", 0, "")}, "no release number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Consistent(&syncv1.Snapshot{PartitionId: "p", Apps: tt.apps})
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestSummaries(t *testing.T) {
	before, _ := given(created, webCreated, apiCreated)
	d := before.draftView()
	ruleChanged := proto.Clone(apiCreated.Rule).(*configv1.Rule)
	ruleChanged.When = "Host(`a.example.com`)"
	ruleChanged.Last = true
	s := proto.Clone(created.Settings).(*ev.AppSettings)
	s.Domains = []string{"shop.example.com", "www.example.com"}
	s.Labels = map[string]string{"team": "web"}
	tests := []struct {
		msg  proto.Message
		want string
	}{
		{webMoved, "upstream web updated: servers 10.0.0.1:80=1 -> 10.0.0.2:80=1"},
		{&ev.UpstreamDeleted{UpstreamId: "ups_web"}, "upstream web deleted"},
		{&ev.RuleUpdated{Rule: ruleChanged}, "rule api updated: when PathPrefix(`/api`) -> Host(`a.example.com`); last false -> true"},
		{&ev.RuleMoved{RuleId: "rule_api", Index: 0}, "rule api moved from position 0 to 0"},
		{&ev.AppUpdated{Settings: s}, "app shop updated: domains shop.example.com -> shop.example.com, www.example.com; labels (none) -> team=web"},
		{&ev.AppDeleted{}, "app shop deleted"},
		{apiCreated, "rule api created at position 0: when PathPrefix(`/api`); actions proxy {upstreams:web=1}"},
	}
	for _, tt := range tests {
		if got := summarize(d, tt.msg); got != tt.want {
			t.Errorf("summary\n got %s\nwant %s", got, tt.want)
		}
	}
}

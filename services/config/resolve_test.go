package config

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"connectrpc.com/connect"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/pkg/apiauth"
	"github.com/strata-edge/strata/pkg/authz"
)

func TestResolveObject(t *testing.T) {
	e := newEnv(t, envOptions{})
	c, ctx := e.client, e.ctx
	eu := must(c.CreatePartition(ctx, &configv1.CreatePartitionRequest{Name: "eu"}))(t).Partition
	cl := must(c.CreateCluster(ctx, &configv1.CreateClusterRequest{Name: "fra", Partition: "eu"}))(t).Cluster
	n := must(c.RegisterNode(ctx, &configv1.RegisterNodeRequest{Name: "fra-1", Cluster: "fra"}))(t).Node
	must(c.RegisterNode(ctx, &configv1.RegisterNodeRequest{Name: "twin", Cluster: "fra"}))(t)
	must(c.RegisterNode(ctx, &configv1.RegisterNodeRequest{Name: "twin", Cluster: "default"}))(t)
	app := must(c.CreateApp(ctx, &configv1.CreateAppRequest{Name: "shop", Partitions: []string{"default"}}))(t).App
	must(c.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: app.Id}))(t)
	// Moved to eu but not released: both partitions are its parents.
	must(c.UpdateApp(ctx, &configv1.UpdateAppRequest{AppId: app.Id, Name: "shop", Partitions: []string{"eu"}}))(t)
	def, _ := e.svc.proj.resolvePartition("default")

	part := func(id string) authz.Object { return authz.Object{Kind: authz.KindPartition, ID: id} }
	tests := []struct {
		name, kind, ref string
		wantID          string
		wantName        string
		wantParents     []authz.Object
		wantErr         error
	}{
		{name: "partition by name", kind: authz.KindPartition, ref: "eu", wantID: eu.Id, wantName: "eu"},
		{name: "partition by id", kind: authz.KindPartition, ref: eu.Id, wantID: eu.Id, wantName: "eu"},
		{name: "cluster", kind: authz.KindCluster, ref: "fra", wantID: cl.Id, wantName: "fra", wantParents: []authz.Object{part(eu.Id)}},
		{name: "node by id", kind: authz.KindNode, ref: n.Id, wantID: n.Id, wantName: "fra-1", wantParents: []authz.Object{{Kind: authz.KindCluster, ID: cl.Id}}},
		{name: "node by unique name", kind: authz.KindNode, ref: "fra-1", wantID: n.Id, wantName: "fra-1", wantParents: []authz.Object{{Kind: authz.KindCluster, ID: cl.Id}}},
		{name: "node name in two clusters", kind: authz.KindNode, ref: "twin", wantErr: authz.ErrUnknownObject},
		{name: "app by name", kind: authz.KindApp, ref: "shop", wantID: app.Id, wantName: "shop", wantParents: []authz.Object{part(eu.Id), part(def)}},
		{name: "app by id", kind: authz.KindApp, ref: app.Id, wantID: app.Id, wantName: "shop", wantParents: []authz.Object{part(eu.Id), part(def)}},
		{name: "unknown app", kind: authz.KindApp, ref: "wiki", wantErr: authz.ErrUnknownObject},
		{name: "unknown cluster", kind: authz.KindCluster, ref: "ams", wantErr: authz.ErrUnknownObject},
		{name: "kind of another service", kind: authz.KindJoinToken, ref: "jt_1", wantErr: authz.ErrNoResolver},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.svc.ResolveObject(ctx, tt.kind, tt.ref)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("got %v, %v; want %v", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != tt.wantID || got.Kind != tt.kind || got.Name != tt.wantName || !slices.Equal(got.Parents, tt.wantParents) {
				t.Errorf("got %+v, want id %s name %s parents %v", got, tt.wantID, tt.wantName, tt.wantParents)
			}
		})
	}

	// An ambiguous name lists the candidates, so the caller can pick an id.
	_, err := e.svc.ResolveObject(ctx, authz.KindNode, "twin")
	if !errors.Is(err, authz.ErrAmbiguous) || !strings.Contains(err.Error(), "(cluster fra)") || !strings.Contains(err.Error(), "(cluster default)") {
		t.Errorf("node twin: %v; want the two nodes with their clusters", err)
	}

	// Through the registry the interceptor uses: a grant over eu alone does
	// not cover the app while it is still released in default.
	rs := authz.NewResolvers()
	rs.Register(e.svc, authz.KindPartition, authz.KindCluster, authz.KindNode, authz.KindApp)
	admin, _ := authz.BuiltInRole(authz.RoleAdmin)
	checker := authz.NewChecker(apiauth.Principal{Name: "eu-admin", Kind: "user"}, []authz.Grant{{Role: admin, Scope: part(eu.Id)}}, rs)
	if !checker.Can(ctx, "config.node.write", authz.Object{Kind: authz.KindNode, ID: n.Id}) {
		t.Error("a grant over eu does not cover node fra-1 of cluster fra in eu")
	}
	if checker.Can(ctx, "config.app.write", authz.Object{Kind: authz.KindApp, ID: app.Id}) {
		t.Error("a grant over eu covers an app still released in default")
	}
}

// Every RPC naming an app takes its id or its name.
func TestAppByName(t *testing.T) {
	e := newEnv(t, envOptions{})
	c, ctx := e.client, e.ctx
	app := must(c.CreateApp(ctx, &configv1.CreateAppRequest{Name: "shop", Domains: []string{"shop.example.com"}}))(t).App
	must(c.CreateUpstream(ctx, &configv1.CreateUpstreamRequest{AppId: "shop", Upstream: &configv1.Upstream{Name: "web",
		Servers: []*configv1.Server{{Address: "10.0.0.1:80", Weight: 1}}}}))(t)
	must(c.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: "shop"}))(t)
	got := must(c.GetApp(ctx, &configv1.GetAppRequest{AppId: "shop"}))(t)
	if got.App.GetId() != app.Id || len(got.App.GetUpstreams()) != 1 || got.LatestRelease != 1 {
		t.Errorf("GetApp(shop) = %v, want app %s with upstream web and release 1", got, app.Id)
	}
	if rs := must(c.ListReleases(ctx, &configv1.ListReleasesRequest{AppId: "shop"}))(t); len(rs.Releases) != 1 {
		t.Errorf("ListReleases(shop): %d releases, want 1", len(rs.Releases))
	}
	_, err := c.GetApp(ctx, &configv1.GetAppRequest{AppId: "wiki"})
	if connect.CodeOf(err) != connect.CodeNotFound || !strings.Contains(err.Error(), `app "wiki" not found`) {
		t.Errorf("GetApp(wiki): %v, want not_found naming wiki", err)
	}
}

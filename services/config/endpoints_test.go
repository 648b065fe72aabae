package config

import (
	"fmt"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/pkg/configevents"
)

// Dynamic server sets: each change is one event on the set's stream (the
// history), no release is made, an identical set writes nothing, both
// tracks of the set's partitions get it, and bad input names the field.
func TestEndpoints(t *testing.T) {
	e := newEnv(t, envOptions{publish: true})
	c, ctx := e.client, e.ctx
	app := must(c.CreateApp(ctx, &configv1.CreateAppRequest{Name: "web", Domains: []string{"web.example.com"}}))(t).App
	must(c.CreateUpstream(ctx, &configv1.CreateUpstreamRequest{AppId: app.Id, Upstream: &configv1.Upstream{Name: "main", Endpoints: "k8s.east.shop.web.8080"}}))(t)
	must(c.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: app.Id}))(t)

	in := &configv1.UpstreamEndpoints{Id: "k8s.east.shop.web.8080", PartitionIds: []string{"default"},
		Endpoints: []*configv1.Endpoint{{Address: "10.0.0.2:8080", Ready: true}, {Address: "10.0.0.1:8080", Weight: 3, Ready: true}},
		Labels:    map[string]string{"k8s_cluster": "east"}}
	res := must(c.SetEndpoints(ctx, &configv1.SetEndpointsRequest{Endpoints: in}))(t)
	got := res.Endpoints
	if !res.Changed || got.Version == 0 || got.UpdatedAt == nil || len(got.Endpoints) != 2 ||
		got.Endpoints[0].Address != "10.0.0.1:8080" || got.Endpoints[1].Weight != 1 || strings.HasPrefix(got.PartitionIds[0], "default") {
		t.Fatalf("stored set %v (changed %v): want sorted by address, weight 0 as 1, partition ids", got, res.Changed)
	}

	// Identical again (in another order): nothing written.
	again := proto.CloneOf(in)
	again.Endpoints[0], again.Endpoints[1] = again.Endpoints[1], again.Endpoints[0]
	if r := must(c.SetEndpoints(ctx, &configv1.SetEndpointsRequest{Endpoints: again}))(t); r.Changed || r.Endpoints.Version != got.Version {
		t.Fatalf("identical set: changed %v, version %d (was %d)", r.Changed, r.Endpoints.Version, got.Version)
	}
	// A pod leaves: one more event.
	in.Endpoints = in.Endpoints[:1]
	got = must(c.SetEndpoints(ctx, &configv1.SetEndpointsRequest{Endpoints: in}))(t).Endpoints
	events := must(e.store.ReadStream(ctx, endpointsStream(in.Id), 0))(t)
	if len(events) != 2 || events[0].Type != configevents.TypeEndpointsSet || events[1].Metadata.Actor != got.UpdatedBy {
		t.Fatalf("stream %s: %d events %v, want 2 sets", endpointsStream(in.Id), len(events), events)
	}
	// No release: the app still has the one it was created with.
	if rs := must(c.ListReleases(ctx, &configv1.ListReleasesRequest{AppId: app.Id}))(t).Releases; len(rs) != 1 {
		t.Fatalf("%d releases after endpoint changes, want 1", len(rs))
	}
	for _, staging := range []bool{false, true} {
		checkFor(t, func() error {
			_, snap := snapshotOf(t, c, e, "default", staging)
			if len(snap.UpstreamEndpoints) != 1 || !proto.Equal(snap.UpstreamEndpoints[0], got) {
				return fmt.Errorf("staging=%v: snapshot sets %v, want %v", staging, snap.UpstreamEndpoints, got)
			}
			return nil
		})
	}
	if l := must(c.ListEndpoints(ctx, &configv1.ListEndpointsRequest{IdPrefix: "k8s.east."}))(t).Endpoints; len(l) != 1 || l[0].Id != in.Id {
		t.Fatalf("list: %v", l)
	}
	if l := must(c.ListEndpoints(ctx, &configv1.ListEndpointsRequest{IdPrefix: "k8s.west."}))(t).Endpoints; len(l) != 0 {
		t.Fatalf("list of another prefix: %v", l)
	}

	// Bad input names the field; nothing is stored.
	many := make([]*configv1.Endpoint, maxEndpoints+1)
	for i := range many {
		many[i] = &configv1.Endpoint{Address: fmt.Sprintf("10.1.%d.%d:80", i/250, i%250), Ready: true}
	}
	for _, tc := range []struct {
		name  string
		set   *configv1.UpstreamEndpoints
		field string
	}{
		{"no id", &configv1.UpstreamEndpoints{PartitionIds: []string{"default"}}, "endpoints.id"},
		{"bad id", &configv1.UpstreamEndpoints{Id: "Web/x", PartitionIds: []string{"default"}}, "endpoints.id"},
		{"empty stream segment", &configv1.UpstreamEndpoints{Id: "k8s..web", PartitionIds: []string{"default"}}, "endpoints.id"},
		{"trailing dot", &configv1.UpstreamEndpoints{Id: "k8s.web.", PartitionIds: []string{"default"}}, "endpoints.id"},
		{"too many partitions", &configv1.UpstreamEndpoints{Id: "x", PartitionIds: make([]string, maxEndpointsPartitions+1)}, "endpoints.partition_ids"},
		{"no partition", &configv1.UpstreamEndpoints{Id: "x"}, "endpoints.partition_ids"},
		{"missing partition", &configv1.UpstreamEndpoints{Id: "x", PartitionIds: []string{"nowhere"}}, "endpoints.partition_ids[0]"},
		{"bad address", &configv1.UpstreamEndpoints{Id: "x", PartitionIds: []string{"default"},
			Endpoints: []*configv1.Endpoint{{Address: "10.0.0.1:8080"}, {Address: "10.0.0.1"}}}, "endpoints.endpoints[1].address"},
		{"duplicate", &configv1.UpstreamEndpoints{Id: "x", PartitionIds: []string{"default"},
			Endpoints: []*configv1.Endpoint{{Address: "10.0.0.1:8080"}, {Address: "10.0.0.1:8080"}}}, "endpoints.endpoints[1].address"},
		{"weight", &configv1.UpstreamEndpoints{Id: "x", PartitionIds: []string{"default"},
			Endpoints: []*configv1.Endpoint{{Address: "10.0.0.1:8080", Weight: 5000}}}, "endpoints.endpoints[0].weight"},
		{"too many", &configv1.UpstreamEndpoints{Id: "x", PartitionIds: []string{"default"}, Endpoints: many}, "endpoints.endpoints"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.SetEndpoints(ctx, &configv1.SetEndpointsRequest{Endpoints: tc.set})
			wantField(t, err, tc.field)
		})
	}
	if _, err := c.GetEndpoints(ctx, &configv1.GetEndpointsRequest{Id: "x"}); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("a refused set was stored: %v", err)
	}

	// An upstream naming a set: bad names and servers beside it are refused.
	for _, tc := range []struct {
		name  string
		up    *configv1.Upstream
		field string
	}{
		{"bad name", &configv1.Upstream{Name: "u2", Endpoints: "Bad Name"}, "upstream.endpoints"},
		{"servers too", &configv1.Upstream{Name: "u2", Endpoints: "ok", Servers: []*configv1.Server{{Address: "10.0.0.1:80", Weight: 1}}}, "upstream.servers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.CreateUpstream(ctx, &configv1.CreateUpstreamRequest{AppId: app.Id, Upstream: tc.up})
			wantField(t, err, tc.field)
		})
	}

	// Delete: one event, the tracks drop it, a set again starts after it.
	must(c.DeleteEndpoints(ctx, &configv1.DeleteEndpointsRequest{Id: in.Id}))(t)
	checkFor(t, func() error {
		if _, snap := snapshotOf(t, c, e, "default", false); len(snap.UpstreamEndpoints) != 0 {
			return fmt.Errorf("sets after delete: %v", snap.UpstreamEndpoints)
		}
		return nil
	})
	_, err := c.DeleteEndpoints(ctx, &configv1.DeleteEndpointsRequest{Id: in.Id})
	wantCode(t, err, connect.CodeNotFound)
	if r := must(c.SetEndpoints(ctx, &configv1.SetEndpointsRequest{Endpoints: in}))(t); !r.Changed {
		t.Fatalf("set after delete not written")
	}
	if n := len(must(e.store.ReadStream(ctx, endpointsStream(in.Id), 0))(t)); n != 4 {
		t.Fatalf("%d events, want set, set, deleted, set", n)
	}
}

package config

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	dnsv1 "github.com/strata-edge/strata/gen/strata/dns/v1"
	"github.com/strata-edge/strata/gen/strata/dns/v1/dnsv1connect"
	ev "github.com/strata-edge/strata/gen/strata/events/config/v1"
	"github.com/strata-edge/strata/pkg/eventstore"
	dnssvc "github.com/strata-edge/strata/services/dns"
)

// nodeEvent appends one node event as the nodes service writes it.
func (e *env) nodeEvent(id string, msg proto.Message) {
	e.t.Helper()
	if _, err := e.svc.appendAndWait(e.ctx, nodeStream(id), eventstore.AnyVersion, []proto.Message{msg}); err != nil {
		e.t.Fatal(err)
	}
}

// A node that joins again with other public addresses (NodeAddressSet,
// recorded by the nodes service) shows them in ListNodes.
func TestListNodesShowsChangedAddresses(t *testing.T) {
	e := newEnv(t, envOptions{})
	cl := must(e.client.CreateCluster(e.ctx, &configv1.CreateClusterRequest{Name: "edge", Partition: "default"}))(t).Cluster
	e.nodeEvent("node_a", &ev.NodeRegistered{Node: &configv1.Node{Id: "node_a", Name: "a", ClusterId: cl.Id, Approved: true,
		PublicIpv4: "192.0.2.1", PublicIpv6: "2001:db8::1"}})
	addrs := func() (string, string) {
		t.Helper()
		nodes := must(e.client.ListNodes(e.ctx, &configv1.ListNodesRequest{Cluster: "edge"}))(t).Nodes
		if len(nodes) != 1 {
			t.Fatalf("nodes: %v", nodes)
		}
		return nodes[0].GetNode().GetPublicIpv4(), nodes[0].GetNode().GetPublicIpv6()
	}
	if v4, v6 := addrs(); v4 != "192.0.2.1" || v6 != "2001:db8::1" {
		t.Fatalf("join-time addresses: %s %s", v4, v6)
	}
	e.nodeEvent("node_a", &ev.NodeAddressSet{NodeId: "node_a", PublicIpv4: "198.51.100.7"})
	if v4, v6 := addrs(); v4 != "198.51.100.7" || v6 != "" {
		t.Fatalf("after NodeAddressSet: %q %q, want 198.51.100.7 and no IPv6", v4, v6)
	}
	// Also after a restart (the projection is rebuilt from the log).
	e.restart(envOptions{})
	if v4, v6 := addrs(); v4 != "198.51.100.7" || v6 != "" {
		t.Fatalf("after restart: %q %q", v4, v6)
	}
}

// A zone release carries, on each gateway record, the public addresses of
// the approved, enabled nodes of the cluster it names (by name or id) at
// that time: what nodes answer before the first live gateway set.
func TestZoneReleaseFillsGatewayAddresses(t *testing.T) {
	e := newEnv(t, envOptions{})
	d, err := dnssvc.New(dnssvc.Options{Store: e.store, Partitions: e.svc})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(e.ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Stop(e.ctx) })
	mux := http.NewServeMux()
	mux.Handle(d.Handler())
	srv := httptest.NewUnstartedServer(mux)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	c := dnsv1connect.NewDnsServiceClient(srv.Client(), srv.URL)

	cl := must(e.client.CreateCluster(e.ctx, &configv1.CreateClusterRequest{Name: "edge", Partition: "default"}))(t).Cluster
	for _, n := range []*configv1.Node{
		{Id: "node_a", Name: "a", ClusterId: cl.Id, Approved: true, PublicIpv4: "192.0.2.1", PublicIpv6: "2001:db8::1"},
		{Id: "node_b", Name: "b", ClusterId: cl.Id, Approved: true, PublicIpv4: "192.0.2.2"},
		{Id: "node_c", Name: "c", ClusterId: cl.Id, Approved: false, PublicIpv4: "192.0.2.3"}, // waits for approval
		{Id: "node_d", Name: "d", ClusterId: cl.Id, Approved: true, PublicIpv4: "192.0.2.4"},
	} {
		e.nodeEvent(n.Id, &ev.NodeRegistered{Node: n})
	}
	e.nodeEvent("node_d", &ev.NodeDisabledSet{NodeId: "node_d", Disabled: true})

	must(c.CreateZone(e.ctx, &dnsv1.CreateZoneRequest{Name: "example.com", Partitions: []string{"default"}}))(t)
	for _, r := range []*dnsv1.Record{
		{Name: "@", Type: dnsv1.RecordType_RECORD_TYPE_A, GatewayCluster: "edge"},
		{Name: "byid", Type: dnsv1.RecordType_RECORD_TYPE_AAAA, GatewayCluster: cl.Id},
		{Name: "www", Type: dnsv1.RecordType_RECORD_TYPE_A, Data: "192.0.2.99"},
	} {
		must(c.AddRecord(e.ctx, &dnsv1.AddRecordRequest{Zone: "example.com", Record: r}))(t)
	}
	release := func() map[string][]string {
		t.Helper()
		rel := must(c.CreateRelease(e.ctx, &dnsv1.CreateReleaseRequest{Zone: "example.com"}))(t)
		if err := e.svc.proj.WaitFor(e.ctx, rel.Version); err != nil {
			t.Fatal(err)
		}
		pid, _ := e.svc.ResolvePartition("default")
		snap := e.svc.proj.snapshot(pid, false)
		if len(snap.GetZones()) != 1 {
			t.Fatalf("zones: %v", snap.GetZones())
		}
		out := map[string][]string{}
		for _, r := range snap.GetZones()[0].GetRecords() {
			out[r.GetName()] = r.GetGatewayAddresses()
		}
		return out
	}
	want := func(got map[string][]string, name string, addrs ...string) {
		t.Helper()
		if !slices.Equal(got[name], addrs) {
			t.Fatalf("record %q: gateway addresses %v, want %v", name, got[name], addrs)
		}
	}
	got := release()
	want(got, "@", "192.0.2.1", "192.0.2.2", "2001:db8::1")
	want(got, "byid", "192.0.2.1", "192.0.2.2", "2001:db8::1")
	want(got, "www")

	// A changed address shows with the next release.
	e.nodeEvent("node_b", &ev.NodeAddressSet{NodeId: "node_b", PublicIpv4: "198.51.100.2"})
	must(c.AddRecord(e.ctx, &dnsv1.AddRecordRequest{Zone: "example.com", Record: &dnsv1.Record{Name: "mail", Type: dnsv1.RecordType_RECORD_TYPE_A, Data: "192.0.2.25"}}))(t)
	got = release()
	want(got, "@", "192.0.2.1", "198.51.100.2", "2001:db8::1")

	// The zone service's own view never carries them.
	z := must(c.GetZone(e.ctx, &dnsv1.GetZoneRequest{Zone: "example.com"}))(t)
	for _, r := range z.GetZone().GetRecords() {
		if len(r.GetGatewayAddresses()) != 0 {
			t.Fatalf("zone read model record %q has gateway addresses %v", r.GetName(), r.GetGatewayAddresses())
		}
	}
}

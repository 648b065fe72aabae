package stack

import (
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	dnsv1 "github.com/strata-edge/strata/gen/strata/dns/v1"
	ev "github.com/strata-edge/strata/gen/strata/events/config/v1"
	"github.com/strata-edge/strata/pkg/eventstore"
)

// DNS releases ride in the partition's snapshot timeline: a zone release is a
// new snapshot version carrying the zone, and a delta upserting it; removing
// the zone's partition or deleting it is a delta deleting it.
func TestZoneReleasesMovePartitionSnapshots(t *testing.T) {
	e := newContentEnv(t)
	c := e.dns

	pid, ok := e.c.config.ResolvePartition("default")
	if !ok {
		t.Fatal("no default partition")
	}
	before := e.c.sync.Snapshot(pid, false).GetVersion()
	z, err := c.CreateZone(e.ctx, &dnsv1.CreateZoneRequest{Name: "example.com", Partitions: []string{"default"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddRecord(e.ctx, &dnsv1.AddRecordRequest{Zone: "example.com", Record: &dnsv1.Record{Name: "www", Type: dnsv1.RecordType_RECORD_TYPE_A, Data: "192.0.2.1"}}); err != nil {
		t.Fatal(err)
	}
	if v := e.c.sync.Snapshot(pid, false).GetVersion(); v != before {
		t.Fatalf("pending zone changes moved the snapshot to %d", v)
	}
	rel, err := c.CreateRelease(e.ctx, &dnsv1.CreateReleaseRequest{Zone: "example.com"})
	if err != nil {
		t.Fatal(err)
	}
	e.wait(rel.Version)
	for _, staging := range []bool{false, true} {
		snap := e.c.sync.Snapshot(pid, staging)
		if snap.GetVersion() != rel.Version || len(snap.GetZones()) != 1 || snap.GetZones()[0].GetId() != z.GetZone().GetId() ||
			snap.GetZones()[0].GetRelease() != 1 {
			t.Fatalf("staging=%v: snapshot %d zones %v, want version %d with the zone at release 1", staging, snap.GetVersion(), snap.GetZones(), rel.Version)
		}
	}
	if _, err := c.DeleteZone(e.ctx, &dnsv1.DeleteZoneRequest{Zone: "example.com"}); err != nil {
		t.Fatal(err)
	}
	rel, err = c.CreateRelease(e.ctx, &dnsv1.CreateReleaseRequest{Zone: z.GetZone().GetId()})
	if err != nil {
		t.Fatal(err)
	}
	e.wait(rel.Version)
	if snap := e.c.sync.Snapshot(pid, false); snap.GetVersion() != rel.Version || len(snap.GetZones()) != 0 {
		t.Fatalf("after the delete release: version %d zones %v", snap.GetVersion(), snap.GetZones())
	}
}

// A zone release carries, on each gateway record, the public addresses of
// the approved, enabled nodes of the cluster it names (by name or id) at
// that time: what nodes answer before the first live gateway set.
func TestZoneReleaseFillsGatewayAddresses(t *testing.T) {
	e := newContentEnv(t)
	c := e.dns

	cl := need(e.cfg.CreateCluster(e.ctx, &configv1.CreateClusterRequest{Name: "edge", Partition: "default"}))(t).Cluster
	for _, n := range []*configv1.Node{
		{Id: "node_a", Name: "a", ClusterId: cl.Id, Approved: true, PublicIpv4: "192.0.2.1", PublicIpv6: "2001:db8::1"},
		{Id: "node_b", Name: "b", ClusterId: cl.Id, Approved: true, PublicIpv4: "192.0.2.2"},
		{Id: "node_c", Name: "c", ClusterId: cl.Id, Approved: false, PublicIpv4: "192.0.2.3"}, // waits for approval
		{Id: "node_d", Name: "d", ClusterId: cl.Id, Approved: true, PublicIpv4: "192.0.2.4"},
	} {
		e.appendEvent("node."+n.Id, eventstore.AnyVersion, &ev.NodeRegistered{Node: n})
	}
	e.appendEvent("node."+"node_d", eventstore.AnyVersion, &ev.NodeDisabledSet{NodeId: "node_d", Disabled: true})

	need(c.CreateZone(e.ctx, &dnsv1.CreateZoneRequest{Name: "example.com", Partitions: []string{"default"}}))(t)
	for _, r := range []*dnsv1.Record{
		{Name: "@", Type: dnsv1.RecordType_RECORD_TYPE_A, GatewayCluster: "edge"},
		{Name: "byid", Type: dnsv1.RecordType_RECORD_TYPE_AAAA, GatewayCluster: cl.Id},
		{Name: "www", Type: dnsv1.RecordType_RECORD_TYPE_A, Data: "192.0.2.99"},
	} {
		need(c.AddRecord(e.ctx, &dnsv1.AddRecordRequest{Zone: "example.com", Record: r}))(t)
	}
	release := func() map[string][]string {
		t.Helper()
		rel := need(c.CreateRelease(e.ctx, &dnsv1.CreateReleaseRequest{Zone: "example.com"}))(t)
		e.wait(rel.Version)
		pid, _ := e.c.config.ResolvePartition("default")
		snap := e.c.sync.Snapshot(pid, false)
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
	e.appendEvent("node."+"node_b", eventstore.AnyVersion, &ev.NodeAddressSet{NodeId: "node_b", PublicIpv4: "198.51.100.2"})
	need(c.AddRecord(e.ctx, &dnsv1.AddRecordRequest{Zone: "example.com", Record: &dnsv1.Record{Name: "mail", Type: dnsv1.RecordType_RECORD_TYPE_A, Data: "192.0.2.25"}}))(t)
	got = release()
	want(got, "@", "192.0.2.1", "198.51.100.2", "2001:db8::1")

	// The zone service's own view never carries them.
	z := need(c.GetZone(e.ctx, &dnsv1.GetZoneRequest{Zone: "example.com"}))(t)
	for _, r := range z.GetZone().GetRecords() {
		if len(r.GetGatewayAddresses()) != 0 {
			t.Fatalf("zone read model record %q has gateway addresses %v", r.GetName(), r.GetGatewayAddresses())
		}
	}
}

// TestRenameAndDeletePartitionsAndClusters: partitions and clusters can be
// renamed and deleted; a delete is refused while something uses the object,
// naming every user (clusters, apps, zones; nodes, join tokens, child
// clusters, gateway records), and stores nothing; a cluster a gateway
// record names by name keeps it.
func TestRenameAndDeletePartitionsAndClusters(t *testing.T) {
	e := newContentEnv(t)
	c, dc, ctx := e.cfg, e.dns, e.ctx

	need(c.CreatePartition(ctx, &configv1.CreatePartitionRequest{Name: "eu"}))(t)
	fra := need(c.CreateCluster(ctx, &configv1.CreateClusterRequest{Name: "fra", Partition: "eu"}))(t).Cluster
	need(c.CreateCluster(ctx, &configv1.CreateClusterRequest{Name: "shield", Partition: "eu"}))(t)
	need(c.UpdateCluster(ctx, &configv1.UpdateClusterRequest{Cluster: "fra", Parents: &configv1.ClusterParents{Clusters: []string{"shield"}}}))(t)
	app := need(c.CreateApp(ctx, &configv1.CreateAppRequest{Name: "shop", Domains: []string{"shop.example.com"}, Partitions: []string{"eu"}}))(t).App
	need(dc.CreateZone(ctx, &dnsv1.CreateZoneRequest{Name: "example.com", Partitions: []string{"eu"}}))(t)
	need(dc.AddRecord(ctx, &dnsv1.AddRecordRequest{Zone: "example.com", Record: &dnsv1.Record{Name: "gw", Type: dnsv1.RecordType_RECORD_TYPE_A, GatewayCluster: "fra"}}))(t)
	node := need(c.RegisterNode(ctx, &configv1.RegisterNodeRequest{Name: "n1", Cluster: "fra"}))(t).Node
	// A join token, as the nodes service writes it.
	e.appendEvent("token.jtok_t1", 0, &ev.JoinTokenCreated{TokenId: "jtok_t1", ClusterId: fra.Id,
		ExpiresAt: timestamppb.New(time.Now().Add(time.Hour))})

	refused := func(err error, want ...string) {
		t.Helper()
		ce := wantCode(t, err, connect.CodeFailedPrecondition)
		for _, w := range want {
			if !strings.Contains(ce.Message(), w) {
				t.Errorf("message lacks %q: %s", w, ce.Message())
			}
		}
	}
	before := e.head()
	_, err := c.DeletePartition(ctx, &configv1.DeletePartitionRequest{Partition: "eu"})
	refused(err, `partition "eu" is in use by`, `clusters "fra", "shield"`, `apps "shop" (`+app.Id+`)`, `zones "example.com"`)
	_, err = c.DeleteCluster(ctx, &configv1.DeleteClusterRequest{Cluster: "shield"})
	refused(err, `clusters (as their parent) "fra"`)
	_, err = c.DeleteCluster(ctx, &configv1.DeleteClusterRequest{Cluster: "fra"})
	refused(err, `nodes "n1" (`+node.Id+`)`, "join tokens jtok_t1", `gateway records gw in zone "example.com"`)
	_, err = c.UpdateCluster(ctx, &configv1.UpdateClusterRequest{Cluster: "fra", Name: proto.String("fra-2")})
	refused(err, `cannot rename cluster "fra"`, `gateway records gw in zone "example.com"`, fra.Id)
	if e.head() != before {
		t.Fatal("refused calls stored events")
	}

	// Renames: the id stays, the new name resolves, the old one does not.
	sh := need(c.UpdateCluster(ctx, &configv1.UpdateClusterRequest{Cluster: "shield", Name: proto.String("shield-2")}))(t).Cluster
	if sh.Name != "shield-2" {
		t.Fatalf("renamed cluster %v", sh)
	}
	_, err = c.UpdateCluster(ctx, &configv1.UpdateClusterRequest{Cluster: "shield-2", Name: proto.String("fra")})
	wantField(t, err, "name")
	pt := need(c.UpdatePartition(ctx, &configv1.UpdatePartitionRequest{Partition: "eu", Name: "europe"}))(t).Partition
	if pt.Name != "europe" {
		t.Fatalf("renamed partition %v", pt)
	}
	_, err = c.UpdatePartition(ctx, &configv1.UpdatePartitionRequest{Partition: "europe", Name: "default"})
	wantField(t, err, "name")
	need(c.CreateCluster(ctx, &configv1.CreateClusterRequest{Name: "ams", Partition: "europe"}))(t)
	_, err = c.CreateCluster(ctx, &configv1.CreateClusterRequest{Name: "lhr", Partition: "eu"})
	wantField(t, err, "partition")

	// Remove the users; then both deletes go through.
	need(c.RemoveNode(ctx, &configv1.RemoveNodeRequest{NodeId: node.Id}))(t)
	e.appendEvent("token.jtok_t1", eventstore.AnyVersion, &ev.JoinTokenRevoked{TokenId: "jtok_t1"})
	need(c.UpdateCluster(ctx, &configv1.UpdateClusterRequest{Cluster: "fra", Parents: &configv1.ClusterParents{}}))(t)
	need(dc.DeleteZone(ctx, &dnsv1.DeleteZoneRequest{Zone: "example.com"}))(t)
	_, err = c.DeletePartition(ctx, &configv1.DeletePartitionRequest{Partition: "europe"})
	refused(err, `zones "example.com"`) // its deletion is not released yet
	need(dc.CreateRelease(ctx, &dnsv1.CreateReleaseRequest{Zone: "example.com"}))(t)
	need(c.DeleteApp(ctx, &configv1.DeleteAppRequest{AppId: app.Id}))(t)
	need(c.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: app.Id}))(t)
	for _, cl := range []string{"fra", "shield-2", "ams"} {
		need(c.DeleteCluster(ctx, &configv1.DeleteClusterRequest{Cluster: cl}))(t)
	}
	_, snap := e.apiSnapshot("europe", false)
	if len(snap.Clusters) != 0 {
		t.Fatalf("deleted clusters still in the snapshot: %v", snap.Clusters)
	}
	need(c.DeletePartition(ctx, &configv1.DeletePartitionRequest{Partition: "europe"}))(t)
	for _, p := range need(c.ListPartitions(ctx, &configv1.ListPartitionsRequest{}))(t).Partitions {
		if p.Id == pt.Id {
			t.Fatalf("deleted partition listed: %v", p)
		}
	}
	for _, cl := range need(c.ListClusters(ctx, &configv1.ListClustersRequest{}))(t).Clusters {
		if cl.PartitionId == pt.Id {
			t.Fatalf("deleted cluster listed: %v", cl)
		}
	}
	_, err = c.DeleteCluster(ctx, &configv1.DeleteClusterRequest{Cluster: "fra"})
	wantCode(t, err, connect.CodeNotFound)
}

// A zone release carries, on each GSLB target, the cluster's approved,
// enabled nodes' addresses and its location at that time; the zone's own
// view never carries them; the cluster cannot be deleted while the record
// names it, nor renamed while it names it by name.
func TestZoneReleaseFillsGSLBTargets(t *testing.T) {
	e := newContentEnv(t)
	c := e.dns
	fra := need(e.cfg.CreateCluster(e.ctx, &configv1.CreateClusterRequest{Name: "fra", Partition: "default"}))(t).Cluster
	need(e.cfg.CreateCluster(e.ctx, &configv1.CreateClusterRequest{Name: "nyc", Partition: "default"}))(t)
	loc := &configv1.ClusterLocation{Country: "DE", Continent: "EU", Latitude: 50.11, Longitude: 8.68}
	need(e.cfg.UpdateCluster(e.ctx, &configv1.UpdateClusterRequest{Cluster: "fra", Location: loc}))(t)
	e.appendEvent("node.node_a", eventstore.AnyVersion, &ev.NodeRegistered{Node: &configv1.Node{Id: "node_a", Name: "a", ClusterId: fra.Id, Approved: true, PublicIpv4: "192.0.2.1"}})

	need(c.CreateZone(e.ctx, &dnsv1.CreateZoneRequest{Name: "example.com", Partitions: []string{"default"}}))(t)
	need(c.AddRecord(e.ctx, &dnsv1.AddRecordRequest{Zone: "example.com", Record: &dnsv1.Record{Name: "www", Type: dnsv1.RecordType_RECORD_TYPE_A,
		GatewayTargets: []*dnsv1.GatewayTarget{{Cluster: "fra", Weight: 3}, {Cluster: "nyc"}}}}))(t)
	rel := need(c.CreateRelease(e.ctx, &dnsv1.CreateReleaseRequest{Zone: "example.com"}))(t)
	e.wait(rel.Version)
	pid, _ := e.c.config.ResolvePartition("default")
	snap := e.c.sync.Snapshot(pid, false)
	gts := snap.GetZones()[0].GetRecords()[0].GetGatewayTargets()
	if len(gts) != 2 || !slices.Equal(gts[0].GetAddresses(), []string{"192.0.2.1"}) || gts[0].GetWeight() != 3 ||
		gts[0].GetLocation().GetCountry() != "DE" || gts[0].GetLocation().GetLatitude() != 50.11 ||
		len(gts[1].GetAddresses()) != 0 || gts[1].GetLocation() != nil {
		t.Fatalf("released targets %v", gts)
	}
	z := need(c.GetZone(e.ctx, &dnsv1.GetZoneRequest{Zone: "example.com"}))(t)
	for _, gt := range z.GetZone().GetRecords()[0].GetGatewayTargets() {
		if len(gt.GetAddresses()) != 0 || gt.GetLocation() != nil {
			t.Fatalf("zone read model target %v", gt)
		}
	}
	if _, err := e.cfg.DeleteCluster(e.ctx, &configv1.DeleteClusterRequest{Cluster: "nyc"}); err == nil || !strings.Contains(err.Error(), "www in zone") {
		t.Fatalf("delete of a GSLB target cluster: %v", err)
	}
	if _, err := e.cfg.UpdateCluster(e.ctx, &configv1.UpdateClusterRequest{Cluster: "fra", Name: proto.String("fra-1")}); err == nil || !strings.Contains(err.Error(), "www in zone") {
		t.Fatalf("rename of a GSLB target cluster named by name: %v", err)
	}
}

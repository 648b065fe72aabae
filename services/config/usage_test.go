package config

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	dnsv1 "github.com/strata-edge/strata/gen/strata/dns/v1"
	"github.com/strata-edge/strata/gen/strata/dns/v1/dnsv1connect"
	ev "github.com/strata-edge/strata/gen/strata/events/config/v1"
	"github.com/strata-edge/strata/pkg/eventstore"
	dnssvc "github.com/strata-edge/strata/services/dns"
)

// TestRenameAndDeletePartitionsAndClusters: partitions and clusters can be
// renamed and deleted; a delete is refused while something uses the object,
// naming every user (clusters, apps, zones; nodes, join tokens, child
// clusters, gateway records), and stores nothing; a cluster a gateway
// record names by name keeps it.
func TestRenameAndDeletePartitionsAndClusters(t *testing.T) {
	e := newEnv(t, envOptions{})
	c, ctx := e.client, e.ctx
	d, err := dnssvc.New(dnssvc.Options{Store: e.store, Partitions: e.svc})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Stop(ctx) })
	mux := http.NewServeMux()
	mux.Handle(d.Handler())
	srv := httptest.NewUnstartedServer(mux)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	dc := dnsv1connect.NewDnsServiceClient(srv.Client(), srv.URL)

	must(c.CreatePartition(ctx, &configv1.CreatePartitionRequest{Name: "eu"}))(t)
	fra := must(c.CreateCluster(ctx, &configv1.CreateClusterRequest{Name: "fra", Partition: "eu"}))(t).Cluster
	must(c.CreateCluster(ctx, &configv1.CreateClusterRequest{Name: "shield", Partition: "eu"}))(t)
	must(c.UpdateCluster(ctx, &configv1.UpdateClusterRequest{Cluster: "fra", Parents: &configv1.ClusterParents{Clusters: []string{"shield"}}}))(t)
	app := must(c.CreateApp(ctx, &configv1.CreateAppRequest{Name: "shop", Domains: []string{"shop.example.com"}, Partitions: []string{"eu"}}))(t).App
	must(dc.CreateZone(ctx, &dnsv1.CreateZoneRequest{Name: "example.com", Partitions: []string{"eu"}}))(t)
	must(dc.AddRecord(ctx, &dnsv1.AddRecordRequest{Zone: "example.com", Record: &dnsv1.Record{Name: "gw", Type: dnsv1.RecordType_RECORD_TYPE_A, GatewayCluster: "fra"}}))(t)
	node := must(c.RegisterNode(ctx, &configv1.RegisterNodeRequest{Name: "n1", Cluster: "fra"}))(t).Node
	// A join token, as the nodes service writes it.
	if _, err := e.svc.appendAndWait(ctx, "token.jtok_t1", 0, []proto.Message{&ev.JoinTokenCreated{TokenId: "jtok_t1", ClusterId: fra.Id,
		ExpiresAt: timestamppb.New(time.Now().Add(time.Hour))}}); err != nil {
		t.Fatal(err)
	}

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
	_, err = c.DeletePartition(ctx, &configv1.DeletePartitionRequest{Partition: "eu"})
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
	sh := must(c.UpdateCluster(ctx, &configv1.UpdateClusterRequest{Cluster: "shield", Name: proto.String("shield-2")}))(t).Cluster
	if sh.Name != "shield-2" {
		t.Fatalf("renamed cluster %v", sh)
	}
	_, err = c.UpdateCluster(ctx, &configv1.UpdateClusterRequest{Cluster: "shield-2", Name: proto.String("fra")})
	wantField(t, err, "name")
	pt := must(c.UpdatePartition(ctx, &configv1.UpdatePartitionRequest{Partition: "eu", Name: "europe"}))(t).Partition
	if pt.Name != "europe" {
		t.Fatalf("renamed partition %v", pt)
	}
	_, err = c.UpdatePartition(ctx, &configv1.UpdatePartitionRequest{Partition: "europe", Name: "default"})
	wantField(t, err, "name")
	must(c.CreateCluster(ctx, &configv1.CreateClusterRequest{Name: "ams", Partition: "europe"}))(t)
	_, err = c.CreateCluster(ctx, &configv1.CreateClusterRequest{Name: "lhr", Partition: "eu"})
	wantField(t, err, "partition")

	// Remove the users; then both deletes go through.
	must(c.RemoveNode(ctx, &configv1.RemoveNodeRequest{NodeId: node.Id}))(t)
	if _, err := e.svc.appendAndWait(ctx, "token.jtok_t1", eventstore.AnyVersion, []proto.Message{&ev.JoinTokenRevoked{TokenId: "jtok_t1"}}); err != nil {
		t.Fatal(err)
	}
	must(c.UpdateCluster(ctx, &configv1.UpdateClusterRequest{Cluster: "fra", Parents: &configv1.ClusterParents{}}))(t)
	must(dc.DeleteZone(ctx, &dnsv1.DeleteZoneRequest{Zone: "example.com"}))(t)
	_, err = c.DeletePartition(ctx, &configv1.DeletePartitionRequest{Partition: "europe"})
	refused(err, `zones "example.com"`) // its deletion is not released yet
	must(dc.CreateRelease(ctx, &dnsv1.CreateReleaseRequest{Zone: "example.com"}))(t)
	must(c.DeleteApp(ctx, &configv1.DeleteAppRequest{AppId: app.Id}))(t)
	must(c.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: app.Id}))(t)
	for _, cl := range []string{"fra", "shield-2", "ams"} {
		must(c.DeleteCluster(ctx, &configv1.DeleteClusterRequest{Cluster: cl}))(t)
	}
	_, snap := snapshotOf(t, c, e, "europe", false)
	if len(snap.Clusters) != 0 {
		t.Fatalf("deleted clusters still in the snapshot: %v", snap.Clusters)
	}
	must(c.DeletePartition(ctx, &configv1.DeletePartitionRequest{Partition: "europe"}))(t)
	for _, p := range must(c.ListPartitions(ctx, &configv1.ListPartitionsRequest{}))(t).Partitions {
		if p.Id == pt.Id {
			t.Fatalf("deleted partition listed: %v", p)
		}
	}
	for _, cl := range must(c.ListClusters(ctx, &configv1.ListClustersRequest{}))(t).Clusters {
		if cl.PartitionId == pt.Id {
			t.Fatalf("deleted cluster listed: %v", cl)
		}
	}
	_, err = c.DeleteCluster(ctx, &configv1.DeleteClusterRequest{Cluster: "fra"})
	wantCode(t, err, connect.CodeNotFound)
}

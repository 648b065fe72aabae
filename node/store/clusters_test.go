package store

import (
	"fmt"
	"strings"
	"testing"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/pkg/natsutil"
)

func clusterSettings(s *syncv1.Snapshot) string {
	var out []string
	for _, c := range s.GetClusters() {
		out = append(out, fmt.Sprintf("%s dns_disabled=%v parents=%v", c.GetId(), c.GetDnsDisabled(), c.GetParentClusterIds()))
	}
	return strings.Join(out, "; ")
}

// Cluster settings travel in snapshots and deltas and survive a restart:
// a node that restarts offline keeps its cluster's DNS switch and parents.
func TestClusterSettingsInSnapshotAndDelta(t *testing.T) {
	s, path := openTemp(t)
	snap := base()
	snap.Clusters = []*configv1.Cluster{{Id: "clu_b", PartitionId: "p1", DnsDisabled: true}}
	if err := s.SaveSnapshot(snap, 5); err != nil {
		t.Fatal(err)
	}
	next, err := s.ApplyDelta(&syncv1.Delta{PartitionId: "p1", FromVersion: 10, ToVersion: 11, Schema: natsutil.SyncSchema, Upserts: Upserts(&configv1.Cluster{Id: "clu_a", PartitionId: "p1", ParentClusterIds: []string{"clu_b"}}, &configv1.Cluster{Id: "clu_b", PartitionId: "p1"})}, 6)
	if err != nil {
		t.Fatal(err)
	}
	want := "clu_a dns_disabled=false parents=[clu_b]; clu_b dns_disabled=false parents=[]"
	if got := clusterSettings(next); got != want {
		t.Fatalf("after delta: %s, want %s", got, want)
	}
	s = reopen(t, s, path)
	loaded, _, _ := s.Load()
	if got := clusterSettings(loaded); got != want {
		t.Fatalf("after reopen: %s, want %s", got, want)
	}
	if _, err := s.ApplyDelta(&syncv1.Delta{PartitionId: "p1", FromVersion: 11, ToVersion: 12, Schema: natsutil.SyncSchema, Upserts: Upserts(&configv1.Cluster{Id: ""})}, 7); err == nil || !strings.Contains(err.Error(), "upserts[0].id: required (kind cluster)") {
		t.Fatalf("delta with a cluster without id: err %v, want one naming upserts[0].id", err)
	}
}

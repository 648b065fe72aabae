package config

import (
	"fmt"
	"slices"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

// Cluster settings (DNS switch, parent tiers) apply without a release: one
// delta per track of the cluster's partition, and the snapshot carries them.
func TestUpdateCluster(t *testing.T) {
	e := newEnv(t, envOptions{publish: true})
	c, ctx := e.client, e.ctx
	must(c.CreatePartition(ctx, &configv1.CreatePartitionRequest{Name: "eu"}))(t)
	edge := must(c.CreateCluster(ctx, &configv1.CreateClusterRequest{Name: "edge", Partition: "default"}))(t).Cluster
	shield := must(c.CreateCluster(ctx, &configv1.CreateClusterRequest{Name: "shield", Partition: "default"}))(t).Cluster
	backup := must(c.CreateCluster(ctx, &configv1.CreateClusterRequest{Name: "backup", Partition: "default"}))(t).Cluster
	must(c.CreateCluster(ctx, &configv1.CreateClusterRequest{Name: "eu-1", Partition: "eu"}))(t)

	pid := edge.PartitionId
	got := must(c.UpdateCluster(ctx, &configv1.UpdateClusterRequest{Cluster: "edge",
		DnsDisabled: proto.Bool(true), Parents: &configv1.ClusterParents{Clusters: []string{"shield", backup.Id}}}))(t).Cluster
	if !got.DnsDisabled || !slices.Equal(got.ParentClusterIds, []string{shield.Id, backup.Id}) {
		t.Fatalf("updated cluster: %v", got)
	}
	for _, staging := range []bool{false, true} {
		checkFor(t, func() error {
			_, snap := snapshotOf(t, c, e, "default", staging)
			i := slices.IndexFunc(snap.Clusters, func(x *configv1.Cluster) bool { return x.Id == edge.Id })
			if i < 0 || !proto.Equal(snap.Clusters[i], got) {
				return fmt.Errorf("staging=%v: snapshot clusters %v, want %v", staging, snap.Clusters, got)
			}
			return nil
		})
	}
	// Nothing was released in this partition: the update is its only delta.
	published := func() {
		checkFor(t, func() error {
			if !e.svc.pub.Idle() {
				return fmt.Errorf("publisher busy")
			}
			return nil
		})
	}
	published()
	deltas := deltasOf(t, e, pid, false)
	if len(deltas) != 1 || len(upsertsOf[*configv1.Cluster](t, deltas[0], kindCluster)) != 1 ||
		!proto.Equal(upsertsOf[*configv1.Cluster](t, deltas[0], kindCluster)[0], got) {
		t.Fatalf("deltas after update: %v", deltas)
	}

	// Only the settings present change; an unchanged update writes nothing.
	got = must(c.UpdateCluster(ctx, &configv1.UpdateClusterRequest{Cluster: edge.Id, DnsDisabled: proto.Bool(false)}))(t).Cluster
	if got.DnsDisabled || len(got.ParentClusterIds) != 2 {
		t.Fatalf("after dns on: %v", got)
	}
	published()
	n := len(deltasOf(t, e, pid, false))
	must(c.UpdateCluster(ctx, &configv1.UpdateClusterRequest{Cluster: edge.Id, DnsDisabled: proto.Bool(false)}))(t)
	published()
	if m := len(deltasOf(t, e, pid, false)); m != n {
		t.Fatalf("no-op update published %d deltas", m-n)
	}

	// Bad parents are rejected with the field, nothing stored.
	for _, tc := range []struct {
		name    string
		cluster string
		parents []string
		field   string
	}{
		{"missing", "edge", []string{"nowhere"}, "parents.clusters[0]"},
		{"self", "edge", []string{"shield", "edge"}, "parents.clusters[1]"},
		{"other partition", "edge", []string{"eu-1"}, "parents.clusters[0]"},
		{"twice", "edge", []string{"shield", "shield"}, "parents.clusters[1]"},
		{"cycle", "shield", []string{"edge"}, "parents.clusters[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.UpdateCluster(ctx, &configv1.UpdateClusterRequest{Cluster: tc.cluster,
				Parents: &configv1.ClusterParents{Clusters: tc.parents}})
			wantField(t, err, tc.field)
		})
	}
	_, err := c.UpdateCluster(ctx, &configv1.UpdateClusterRequest{Cluster: "nowhere", DnsDisabled: proto.Bool(true)})
	wantCode(t, err, connect.CodeNotFound)
	if m := len(deltasOf(t, e, pid, false)); m != n {
		t.Fatalf("rejected updates published %d deltas", m-n)
	}

	// An empty parent list removes the parents.
	got = must(c.UpdateCluster(ctx, &configv1.UpdateClusterRequest{Cluster: "edge", Parents: &configv1.ClusterParents{}}))(t).Cluster
	if len(got.ParentClusterIds) != 0 {
		t.Fatalf("parents after clearing: %v", got.ParentClusterIds)
	}
}

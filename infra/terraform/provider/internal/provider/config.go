package provider

import (
	"context"
	"fmt"
	"strings"
	"time"

	"connectrpc.com/connect"

	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

// Partitions and clusters have no version in the API: a concurrent edit is
// caught by comparing the stored object with the one the plan was made from
// just before the write (resource.go), which leaves a window of one call.

var partitionKind = &kind{
	name:   "partition",
	doc:    "A partition: a set of clusters that serve the same apps and zones. Import by id or name.",
	newMsg: func() proto.Message { return &configv1.Partition{} },
	opts:   fieldOpts{required: []string{"name"}, docs: map[string]string{"name": "The partition's name; a change renames it (ids stay)."}},
	create: func(ctx context.Context, c *client, o *object) (*remote, error) {
		res, err := c.config.CreatePartition(ctx, &configv1.CreatePartitionRequest{Name: o.msg.(*configv1.Partition).GetName()})
		if err != nil {
			return nil, err
		}
		return &remote{msg: res.GetPartition()}, nil
	},
	read: func(ctx context.Context, c *client, o *object) (*remote, error) {
		res, err := c.config.ListPartitions(ctx, &configv1.ListPartitionsRequest{})
		if err != nil {
			return nil, err
		}
		for _, p := range res.GetPartitions() {
			if p.GetId() == o.id || p.GetName() == o.id {
				return &remote{msg: p}, nil
			}
		}
		return nil, nil
	},
	update: func(ctx context.Context, c *client, o *object, _ *remote) (*remote, error) {
		res, err := c.config.UpdatePartition(ctx, &configv1.UpdatePartitionRequest{Partition: o.id, Name: o.msg.(*configv1.Partition).GetName()})
		if err != nil {
			return nil, err
		}
		return &remote{msg: res.GetPartition()}, nil
	},
	delete: func(ctx context.Context, c *client, o *object) error {
		_, err := c.config.DeletePartition(ctx, &configv1.DeletePartitionRequest{Partition: o.id})
		return err
	},
}

var clusterKind = &kind{
	name:   "cluster",
	doc:    "A cluster of edge nodes in a partition, with its DNS switch and its parent clusters (tiered caching). Import by id or name.",
	newMsg: func() proto.Message { return &configv1.Cluster{} },
	opts: fieldOpts{skip: []string{"created_at", "updated_at"}, required: []string{"name", "partition_id"}, replace: []string{"partition_id"}, docs: map[string]string{
		"name":               "The cluster's name; a change renames it.",
		"partition_id":       "Id of the cluster's partition; a change replaces the cluster.",
		"dns_disabled":       "The cluster's nodes do not answer DNS (they still serve HTTP).",
		"parent_cluster_ids": "Parent-tier clusters (ids) for tiered caching, in order of preference; same partition, no cycles.",
	}},
	create: func(ctx context.Context, c *client, o *object) (*remote, error) {
		want := o.msg.(*configv1.Cluster)
		res, err := c.config.CreateCluster(ctx, &configv1.CreateClusterRequest{Name: want.GetName(), Partition: want.GetPartitionId()})
		if err != nil {
			return nil, err
		}
		got := res.GetCluster()
		if !want.GetDnsDisabled() && len(want.GetParentClusterIds()) == 0 {
			return &remote{msg: got}, nil
		}
		// The settings take a second call: undo the first when it fails, so
		// that no cluster is left that Terraform does not know of.
		up, err := c.config.UpdateCluster(ctx, clusterUpdate(got.GetId(), want))
		if err != nil {
			_, derr := c.config.DeleteCluster(ctx, &configv1.DeleteClusterRequest{Cluster: got.GetId()})
			if derr != nil {
				return nil, fmt.Errorf("%s (and deleting the cluster created without those settings failed: %s)", apiError(err), apiError(derr))
			}
			return nil, err
		}
		return &remote{msg: up.GetCluster()}, nil
	},
	read: func(ctx context.Context, c *client, o *object) (*remote, error) {
		res, err := c.config.ListClusters(ctx, &configv1.ListClustersRequest{})
		if err != nil {
			return nil, err
		}
		for _, cl := range res.GetClusters() {
			if cl.GetId() == o.id || cl.GetName() == o.id {
				return &remote{msg: cl}, nil
			}
		}
		return nil, nil
	},
	update: func(ctx context.Context, c *client, o *object, _ *remote) (*remote, error) {
		req := clusterUpdate(o.id, o.msg.(*configv1.Cluster))
		req.Name = proto.String(o.msg.(*configv1.Cluster).GetName())
		res, err := c.config.UpdateCluster(ctx, req)
		if err != nil {
			return nil, err
		}
		return &remote{msg: res.GetCluster()}, nil
	},
	delete: func(ctx context.Context, c *client, o *object) error {
		// Terraform destroys a zone and the cluster its gateway records
		// name at once; the delete is refused until the zone's deletion is
		// released, so a refusal for gateway records is tried again.
		deadline := time.Now().Add(clusterDeleteWait)
		for {
			_, err := c.config.DeleteCluster(ctx, &configv1.DeleteClusterRequest{Cluster: o.id})
			if connect.CodeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), "gateway records") || time.Now().After(deadline) {
				return err
			}
			select {
			case <-ctx.Done():
				return err
			case <-time.After(200 * time.Millisecond):
			}
		}
	},
}

// clusterDeleteWait bounds how long a cluster delete waits for the zones
// destroyed beside it to release their deletion.
const clusterDeleteWait = 30 * time.Second

func clusterUpdate(id string, want *configv1.Cluster) *configv1.UpdateClusterRequest {
	return &configv1.UpdateClusterRequest{Cluster: id, DnsDisabled: proto.Bool(want.GetDnsDisabled()),
		Parents: &configv1.ClusterParents{Clusters: want.GetParentClusterIds()}}
}

package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/gen/strata/config/v1/configv1connect"
)

// Partitions, clusters and nodes: where config goes.

func newPartitionCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "partition", Short: "Gateway partitions: isolated sets of clusters sharing one config"}
	var name string
	create := &cobra.Command{
		Use:   "create --name NAME",
		Short: "Create a partition (prints its id)",
		Args:  args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := call(cmd, g, func(ctx context.Context, c configv1connect.ConfigServiceClient) (*configv1.CreatePartitionResponse, error) {
				return c.CreatePartition(ctx, &configv1.CreatePartitionRequest{Name: name})
			})
			if err != nil {
				return err
			}
			return g.emit(res, func(w io.Writer) error {
				_, err := fmt.Fprintln(w, res.GetPartition().GetId())
				return err
			})
		},
	}
	create.Flags().StringVar(&name, "name", "", "partition name (required)")
	_ = create.MarkFlagRequired("name")

	list := &cobra.Command{
		Use:   "list",
		Short: "List partitions",
		Args:  args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := call(cmd, g, func(ctx context.Context, c configv1connect.ConfigServiceClient) (*configv1.ListPartitionsResponse, error) {
				return c.ListPartitions(ctx, &configv1.ListPartitionsRequest{})
			})
			if err != nil {
				return err
			}
			return g.emit(res, func(w io.Writer) error {
				rows := [][]string{{"ID", "NAME"}}
				for _, p := range res.GetPartitions() {
					rows = append(rows, []string{p.GetId(), p.GetName()})
				}
				return table(w, rows)
			})
		},
	}
	cmd.AddCommand(create, list)
	return cmd
}

func newClusterCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "cluster", Short: "Gateway clusters: groups of edge nodes in one partition"}
	var name, partition string
	create := &cobra.Command{
		Use:   "create --name NAME [--partition P]",
		Short: "Create a cluster (prints its id)",
		Args:  args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := call(cmd, g, func(ctx context.Context, c configv1connect.ConfigServiceClient) (*configv1.CreateClusterResponse, error) {
				return c.CreateCluster(ctx, &configv1.CreateClusterRequest{Name: name, Partition: partition})
			})
			if err != nil {
				return err
			}
			return g.emit(res, func(w io.Writer) error {
				_, err := fmt.Fprintln(w, res.GetCluster().GetId())
				return err
			})
		},
	}
	create.Flags().StringVar(&name, "name", "", "cluster name (required)")
	create.Flags().StringVar(&partition, "partition", "default", "partition id or name")
	_ = create.MarkFlagRequired("name")

	list := &cobra.Command{
		Use:   "list",
		Short: "List clusters",
		Args:  args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := call(cmd, g, func(ctx context.Context, c configv1connect.ConfigServiceClient) (*configv1.ListClustersResponse, error) {
				return c.ListClusters(ctx, &configv1.ListClustersRequest{})
			})
			if err != nil {
				return err
			}
			return g.emit(res, func(w io.Writer) error {
				rows := [][]string{{"ID", "NAME", "PARTITION"}}
				for _, c := range res.GetClusters() {
					rows = append(rows, []string{c.GetId(), c.GetName(), c.GetPartitionId()})
				}
				return table(w, rows)
			})
		},
	}
	cmd.AddCommand(create, list)
	return cmd
}

func newNodeCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "node", Short: "Edge nodes and their sync status"}

	var cluster string
	list := &cobra.Command{
		Use:   "list [--cluster C]",
		Short: "List nodes with the config version they run",
		Args:  args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := call(cmd, g, func(ctx context.Context, c configv1connect.ConfigServiceClient) (*configv1.ListNodesResponse, error) {
				return c.ListNodes(ctx, &configv1.ListNodesRequest{Cluster: cluster})
			})
			if err != nil {
				return err
			}
			return g.emit(res, func(w io.Writer) error {
				now := time.Now()
				rows := [][]string{{"ID", "NAME", "CLUSTER", "STAGING", "VERSION", "IN-SYNC", "ONLINE", "LAST-SEEN"}}
				for _, n := range res.GetNodes() {
					version := fmt.Sprintf("%d/%d", n.GetAppliedVersion(), n.GetLatestVersion())
					if n.GetLagReleases() > 0 {
						version += fmt.Sprintf(" (%d behind)", n.GetLagReleases())
					}
					rows = append(rows, []string{
						n.GetNode().GetId(), n.GetNode().GetName(), n.GetNode().GetClusterId(),
						yesNo(n.GetNode().GetStaging()), version, yesNo(n.GetInSync()),
						yesNo(n.GetOnline()), ago(n.GetLastSeen(), now),
					})
				}
				return table(w, rows)
			})
		},
	}
	list.Flags().StringVar(&cluster, "cluster", "", "only nodes of this cluster (id or name)")

	var regName, regCluster string
	var regStaging bool
	register := &cobra.Command{
		Use:   "register --name N --cluster C [--staging]",
		Short: "Register a node in a cluster (prints its id)",
		Args:  args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := call(cmd, g, func(ctx context.Context, c configv1connect.ConfigServiceClient) (*configv1.RegisterNodeResponse, error) {
				return c.RegisterNode(ctx, &configv1.RegisterNodeRequest{Name: regName, Cluster: regCluster, Staging: regStaging})
			})
			if err != nil {
				return err
			}
			return g.emit(res, func(w io.Writer) error {
				_, err := fmt.Fprintln(w, res.GetNode().GetId())
				return err
			})
		},
	}
	register.Flags().StringVar(&regName, "name", "", "node name (required)")
	register.Flags().StringVar(&regCluster, "cluster", "default", "cluster id or name")
	register.Flags().BoolVar(&regStaging, "staging", false, "the node receives staging releases")
	_ = register.MarkFlagRequired("name")

	var on, off bool
	staging := &cobra.Command{
		Use:   "staging NODE_ID --on|--off",
		Short: "Make a node a staging node (--on) or a normal one (--off)",
		Args:  args("NODE_ID"),
		RunE: func(cmd *cobra.Command, a []string) error {
			if on == off {
				return usagef("give exactly one of --on or --off")
			}
			res, err := call(cmd, g, func(ctx context.Context, c configv1connect.ConfigServiceClient) (*configv1.SetNodeStagingResponse, error) {
				return c.SetNodeStaging(ctx, &configv1.SetNodeStagingRequest{NodeId: a[0], Staging: on})
			})
			if err != nil {
				return err
			}
			return g.emit(res, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "node %s staging: %s\n", res.GetNode().GetId(), yesNo(res.GetNode().GetStaging()))
				return err
			})
		},
	}
	staging.Flags().BoolVar(&on, "on", false, "receive staging releases")
	staging.Flags().BoolVar(&off, "off", false, "receive normal releases only")

	remove := &cobra.Command{
		Use:   "remove NODE_ID",
		Short: "Remove a node",
		Args:  args("NODE_ID"),
		RunE: func(cmd *cobra.Command, a []string) error {
			res, err := call(cmd, g, func(ctx context.Context, c configv1connect.ConfigServiceClient) (*configv1.RemoveNodeResponse, error) {
				return c.RemoveNode(ctx, &configv1.RemoveNodeRequest{NodeId: a[0]})
			})
			if err != nil {
				return err
			}
			return g.emit(res, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "removed node %s\n", a[0])
				return err
			})
		},
	}
	cmd.AddCommand(list, register, staging, remove)
	return cmd
}

package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/gen/strata/config/v1/configv1connect"
	"github.com/strata-edge/strata/internal/cli/clientx"
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
			return show(cmd, g, clientx.RPC(configv1connect.ConfigServiceClient.CreatePartition, &configv1.CreatePartitionRequest{Name: name}), func(w io.Writer, res *configv1.CreatePartitionResponse) error {
				return clientx.Line(w, "%s", res.GetPartition().GetId())
			})
		},
	}
	create.Flags().StringVar(&name, "name", "", "partition name (required)")
	_ = create.MarkFlagRequired("name")

	list := clientx.ListCommand(&cobra.Command{
		Use:   "list",
		Short: "List partitions",
		Args:  args(),
	}, func(cmd *cobra.Command, lf *clientx.ListFlags) error {
		return show(cmd, g, clientx.Pages(configv1connect.ConfigServiceClient.ListPartitions, &configv1.ListPartitionsRequest{}, lf), func(w io.Writer, res *configv1.ListPartitionsResponse) error {
			rows := [][]string{{"ID", "NAME"}}
			for _, p := range res.GetPartitions() {
				rows = append(rows, []string{p.GetId(), p.GetName()})
			}
			return clientx.Table(w, rows)
		})
	})
	rename := &cobra.Command{
		Use:     "rename PARTITION NEW-NAME",
		Short:   "Rename a partition (its id, apps, zones and clusters stay)",
		Example: `  strata partition rename eu europe`,
		Args:    args("PARTITION", "NEW-NAME"),
		RunE: func(cmd *cobra.Command, a []string) error {
			return show(cmd, g, clientx.RPC(configv1connect.ConfigServiceClient.UpdatePartition, &configv1.UpdatePartitionRequest{Partition: a[0], Name: a[1]}), func(w io.Writer, res *configv1.UpdatePartitionResponse) error {
				return clientx.Line(w, "renamed partition %s to %s", res.GetPartition().GetId(), res.GetPartition().GetName())
			})
		},
	}
	del := &cobra.Command{
		Use:   "delete PARTITION",
		Short: "Delete a partition nothing uses",
		Long: `Delete a partition. Refused while clusters, apps or DNS zones use it; the
error names them (move apps and zones to another partition, or delete and
release them, and delete the clusters first).`,
		Args: args("PARTITION"),
		RunE: func(cmd *cobra.Command, a []string) error {
			return show(cmd, g, clientx.RPC(configv1connect.ConfigServiceClient.DeletePartition, &configv1.DeletePartitionRequest{Partition: a[0]}), func(w io.Writer, res *configv1.DeletePartitionResponse) error {
				return clientx.Line(w, "deleted partition %s", a[0])
			})
		},
	}
	cmd.AddCommand(create, list, rename, del)
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
			return show(cmd, g, clientx.RPC(configv1connect.ConfigServiceClient.CreateCluster, &configv1.CreateClusterRequest{Name: name, Partition: partition}), func(w io.Writer, res *configv1.CreateClusterResponse) error {
				return clientx.Line(w, "%s", res.GetCluster().GetId())
			})
		},
	}
	create.Flags().StringVar(&name, "name", "", "cluster name (required)")
	create.Flags().StringVar(&partition, "partition", "default", "partition id or name")
	_ = create.MarkFlagRequired("name")

	list := clientx.ListCommand(&cobra.Command{
		Use:   "list",
		Short: "List clusters",
		Args:  args(),
	}, func(cmd *cobra.Command, lf *clientx.ListFlags) error {
		return show(cmd, g, clientx.Pages(configv1connect.ConfigServiceClient.ListClusters, &configv1.ListClustersRequest{}, lf), func(w io.Writer, res *configv1.ListClustersResponse) error {
			partitions := partitionNames(cmd, g)
			clusters := map[string]string{}
			for _, c := range res.GetClusters() {
				clusters[c.GetId()] = c.GetName()
			}
			rows := [][]string{{"ID", "NAME", "PARTITION", "DNS", "PARENTS", "LOCATION"}}
			for _, c := range res.GetClusters() {
				dns := "on"
				if c.GetDnsDisabled() {
					dns = "off"
				}
				parents := make([]string, len(c.GetParentClusterIds()))
				for i, id := range c.GetParentClusterIds() {
					parents[i] = clientx.NameOr(clusters, id)
				}
				rows = append(rows, []string{c.GetId(), c.GetName(), clientx.NameOr(partitions, c.GetPartitionId()), dns, clientx.OrDash(strings.Join(parents, ",")), locationText(c.GetLocation())})
			}
			return clientx.Table(w, rows)
		})
	})
	rename := &cobra.Command{
		Use:     "rename CLUSTER NEW-NAME",
		Short:   "Rename a cluster (its id and nodes stay)",
		Long:    "Rename a cluster. Refused while a DNS gateway record names the cluster by its name (make it name the id first).",
		Example: `  strata cluster rename fra fra-1`,
		Args:    args("CLUSTER", "NEW-NAME"),
		RunE: func(cmd *cobra.Command, a []string) error {
			return show(cmd, g, clientx.RPC(configv1connect.ConfigServiceClient.UpdateCluster, &configv1.UpdateClusterRequest{Cluster: a[0], Name: proto.String(a[1])}), func(w io.Writer, res *configv1.UpdateClusterResponse) error {
				return clientx.Line(w, "renamed cluster %s to %s", res.GetCluster().GetId(), res.GetCluster().GetName())
			})
		},
	}
	del := &cobra.Command{
		Use:   "delete CLUSTER",
		Short: "Delete a cluster nothing uses",
		Long: `Delete a cluster. Refused while nodes, unexpired join tokens, child clusters
(that have it as a parent) or DNS gateway records use it; the error names them.`,
		Args: args("CLUSTER"),
		RunE: func(cmd *cobra.Command, a []string) error {
			return show(cmd, g, clientx.RPC(configv1connect.ConfigServiceClient.DeleteCluster, &configv1.DeleteClusterRequest{Cluster: a[0]}), func(w io.Writer, res *configv1.DeleteClusterResponse) error {
				return clientx.Line(w, "deleted cluster %s", a[0])
			})
		},
	}
	cmd.AddCommand(create, list, newClusterUpdateCmd(g), rename, del)
	return cmd
}

func newClusterUpdateCmd(g *globals) *cobra.Command {
	var dns string
	var parents []string
	var country, continent string
	var lat, lon float64
	var clearLocation bool
	update := &cobra.Command{
		Use:   "update CLUSTER [--dns on|off] [--parents C1,C2 | --parents ''] [--country DE --continent EU --lat 50.1 --lon 8.7 | --clear-location]",
		Short: "Change a cluster's settings; they reach its nodes at once, without a release",
		Long: `Change a cluster's settings. --dns off stops the cluster's nodes answering DNS.
--parents sets the parent-tier clusters for tiered caching, in order of
preference (the next ones are backups); --parents '' removes them.
--country, --continent, --lat and --lon set where the cluster is (replacing
the whole location; GSLB gateway records answer each client with the nearest
cluster, docs/gslb.md); --clear-location forgets it.`,
		Example: `  strata cluster update fra --country DE --continent EU --lat 50.1 --lon 8.7
  strata cluster update fra --clear-location`,
		Args: args("CLUSTER"),
		RunE: func(cmd *cobra.Command, a []string) error {
			req := &configv1.UpdateClusterRequest{Cluster: a[0]}
			if cmd.Flags().Changed("dns") {
				switch dns {
				case "on":
					req.DnsDisabled = proto.Bool(false)
				case "off":
					req.DnsDisabled = proto.Bool(true)
				default:
					return usagef("--dns %q: want on or off", dns)
				}
			}
			if cmd.Flags().Changed("parents") {
				req.Parents = &configv1.ClusterParents{}
				for _, p := range parents {
					if p = strings.TrimSpace(p); p != "" {
						req.Parents.Clusters = append(req.Parents.Clusters, p)
					}
				}
			}
			setLoc := false
			for _, f := range []string{"country", "continent", "lat", "lon"} {
				setLoc = setLoc || cmd.Flags().Changed(f)
			}
			switch {
			case setLoc && clearLocation:
				return usagef("--clear-location with --country, --continent, --lat or --lon: give one or the other")
			case setLoc:
				if cmd.Flags().Changed("lat") != cmd.Flags().Changed("lon") {
					return usagef("--lat and --lon go together")
				}
				req.Location = &configv1.ClusterLocation{Country: country, Continent: continent, Latitude: lat, Longitude: lon}
			case clearLocation:
				req.Location = &configv1.ClusterLocation{}
			}
			if req.DnsDisabled == nil && req.Parents == nil && req.Location == nil {
				return usagef("nothing to change: give --dns, --parents or a location")
			}
			return show(cmd, g, clientx.RPC(configv1connect.ConfigServiceClient.UpdateCluster, req), func(w io.Writer, res *configv1.UpdateClusterResponse) error {
				return clientx.Line(w, "%s", res.GetCluster().GetId())
			})
		},
	}
	update.Flags().StringVar(&dns, "dns", "", "on or off: whether the cluster's nodes answer DNS")
	update.Flags().StringSliceVar(&parents, "parents", nil, "parent clusters (ids or names) in order of preference; '' for none")
	update.Flags().StringVar(&country, "country", "", "location: ISO 3166-1 alpha-2 country code (DE)")
	update.Flags().StringVar(&continent, "continent", "", "location: continent code (EU, NA, AS, AF, OC, SA, AN)")
	update.Flags().Float64Var(&lat, "lat", 0, "location: latitude in degrees (WGS84)")
	update.Flags().Float64Var(&lon, "lon", 0, "location: longitude in degrees (WGS84)")
	update.Flags().BoolVar(&clearLocation, "clear-location", false, "forget the cluster's location")
	return update
}

// locationText shows a cluster location: "DE EU 50.10,8.70", "-" when unknown.
func locationText(l *configv1.ClusterLocation) string {
	var parts []string
	for _, p := range []string{l.GetCountry(), l.GetContinent()} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	if l.GetLatitude() != 0 || l.GetLongitude() != 0 {
		parts = append(parts, fmt.Sprintf("%.2f,%.2f", l.GetLatitude(), l.GetLongitude()))
	}
	return clientx.OrDash(strings.Join(parts, " "))
}

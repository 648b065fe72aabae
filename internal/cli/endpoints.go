package cli

import (
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/gen/strata/config/v1/configv1connect"
	"github.com/strata-edge/strata/internal/cli/clientx"
)

// newEndpointsCmd is `strata upstream endpoints`: dynamic server sets that
// upstreams name with --endpoints, changed without a release.
func newEndpointsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "endpoints", Short: "Dynamic server sets: upstream servers kept current without a release (the k8s controller writes them)"}
	cmd.AddCommand(newEndpointsSetCmd(g), newEndpointsShowCmd(g), newEndpointsListCmd(g), newEndpointsDeleteCmd(g))
	return cmd
}

func newEndpointsSetCmd(g *globals) *cobra.Command {
	var partitions, endpoints, notReady, labels []string
	cmd := &cobra.Command{
		Use:   "set ID --partition P --endpoint HOST:PORT[=WEIGHT] ... [flags]",
		Short: "Write a server set whole (one event, no release; an identical set writes nothing)",
		Example: `  strata upstream endpoints set web.8080 --partition default --endpoint 10.0.0.1:8080 --endpoint 10.0.0.2:8080=2
  strata upstream create --app $APP --name web --endpoints web.8080`,
		Args: args("ID"),
		RunE: func(cmd *cobra.Command, a []string) error {
			set := &configv1.UpstreamEndpoints{Id: a[0], PartitionIds: partitions}
			for _, list := range []struct {
				flag   string
				values []string
			}{{"--endpoint", endpoints}, {"--not-ready", notReady}} {
				for _, v := range list.values {
					srv, err := parseServer(v, false)
					if err != nil {
						return usagef("%s %w", list.flag, err)
					}
					set.Endpoints = append(set.Endpoints, &configv1.Endpoint{Address: srv.Address, Weight: srv.Weight, Ready: list.flag == "--endpoint"})
				}
			}
			l, err := parseKVs("--label", labels)
			if err != nil {
				return err
			}
			set.Labels = l
			return show(cmd, g, clientx.RPC(configv1connect.ConfigServiceClient.SetEndpoints, &configv1.SetEndpointsRequest{Endpoints: set}),
				func(w io.Writer, res *configv1.SetEndpointsResponse) error {
					if !res.GetChanged() {
						return clientx.Line(w, "endpoints %s unchanged (version %d)", res.GetEndpoints().GetId(), res.GetEndpoints().GetVersion())
					}
					return clientx.Line(w, "set endpoints %s: %s (version %d)", res.GetEndpoints().GetId(), endpointList(res.GetEndpoints()), res.GetEndpoints().GetVersion())
				})
		},
	}
	fs := cmd.Flags()
	fs.StringArrayVar(&partitions, "partition", nil, "partition (id or name) whose nodes get the set (repeatable, required)")
	fs.StringArrayVar(&endpoints, "endpoint", nil, "ready endpoint HOST:PORT[=WEIGHT] (repeatable; weight defaults to 1)")
	fs.StringArrayVar(&notReady, "not-ready", nil, "endpoint HOST:PORT[=WEIGHT] that takes no traffic yet (repeatable)")
	fs.StringArrayVar(&labels, "label", nil, "label KEY=VALUE (repeatable)")
	_ = cmd.MarkFlagRequired("partition")
	return cmd
}

func newEndpointsShowCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show a server set",
		Args:  args("ID"),
		RunE: func(cmd *cobra.Command, a []string) error {
			return show(cmd, g, clientx.RPC(configv1connect.ConfigServiceClient.GetEndpoints, &configv1.GetEndpointsRequest{Id: a[0]}),
				func(w io.Writer, res *configv1.GetEndpointsResponse) error {
					e := res.GetEndpoints()
					rows := [][]string{
						{"ID", e.GetId()},
						{"PARTITIONS", strings.Join(e.GetPartitionIds(), ",")},
						{"ENDPOINTS", clientx.OrDash(endpointList(e))},
						{"LABELS", clientx.OrDash(labelList(e.GetLabels()))},
						{"VERSION", strconv.FormatUint(e.GetVersion(), 10)},
						{"UPDATED", clientx.FmtTime(e.GetUpdatedAt()) + " by " + clientx.OrDash(e.GetUpdatedBy())},
					}
					return clientx.Table(w, rows)
				})
		},
	}
}

func newEndpointsListCmd(g *globals) *cobra.Command {
	var prefix string
	cmd := &cobra.Command{
		Use:   "list [--prefix P]",
		Short: "List server sets by id",
		Args:  args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return show(cmd, g, clientx.RPC(configv1connect.ConfigServiceClient.ListEndpoints, &configv1.ListEndpointsRequest{IdPrefix: prefix}),
				func(w io.Writer, res *configv1.ListEndpointsResponse) error {
					rows := [][]string{{"ID", "READY", "ENDPOINTS", "UPDATED BY"}}
					for _, e := range res.GetEndpoints() {
						ready := 0
						for _, ep := range e.GetEndpoints() {
							if ep.GetReady() {
								ready++
							}
						}
						rows = append(rows, []string{e.GetId(), strconv.Itoa(ready) + "/" + strconv.Itoa(len(e.GetEndpoints())),
							clientx.OrDash(endpointList(e)), clientx.OrDash(e.GetUpdatedBy())})
					}
					return clientx.Table(w, rows)
				})
		},
	}
	cmd.Flags().StringVar(&prefix, "prefix", "", "only sets whose id starts with it, e.g. k8s.east.")
	return cmd
}

func newEndpointsDeleteCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "delete ID",
		Short: "Delete a server set (upstreams naming it have no servers until it is set again)",
		Args:  args("ID"),
		RunE: func(cmd *cobra.Command, a []string) error {
			return show(cmd, g, clientx.RPC(configv1connect.ConfigServiceClient.DeleteEndpoints, &configv1.DeleteEndpointsRequest{Id: a[0]}),
				func(w io.Writer, _ *configv1.DeleteEndpointsResponse) error {
					return clientx.Line(w, "deleted endpoints %s", a[0])
				})
		},
	}
}

// endpointList is "ADDR=WEIGHT,..." with "(not ready)" marks.
func endpointList(e *configv1.UpstreamEndpoints) string {
	parts := make([]string, len(e.GetEndpoints()))
	for i, ep := range e.GetEndpoints() {
		parts[i] = ep.GetAddress() + "=" + strconv.FormatUint(uint64(ep.GetWeight()), 10)
		if !ep.GetReady() {
			parts[i] += "(not ready)"
		}
	}
	return strings.Join(parts, ",")
}

// labelList is "k=v,..." sorted by key.
func labelList(l map[string]string) string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		keys[i] = k + "=" + l[k]
	}
	return strings.Join(keys, ",")
}

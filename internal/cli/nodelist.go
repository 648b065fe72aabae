package cli

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/gen/strata/config/v1/configv1connect"
	"github.com/strata-edge/strata/internal/cli/clientx"
)

// The node list: `strata node list` and its table.

func nodeListCmd(g *globals) *cobra.Command {
	var cluster string
	list := clientx.ListCommand(&cobra.Command{
		Use:   "list [--cluster C]",
		Short: "List nodes with the config version they run and the share in sync per cluster",
		Long: `List nodes with their sync status: the snapshot version each runs against the
newest one of its partition (VERSION 12/14), how far behind it is (LAG: releases
and time since the first release it lacks), whether it is online and healthy
(heartbeats every 5s; offline after 15s of silence), and when it was last seen.
A node is in sync when it is online and runs the newest version. A summary per
cluster follows: nodes in sync out of all.`,
		Args: args(),
	}, func(cmd *cobra.Command, lf *clientx.ListFlags) error {
		return show(cmd, g, clientx.Pages(configv1connect.ConfigServiceClient.ListNodes, &configv1.ListNodesRequest{Cluster: cluster}, lf), func(w io.Writer, res *configv1.ListNodesResponse) error {
			names := clusterNames(cmd, g)
			return printNodes(w, res.GetNodes(), names, time.Now())
		})
	})
	list.Flags().StringVar(&cluster, "cluster", "", "only nodes of this cluster (id or name)")
	return list
}

// clusterNames maps cluster ids to names; on error, ids stay as they are.
func clusterNames(cmd *cobra.Command, g *globals) map[string]string {
	res, err := call(cmd, g, clientx.Pages(configv1connect.ConfigServiceClient.ListClusters, &configv1.ListClustersRequest{}, nil))
	out := map[string]string{}
	if err != nil {
		return out
	}
	for _, c := range res.GetClusters() {
		out[c.GetId()] = c.GetName()
	}
	return out
}

// partitionNames maps partition ids to names; on error, ids stay as they are.
func partitionNames(cmd *cobra.Command, g *globals) map[string]string {
	res, _ := call(cmd, g, clientx.Pages(configv1connect.ConfigServiceClient.ListPartitions, &configv1.ListPartitionsRequest{}, nil))
	out := map[string]string{}
	for _, p := range res.GetPartitions() { // none on error
		out[p.GetId()] = p.GetName()
	}
	return out
}

// AppNames maps app ids to names for the tables of the command packages;
// on error, ids stay as they are.
func (g *globals) AppNames(ctx context.Context) map[string]string {
	res, _ := clientx.Call(ctx, g, g.configClient, clientx.Pages(configv1connect.ConfigServiceClient.ListApps, &configv1.ListAppsRequest{}, nil))
	out := map[string]string{}
	for _, a := range res.GetApps() { // none on error
		out[a.GetId()] = a.GetName()
	}
	return out
}

// dnsState is the DNS column of node list: what the node's heartbeat said.
func dnsState(s configv1.NodeDnsState) string {
	switch s {
	case configv1.NodeDnsState_NODE_DNS_STATE_ANSWERING:
		return "answering"
	case configv1.NodeDnsState_NODE_DNS_STATE_OFF:
		return "off"
	case configv1.NodeDnsState_NODE_DNS_STATE_FAILED:
		return "failed"
	case configv1.NodeDnsState_NODE_DNS_STATE_NONE:
		return "none"
	}
	return "-"
}

// xdpState is the XDP column: mode per filtered interface ("failed" where
// it is not attached; the reason is printed under the table).
func xdpState(xs []*configv1.NodeXdpInterface) string {
	if len(xs) == 0 {
		return "-"
	}
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = x.GetName() + ":" + cmp.Or(x.GetMode(), "failed")
	}
	return strings.Join(parts, ",")
}

// track is the TRACK column: the snapshot track the node follows.
func track(n *configv1.NodeInfo) string {
	if t := n.GetTrack(); t != "" {
		return t
	}
	if n.GetNode().GetStaging() {
		return "staging"
	}
	return "stable"
}

// maxNodeReleases is how many apps the RELEASES column names.
const maxNodeReleases = 3

// nodeReleases is the RELEASES column: APP@RELEASE of the apps the node
// runs ("shop@4,api@2,+3 more"; -o json has them all).
func nodeReleases(rs []*configv1.NodeAppRelease) string {
	if len(rs) == 0 {
		return "-"
	}
	var parts []string
	for i, r := range rs {
		if i == maxNodeReleases {
			parts = append(parts, fmt.Sprintf("+%d more", len(rs)-i))
			break
		}
		parts = append(parts, fmt.Sprintf("%s@%d", clientx.OrDash(r.GetAppName()), r.GetRelease()))
	}
	return strings.Join(parts, ",")
}

func printNodes(w io.Writer, nodes []*configv1.NodeInfo, clusterNames map[string]string, now time.Time) error {
	name := func(id string) string {
		if n := clusterNames[id]; n != "" {
			return n
		}
		return id
	}
	rows := [][]string{{"ID", "NAME", "CLUSTER", "TRACK", "VERSION", "RELEASES", "LAG", "IN-SYNC", "ONLINE", "HEALTHY", "PEERS", "DNS", "XDP", "ROLES", "SOFTWARE", "LAST-SEEN"}}
	var applyErrors []string
	type share struct{ inSync, all int }
	shares := map[string]*share{}
	var order []string
	for _, n := range nodes {
		node := n.GetNode()
		state := ""
		switch {
		case !node.GetApproved():
			state = " (awaiting approval)"
		case node.GetDisabled():
			state = " (disabled)"
		}
		rows = append(rows, []string{
			node.GetId(), node.GetName() + state, name(node.GetClusterId()), track(n),
			fmt.Sprintf("%d/%d", n.GetAppliedVersion(), n.GetLatestVersion()), nodeReleases(n.GetReleases()), lag(n),
			clientx.YesNo(n.GetInSync()), clientx.YesNo(n.GetOnline()), clientx.YesNo(n.GetHealthy()), clientx.OrDash(n.GetPeerChecks()), dnsState(n.GetDns()), xdpState(n.GetXdp()), clientx.OrDash(strings.Join(n.GetRoles(), ",")), clientx.OrDash(n.GetSoftwareVersion()), ago(n.GetLastSeen(), now),
		})
		if r := n.GetHealthReason(); r != "" && n.GetOnline() {
			applyErrors = append(applyErrors, fmt.Sprintf("%s (%s) is unhealthy: %s", node.GetName(), node.GetId(), r))
		}
		if e := n.GetApplyError(); e != "" {
			applyErrors = append(applyErrors, fmt.Sprintf("%s (%s) rejects the newest snapshot: %s", node.GetName(), node.GetId(), e))
		}
		for _, x := range n.GetXdp() {
			if x.GetMode() == "" {
				applyErrors = append(applyErrors, fmt.Sprintf("%s (%s): XDP filter not attached on %s: %s", node.GetName(), node.GetId(), x.GetName(), x.GetError()))
			}
		}
		if e := n.GetPublishError(); e != "" {
			applyErrors = append(applyErrors, fmt.Sprintf("%s (%s): the control plane could not publish its track: %s", node.GetName(), node.GetId(), e))
		}
		c := node.GetClusterId()
		if shares[c] == nil {
			shares[c] = &share{}
			order = append(order, c)
		}
		shares[c].all++
		if n.GetInSync() {
			shares[c].inSync++
		}
	}
	if err := clientx.Table(w, rows); err != nil {
		return err
	}
	for _, e := range applyErrors {
		if _, err := fmt.Fprintln(w, e); err != nil {
			return err
		}
	}
	if len(order) == 0 {
		return nil
	}
	slices.SortFunc(order, func(a, b string) int { return strings.Compare(name(a), name(b)) })
	sum := [][]string{{"CLUSTER", "NODES", "IN-SYNC"}}
	for _, c := range order {
		s := shares[c]
		sum = append(sum, []string{name(c), strconv.Itoa(s.all),
			fmt.Sprintf("%d/%d (%d%%)", s.inSync, s.all, int(math.Round(100*float64(s.inSync)/float64(s.all))))})
	}
	fmt.Fprintln(w)
	return clientx.Table(w, sum)
}

// lag is "-" for a node that is not behind, else e.g. "2 releases, 35s".
func lag(n *configv1.NodeInfo) string {
	if n.GetLagReleases() == 0 {
		return "-"
	}
	unit := "releases"
	if n.GetLagReleases() == 1 {
		unit = "release"
	}
	d := time.Duration(n.GetLagSeconds() * float64(time.Second)).Round(time.Second)
	return fmt.Sprintf("%d %s, %s", n.GetLagReleases(), unit, d)
}

package cli

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/gen/strata/config/v1/configv1connect"
	"github.com/strata-edge/strata/internal/cli/clientx"
	"github.com/strata-edge/strata/internal/stack"
)

// DefaultNodeDataDir is where `strata node` keeps its identity and config.
const DefaultNodeDataDir = ".strata-node"

// Edge nodes: running one (`strata node --join-token ...`), join tokens,
// approval and sync status.

func newNodeCmd(g *globals) *cobra.Command {
	var o stack.NodeOptions
	var lf logFlags
	cmd := &cobra.Command{
		Use:   "node [--join-token T --name N --data DIR] | node COMMAND",
		Short: "Run an edge node, or manage nodes, join tokens and sync status",
		Long: `Without a subcommand, run an edge node: it joins the control plane at --api
with a join token (from "strata node token create"), keeps its key, credentials
and config in --data, syncs the config of its partition over a NATS leaf link,
and serves it on --http-addr and --https-addr.

A node whose token needs approval waits, asking again every few seconds, until
an operator runs "strata node approve ID". Restarts reuse --data: the node keeps
its identity and serves its stored config at once, even while the control plane
is down (then the join token may be omitted).

Apps name the ports they are served on (http_ports, default 80; https_ports):
--http-port and --https-port say which ports the listeners stand for, so a node
listening on 7480 behind a forward from 80 serves apps on port 80.`,
		Example: `  TOKEN=$(strata node token create --cluster fra --auto-approve)
  strata node --api http://control:7400 --join-token "$TOKEN" --name fra-1 --data /var/lib/strata-node \
      --http-addr 0.0.0.0:80 --https-addr 0.0.0.0:443
  strata node list`,
		Args: func(cmd *cobra.Command, a []string) error {
			if len(a) > 0 {
				return usagef("unknown command %q for %q", a[0], cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().NFlag() == 0 && !hasNodeIdentity(o.DataDir) {
				return cmd.Help()
			}
			log, err := lf.logger(g)
			if err != nil {
				return err
			}
			if o.JoinToken == "" {
				o.JoinToken = strings.TrimSpace(g.getenv("STRATA_JOIN_TOKEN"))
			}
			o.API = g.api
			o.Logger = log
			o.Banner = g.stdout
			return stack.RunNode(cmd.Context(), o)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.JoinToken, "join-token", "", "join `TOKEN` made by strata node token create (env STRATA_JOIN_TOKEN); needed on the first start")
	fs.StringVar(&o.Name, "name", defaultNodeName(), "node name, unique in its cluster")
	fs.StringVar(&o.DataDir, "data", DefaultNodeDataDir, "node data directory (key, credentials, stored config)")
	fs.StringVar(&o.HTTPAddr, "http-addr", ":7480", "proxy HTTP listen address (empty: none)")
	fs.StringVar(&o.HTTPSAddr, "https-addr", ":7443", "proxy HTTPS listen address (empty: none)")
	fs.StringVar(&o.DNSAddr, "dns-addr", "", "authoritative DNS listen address, UDP and TCP (empty: none)")
	fs.StringArrayVar(&o.PublicIPs, "public-ip", nil, "public address of the node, sent at join (repeat for IPv4 and IPv6); gateway DNS records answer with the healthy nodes' addresses")
	fs.StringVar(&o.TierAddr, "tier-addr", "", "HOST:PORT nodes of child clusters reach --http-addr at for tiered caching (default: the bound --http-addr, its 0.0.0.0 or :: host replaced by the first --public-ip)")
	fs.Uint32Var(&o.HTTPPort, "http-port", 80, "port apps name for the HTTP listener (0: the bound port)")
	fs.Uint32Var(&o.HTTPSPort, "https-port", 443, "port apps name for the HTTPS listener (0: the bound port)")
	fs.StringVar(&o.MetricsAddr, "metrics-addr", "", "HOST:PORT serving /metrics (Prometheus) and /healthz (empty: off, so several nodes can share a host)")
	lf.register(fs)

	cmd.AddCommand(nodeListCmd(g), nodeRegisterCmd(g), nodeStagingCmd(g), nodeRemoveCmd(g),
		nodeApproveCmd(g), nodeDisableCmd(g, true), nodeDisableCmd(g, false), nodeTokenCmd(g))
	return cmd
}

// hasNodeIdentity reports whether dir holds a node that joined before.
func hasNodeIdentity(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, stack.EdgeStateFile))
	return err == nil
}

// defaultNodeName is the host name when it is a valid node name.
func defaultNodeName() string {
	h, err := os.Hostname()
	if err != nil {
		return ""
	}
	h = strings.ToLower(strings.SplitN(h, ".", 2)[0])
	return h
}

func nodeListCmd(g *globals) *cobra.Command {
	var cluster string
	list := &cobra.Command{
		Use:   "list [--cluster C]",
		Short: "List nodes with the config version they run and the share in sync per cluster",
		Long: `List nodes with their sync status: the snapshot version each runs against the
newest one of its partition (VERSION 12/14), how far behind it is (LAG: releases
and time since the first release it lacks), whether it is online and healthy
(heartbeats every 5s; offline after 15s of silence), and when it was last seen.
A node is in sync when it is online and runs the newest version. A summary per
cluster follows: nodes in sync out of all.`,
		Args: args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := call(cmd, g, func(ctx context.Context, c configv1connect.ConfigServiceClient) (*configv1.ListNodesResponse, error) {
				return c.ListNodes(ctx, &configv1.ListNodesRequest{Cluster: cluster})
			})
			if err != nil {
				return err
			}
			return g.emit(res, func(w io.Writer) error {
				names := clusterNames(cmd, g)
				return printNodes(w, res.GetNodes(), names, time.Now())
			})
		},
	}
	list.Flags().StringVar(&cluster, "cluster", "", "only nodes of this cluster (id or name)")
	return list
}

// clusterNames maps cluster ids to names; on error, ids stay as they are.
func clusterNames(cmd *cobra.Command, g *globals) map[string]string {
	res, err := call(cmd, g, func(ctx context.Context, c configv1connect.ConfigServiceClient) (*configv1.ListClustersResponse, error) {
		return c.ListClusters(ctx, &configv1.ListClustersRequest{})
	})
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
	res, _ := call(cmd, g, func(ctx context.Context, c configv1connect.ConfigServiceClient) (*configv1.ListPartitionsResponse, error) {
		return c.ListPartitions(ctx, &configv1.ListPartitionsRequest{})
	})
	out := map[string]string{}
	for _, p := range res.GetPartitions() { // none on error
		out[p.GetId()] = p.GetName()
	}
	return out
}

// AppNames maps app ids to names for the tables of the command packages;
// on error, ids stay as they are.
func (g *globals) AppNames(ctx context.Context) map[string]string {
	res, _ := clientx.Call(ctx, g, g.configClient, func(ctx context.Context, c configv1connect.ConfigServiceClient) (*configv1.ListAppsResponse, error) {
		return c.ListApps(ctx, &configv1.ListAppsRequest{})
	})
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
		parts = append(parts, fmt.Sprintf("%s@%d", orDash(r.GetAppName()), r.GetRelease()))
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
	rows := [][]string{{"ID", "NAME", "CLUSTER", "TRACK", "VERSION", "RELEASES", "LAG", "IN-SYNC", "ONLINE", "HEALTHY", "DNS", "LAST-SEEN"}}
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
			yesNo(n.GetInSync()), yesNo(n.GetOnline()), yesNo(n.GetHealthy()), dnsState(n.GetDns()), ago(n.GetLastSeen(), now),
		})
		if e := n.GetApplyError(); e != "" {
			applyErrors = append(applyErrors, fmt.Sprintf("%s (%s) rejects the newest snapshot: %s", node.GetName(), node.GetId(), e))
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
	if err := table(w, rows); err != nil {
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
	return table(w, sum)
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

func nodeRegisterCmd(g *globals) *cobra.Command {
	var regName, regCluster string
	var regStaging bool
	register := &cobra.Command{
		Use:   "register --name N --cluster C [--staging]",
		Short: "Register a node without a key (prefer join tokens: strata node token create)",
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
	return register
}

func nodeStagingCmd(g *globals) *cobra.Command {
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
	return staging
}

func nodeRemoveCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "remove NODE_ID",
		Short: "Remove a node (its NATS credentials are revoked at once)",
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
}

func nodeApproveCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "approve NODE_ID",
		Short: "Approve a node that joined with a token needing approval",
		Args:  args("NODE_ID"),
		RunE: func(cmd *cobra.Command, a []string) error {
			res, err := callNodes(cmd, g, func(ctx context.Context, c configv1connect.NodeServiceClient) (*configv1.ApproveNodeResponse, error) {
				return c.ApproveNode(ctx, &configv1.ApproveNodeRequest{NodeId: a[0]})
			})
			if err != nil {
				return err
			}
			return g.emit(res, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "approved node %s (%s)\n", res.GetNode().GetId(), res.GetNode().GetName())
				return err
			})
		},
	}
}

// nodeDisableCmd is `node disable` (disable true) or `node enable`.
func nodeDisableCmd(g *globals, disable bool) *cobra.Command {
	verb, short := "enable", "Put a disabled node back in service"
	if disable {
		verb, short = "disable", "Take a node out of service (shown offline; keeps its credentials and config)"
	}
	return &cobra.Command{
		Use:   verb + " NODE_ID",
		Short: short,
		Args:  args("NODE_ID"),
		RunE: func(cmd *cobra.Command, a []string) error {
			res, err := callNodes(cmd, g, func(ctx context.Context, c configv1connect.NodeServiceClient) (*configv1.SetNodeDisabledResponse, error) {
				return c.SetNodeDisabled(ctx, &configv1.SetNodeDisabledRequest{NodeId: a[0], Disabled: disable})
			})
			if err != nil {
				return err
			}
			return g.emit(res, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "node %s disabled: %s\n", res.GetNode().GetId(), yesNo(res.GetNode().GetDisabled()))
				return err
			})
		},
	}
}

func nodeTokenCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Join tokens: what a new node presents to join a cluster"}

	var cluster, ttl, description string
	var autoApprove, staging bool
	create := &cobra.Command{
		Use:   "create --cluster C [--ttl 24h] [--auto-approve] [--staging]",
		Short: "Create a join token (prints the token, shown only once)",
		Long: `Create a join token for a cluster. The token is printed once; the control plane
keeps only its hash. Nodes joining with --auto-approve tokens get their
credentials at once; others wait for "strata node approve". Nodes joining with
a --staging token receive staging releases. --ttl is at most 30 days (720h, 30d).`,
		Args: args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			secs, err := parseTTL(ttl)
			if err != nil {
				return usageError{err}
			}
			res, err := callNodes(cmd, g, func(ctx context.Context, c configv1connect.NodeServiceClient) (*configv1.CreateJoinTokenResponse, error) {
				return c.CreateJoinToken(ctx, &configv1.CreateJoinTokenRequest{Cluster: cluster, TtlSeconds: secs,
					AutoApprove: autoApprove, Staging: staging, Description: description})
			})
			if err != nil {
				return err
			}
			return g.emit(res, func(w io.Writer) error {
				_, err := fmt.Fprintln(w, res.GetToken())
				return err
			})
		},
	}
	create.Flags().StringVar(&cluster, "cluster", "", "cluster id or name (required)")
	create.Flags().StringVar(&ttl, "ttl", "24h", "lifetime, e.g. 1h, 24h, 7d (at most 30d)")
	create.Flags().BoolVar(&autoApprove, "auto-approve", false, "nodes joining with it need no approval")
	create.Flags().BoolVar(&staging, "staging", false, "nodes joining with it receive staging releases")
	create.Flags().StringVar(&description, "description", "", "what the token is for")
	_ = create.MarkFlagRequired("cluster")

	list := &cobra.Command{
		Use:   "list",
		Short: "List join tokens (without secrets)",
		Args:  args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := callNodes(cmd, g, func(ctx context.Context, c configv1connect.NodeServiceClient) (*configv1.ListJoinTokensResponse, error) {
				return c.ListJoinTokens(ctx, &configv1.ListJoinTokensRequest{})
			})
			if err != nil {
				return err
			}
			return g.emit(res, func(w io.Writer) error {
				now := time.Now()
				names := clusterNames(cmd, g)
				rows := [][]string{{"ID", "CLUSTER", "AUTO-APPROVE", "STAGING", "EXPIRES", "STATE", "DESCRIPTION"}}
				for _, t := range res.GetJoinTokens() {
					state := "valid"
					switch {
					case t.GetRevoked():
						state = "revoked"
					case t.GetExpiresAt() != nil && !now.Before(t.GetExpiresAt().AsTime()):
						state = "expired"
					}
					rows = append(rows, []string{t.GetId(), clientx.NameOr(names, t.GetClusterId()), yesNo(t.GetAutoApprove()), yesNo(t.GetStaging()),
						fmtTime(t.GetExpiresAt()), state, orDash(t.GetDescription())})
				}
				return table(w, rows)
			})
		},
	}

	revoke := &cobra.Command{
		Use:   "revoke TOKEN_ID",
		Short: "Revoke a join token (nodes that joined with it keep working)",
		Args:  args("TOKEN_ID"),
		RunE: func(cmd *cobra.Command, a []string) error {
			res, err := callNodes(cmd, g, func(ctx context.Context, c configv1connect.NodeServiceClient) (*configv1.RevokeJoinTokenResponse, error) {
				return c.RevokeJoinToken(ctx, &configv1.RevokeJoinTokenRequest{TokenId: a[0]})
			})
			if err != nil {
				return err
			}
			return g.emit(res, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "revoked join token %s\n", a[0])
				return err
			})
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

// parseTTL reads a Go duration or a number of days ("7d") as whole seconds.
func parseTTL(s string) (uint32, error) {
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("--ttl: %q: want a duration such as 24h or 7d", s)
		}
		if n > 30 {
			return 0, fmt.Errorf("--ttl: %q: at most 30 days (720h)", s)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("--ttl: %q: want a duration such as 24h or 7d", s)
		}
	}
	if d < time.Second {
		return 0, fmt.Errorf("--ttl: %q: must be at least 1s", s)
	}
	if d > 30*24*time.Hour {
		return 0, fmt.Errorf("--ttl: %q: at most 30 days (720h)", s)
	}
	return uint32(d / time.Second), nil
}

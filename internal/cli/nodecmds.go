package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/gen/strata/config/v1/configv1connect"
	"github.com/strata-edge/strata/internal/cli/clientx"
)

// The node API verbs: register, staging, remove, approve, disable and
// enable, and join tokens.

func nodeRegisterCmd(g *globals) *cobra.Command {
	var regName, regCluster string
	var regStaging bool
	register := &cobra.Command{
		Use:   "register --name N --cluster C [--staging]",
		Short: "Register a node without a key (prefer join tokens: strata node token create)",
		Args:  args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return show(cmd, g, clientx.RPC(configv1connect.ConfigServiceClient.RegisterNode, &configv1.RegisterNodeRequest{Name: regName, Cluster: regCluster, Staging: regStaging}), func(w io.Writer, res *configv1.RegisterNodeResponse) error {
				return clientx.Line(w, "%s", res.GetNode().GetId())
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
			return show(cmd, g, clientx.RPC(configv1connect.ConfigServiceClient.SetNodeStaging, &configv1.SetNodeStagingRequest{NodeId: a[0], Staging: on}), func(w io.Writer, res *configv1.SetNodeStagingResponse) error {
				return clientx.Line(w, "node %s staging: %s", res.GetNode().GetId(), clientx.YesNo(res.GetNode().GetStaging()))
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
			return show(cmd, g, clientx.RPC(configv1connect.ConfigServiceClient.RemoveNode, &configv1.RemoveNodeRequest{NodeId: a[0]}), func(w io.Writer, res *configv1.RemoveNodeResponse) error {
				return clientx.Line(w, "removed node %s", a[0])
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
			return showNodes(cmd, g, clientx.RPC(configv1connect.NodeServiceClient.ApproveNode, &configv1.ApproveNodeRequest{NodeId: a[0]}), func(w io.Writer, res *configv1.ApproveNodeResponse) error {
				return clientx.Line(w, "approved node %s (%s)", res.GetNode().GetId(), res.GetNode().GetName())
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
			return showNodes(cmd, g, clientx.RPC(configv1connect.NodeServiceClient.SetNodeDisabled, &configv1.SetNodeDisabledRequest{NodeId: a[0], Disabled: disable}), func(w io.Writer, res *configv1.SetNodeDisabledResponse) error {
				return clientx.Line(w, "node %s disabled: %s", res.GetNode().GetId(), clientx.YesNo(res.GetNode().GetDisabled()))
			})
		},
	}
}

func nodeTokenCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Join tokens: what a new node presents to join a cluster"}

	var cluster, ttl, description, out string
	var autoApprove, staging, createCluster bool
	create := &cobra.Command{
		Use:   "create --cluster C [--ttl 24h] [--auto-approve] [--staging]",
		Short: "Create a join token (prints the token, shown only once)",
		Long: `Create a join token for a cluster. The token is printed once; the control plane
keeps only its hash. Nodes joining with --auto-approve tokens get their
credentials at once; others wait for "strata node approve". Nodes joining with
a --staging token receive staging releases. --ttl is at most 30 days (720h, 30d).

--out writes the token to a file (mode 0600) instead of stdout, for a node
started with --join-token-file; --create-cluster first creates the cluster
(by name, in the default partition) unless it exists, so a setup step can
run again (docker compose, docs/compose.md).`,
		Args: args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			secs, err := parseTTL(ttl)
			if err != nil {
				return usageError{err}
			}
			if createCluster {
				if err := ensureCluster(cmd, g, cluster); err != nil {
					return err
				}
			}
			return showNodes(cmd, g, clientx.RPC(configv1connect.NodeServiceClient.CreateJoinToken, &configv1.CreateJoinTokenRequest{Cluster: cluster, TtlSeconds: secs,
				AutoApprove: autoApprove, Staging: staging, Description: description}), func(w io.Writer, res *configv1.CreateJoinTokenResponse) error {
				if out != "" {
					return writeTokenFile(w, out, res.GetToken())
				}
				return clientx.Line(w, "%s", res.GetToken())
			})
		},
	}
	create.Flags().StringVar(&cluster, "cluster", "", "cluster id or name (required)")
	create.Flags().StringVar(&ttl, "ttl", "24h", "lifetime, e.g. 1h, 24h, 7d (at most 30d)")
	create.Flags().BoolVar(&autoApprove, "auto-approve", false, "nodes joining with it need no approval")
	create.Flags().BoolVar(&staging, "staging", false, "nodes joining with it receive staging releases")
	create.Flags().StringVar(&description, "description", "", "what the token is for")
	create.Flags().StringVar(&out, "out", "", "write the token to `FILE` (mode 0600) instead of stdout")
	create.Flags().BoolVar(&createCluster, "create-cluster", false, "create the cluster (by name, default partition) unless it exists")
	_ = create.MarkFlagRequired("cluster")

	list := clientx.ListCommand(&cobra.Command{
		Use:   "list",
		Short: "List join tokens (without secrets)",
		Args:  args(),
	}, func(cmd *cobra.Command, lf *clientx.ListFlags) error {
		return showNodes(cmd, g, clientx.Pages(configv1connect.NodeServiceClient.ListJoinTokens, &configv1.ListJoinTokensRequest{}, lf), func(w io.Writer, res *configv1.ListJoinTokensResponse) error {
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
				rows = append(rows, []string{t.GetId(), clientx.NameOr(names, t.GetClusterId()), clientx.YesNo(t.GetAutoApprove()), clientx.YesNo(t.GetStaging()),
					clientx.FmtTime(t.GetExpiresAt()), state, clientx.OrDash(t.GetDescription())})
			}
			return clientx.Table(w, rows)
		})
	})

	revoke := &cobra.Command{
		Use:   "revoke TOKEN_ID",
		Short: "Revoke a join token (nodes that joined with it keep working)",
		Args:  args("TOKEN_ID"),
		RunE: func(cmd *cobra.Command, a []string) error {
			return showNodes(cmd, g, clientx.RPC(configv1connect.NodeServiceClient.RevokeJoinToken, &configv1.RevokeJoinTokenRequest{TokenId: a[0]}), func(w io.Writer, res *configv1.RevokeJoinTokenResponse) error {
				return clientx.Line(w, "revoked join token %s", a[0])
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

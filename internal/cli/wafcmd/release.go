package wafcmd

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/gen/strata/config/v1/configv1connect"
	wafv1 "github.com/strata-edge/strata/gen/strata/waf/v1"
	"github.com/strata-edge/strata/gen/strata/waf/v1/wafv1connect"
	"github.com/strata-edge/strata/internal/cli/clientx"
)

// noted are the --note and --expect-version of the release commands.
type noted struct {
	note string
	ev   clientx.ExpectVersion
}

func (n *noted) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&n.note, "note", "", "why: shown in the release list")
	n.ev.Register(cmd.Flags(), "policy")
}

func releaseCmd(f ClientFactory) *cobra.Command {
	var n noted
	var staging bool
	cmd := &cobra.Command{
		Use:   "release POLICY [--note TEXT] [--staging]",
		Short: "Release a WAF policy's working copy to the nodes of its partitions (prints the release number)",
		Long: `Release the policy's pending changes to every node of its partitions, or with
--staging to the staging nodes only (promote it then). The policy is compiled
again first: one that does not compile is refused here, never on a node.`,
		Example: `  strata waf policy release strict --note "block mode"
  strata waf policy release strict --staging && strata waf policy promote strict`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			res, err := call(cmd, f, clientx.RPC(wafv1connect.WafServiceClient.CreateRelease, &wafv1.CreateReleaseRequest{PolicyId: a[0], Note: n.note, Staging: staging, ExpectedVersion: n.ev.Get(cmd)}))
			if err != nil {
				return err
			}
			return clientx.Emitf(f, res, "%d", res.GetRelease().GetNumber())
		},
	}
	cmd.Flags().BoolVar(&staging, "staging", false, "release to staging nodes only")
	n.register(cmd)
	return cmd
}

func promoteCmd(f ClientFactory) *cobra.Command {
	var n noted
	cmd := &cobra.Command{
		Use:   "promote POLICY [--note TEXT]",
		Short: "Make a WAF policy's staging release live on stable nodes too (prints its number)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			res, err := call(cmd, f, clientx.RPC(wafv1connect.WafServiceClient.PromoteRelease, &wafv1.PromoteReleaseRequest{PolicyId: a[0], Note: n.note, ExpectedVersion: n.ev.Get(cmd)}))
			if err != nil {
				return err
			}
			return clientx.Emitf(f, res, "%d", res.GetRelease().GetNumber())
		},
	}
	n.register(cmd)
	return cmd
}

func revertCmd(f ClientFactory) *cobra.Command {
	var n noted
	var to uint64
	cmd := &cobra.Command{
		Use:     "revert POLICY --to N [--note TEXT]",
		Short:   "Release a WAF policy as it was in release N, on every node (prints the new release number)",
		Example: `  strata waf policy revert strict --to 1 --note "too many false positives"`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			if to == 0 {
				return fmt.Errorf("--to: the release number to restore is required")
			}
			res, err := call(cmd, f, clientx.RPC(wafv1connect.WafServiceClient.RevertPolicy, &wafv1.RevertPolicyRequest{PolicyId: a[0], ToRelease: to, Note: n.note, ExpectedVersion: n.ev.Get(cmd)}))
			if err != nil {
				return err
			}
			return clientx.Emitf(f, res, "%d", res.GetRelease().GetNumber())
		},
	}
	cmd.Flags().Uint64Var(&to, "to", 0, "release number to restore (required)")
	n.register(cmd)
	return cmd
}

func releasesCmd(f ClientFactory) *cobra.Command {
	return clientx.ListCommand(&cobra.Command{
		Use:   "releases POLICY",
		Short: "List a WAF policy's releases, newest first, and where each runs",
		Args:  cobra.ExactArgs(1),
	}, func(cmd *cobra.Command, lf *clientx.ListFlags) error {
		id := cmd.Flags().Arg(0)
		return show(cmd, f, clientx.Pages(wafv1connect.WafServiceClient.ListReleases, &wafv1.ListReleasesRequest{PolicyId: id}, lf), func(w io.Writer, res *wafv1.ListReleasesResponse) error {
			rows := [][]string{{"RELEASE", "KIND", "TIME", "ACTOR", "LIVE ON", "NOTE"}}
			rs := res.GetReleases()
			for i := len(rs) - 1; i >= 0; i-- {
				r := rs[i]
				kind := r.GetKind()
				if r.GetRevertedTo() != 0 {
					kind = "revert to " + strconv.FormatUint(r.GetRevertedTo(), 10)
				}
				if r.GetStaging() {
					kind += " (staging)"
				}
				rows = append(rows, []string{strconv.FormatUint(r.GetNumber(), 10), kind, clientx.FmtTime(r.GetTime()), clientx.OrDash(r.GetActor()),
					liveOn(r.GetNumber(), res.GetStableRelease(), res.GetStagingRelease()), clientx.OrDash(r.GetNote())})
			}
			return clientx.Table(w, rows)
		})
	})
}

func liveOn(n, stable, staging uint64) string {
	switch {
	case n == stable && n == staging:
		return "all nodes"
	case n == stable:
		return "stable nodes"
	case n == staging:
		return "staging nodes"
	}
	return "-"
}

// attachCmd is attach (on) or detach: the app's waf_policy_id changes in
// its working copy, released with the app (strata release create --app).
func attachCmd(f ClientFactory, on bool) *cobra.Command {
	var app string
	var ev clientx.ExpectVersion
	use, short := "attach POLICY --app APP", "Attach a WAF policy to an app (a pending change of the app: release the app)"
	if !on {
		use, short = "detach --app APP", "Detach an app's WAF policy (a pending change of the app: release the app)"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Example: `  strata waf policy attach strict --app shop && strata release create --app shop --note "waf on"
  strata waf policy detach --app shop && strata release create --app shop`,
		Args: func(_ *cobra.Command, a []string) error {
			if on && len(a) != 1 {
				return fmt.Errorf("attach takes one argument, the policy id or name")
			}
			if !on && len(a) > 1 {
				return fmt.Errorf("detach takes at most one argument (the policy, checked against the app's)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, a []string) error {
			if app == "" {
				return errNoApp
			}
			res, err := clientx.Call(cmd.Context(), f, f.AppClient, func(ctx context.Context, c configv1connect.ConfigServiceClient) (*configv1.UpdateAppResponse, error) {
				cur, err := c.GetApp(ctx, &configv1.GetAppRequest{AppId: app})
				if err != nil {
					return nil, err
				}
				req := updateFrom(cur.GetApp())
				req.ExpectedVersion = ev.OrRead(cmd, cur.GetVersion())
				if on {
					req.WafPolicyId = a[0]
				} else {
					if len(a) == 1 && cur.GetApp().GetWafPolicyId() == "" {
						return nil, fmt.Errorf("app %s attaches no waf policy", app)
					}
					req.WafPolicyId = ""
				}
				return c.UpdateApp(ctx, req)
			})
			if err != nil {
				return err
			}
			if on {
				return clientx.Emitf(f, res, "attached waf policy %s to app %s (version %d); release the app to apply it", res.GetApp().GetWafPolicyId(), res.GetApp().GetId(), res.GetVersion())
			}
			return clientx.Emitf(f, res, "detached the waf policy of app %s (version %d); release the app to apply it", res.GetApp().GetId(), res.GetVersion())
		},
	}
	cmd.Flags().StringVar(&app, "app", "", "app id or name (required)")
	ev.Register(cmd.Flags(), "app")
	return cmd
}

// updateFrom is the UpdateApp request that keeps every setting of app: each
// request field takes the app field of the same name (partitions:
// partition_ids), so a setting added to both later is kept too.
func updateFrom(app *configv1.App) *configv1.UpdateAppRequest {
	req := &configv1.UpdateAppRequest{AppId: app.GetId()}
	rm, am := req.ProtoReflect(), app.ProtoReflect()
	fields := rm.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		name := fd.Name()
		switch name {
		case "app_id", "expected_version":
			continue
		case "partitions":
			name = "partition_ids"
		}
		afd := am.Descriptor().Fields().ByName(name)
		if afd == nil || afd.Kind() != fd.Kind() || afd.Cardinality() != fd.Cardinality() || afd.IsMap() != fd.IsMap() || !am.Has(afd) {
			continue
		}
		if fd.Kind() == protoreflect.MessageKind && !fd.IsList() && !fd.IsMap() && fd.Message().FullName() != afd.Message().FullName() {
			continue
		}
		v := am.Get(afd)
		switch {
		case fd.IsList():
			l := rm.Mutable(fd).List()
			for j := range v.List().Len() {
				l.Append(v.List().Get(j))
			}
		case fd.IsMap():
			m := rm.Mutable(fd).Map()
			v.Map().Range(func(k protoreflect.MapKey, x protoreflect.Value) bool { m.Set(k, x); return true })
		case fd.Kind() == protoreflect.MessageKind:
			rm.Set(fd, protoreflect.ValueOfMessage(proto.Clone(v.Message().Interface()).ProtoReflect()))
		default:
			rm.Set(fd, v)
		}
	}
	return req
}

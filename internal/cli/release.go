package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"strconv"

	"github.com/spf13/cobra"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/gen/strata/config/v1/configv1connect"
)

func newReleaseCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "release", Short: "Release an app's pending changes, promote staging releases, list releases, revert"}
	cmd.AddCommand(newReleaseCreateCmd(g), newReleasePromoteCmd(g), newReleaseListCmd(g), newReleaseRevertCmd(g), newReleaseRevertObjectCmd(g))
	return cmd
}

func newReleaseCreateCmd(g *globals) *cobra.Command {
	var app, note string
	var staging bool
	var ev expectVersion
	cmd := &cobra.Command{
		Use:   "create --app APP [--note TEXT] [--staging]",
		Short: "Release the app's pending changes (prints the release number)",
		Long: `Release the app's pending changes to every node of its partitions, or with
--staging to the staging nodes only. Prints the new release number.

A release that would change nothing is refused ("nothing to release"): no
pending changes, or changes that cancel out. To make a staging release live
on the stable nodes too, promote it: strata release promote --app ID.`,
		Example: `  strata app diff $APP && strata release create --app $APP --note "new api upstream"
  strata release create --app $APP --staging && strata release promote --app $APP`,
		Args: args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := call(cmd, g, func(ctx context.Context, c configv1connect.ConfigServiceClient) (*configv1.CreateReleaseResponse, error) {
				return c.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: app, ExpectedVersion: ev.get(cmd), Note: note, Staging: staging})
			})
			if err != nil {
				return err
			}
			return g.emitf(res, "%d", res.GetRelease().GetNumber())
		},
	}
	cmd.Flags().StringVar(&app, "app", "", "app id or name (required)")
	cmd.Flags().StringVar(&note, "note", "", "why: shown in the release list")
	cmd.Flags().BoolVar(&staging, "staging", false, "release to staging nodes only")
	ev.register(cmd.Flags())
	_ = cmd.MarkFlagRequired("app")
	return cmd
}

func newReleasePromoteCmd(g *globals) *cobra.Command {
	var app, note string
	var ev expectVersion
	cmd := &cobra.Command{
		Use:   "promote --app ID [--note TEXT]",
		Short: "Make the app's staging release live on stable nodes too (prints its number)",
		Long: `Promote the app's newest release, a staging release (release create --staging),
to the stable nodes: every node then runs it. No new release is made; pending
changes stay pending. Refused when the stable nodes already run the newest
release ("nothing to promote").`,
		Example: `  strata release create --app $APP --staging --note "try on staging"   # prints 5
  strata release promote --app $APP                                     # prints 5`,
		Args: args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := call(cmd, g, func(ctx context.Context, c configv1connect.ConfigServiceClient) (*configv1.PromoteReleaseResponse, error) {
				return c.PromoteRelease(ctx, &configv1.PromoteReleaseRequest{AppId: app, ExpectedVersion: ev.get(cmd), Note: note})
			})
			if err != nil {
				return err
			}
			return g.emitf(res, "%d", res.GetRelease().GetNumber())
		},
	}
	cmd.Flags().StringVar(&app, "app", "", "app id or name (required)")
	cmd.Flags().StringVar(&note, "note", "", "why (kept in the event log)")
	ev.register(cmd.Flags())
	_ = cmd.MarkFlagRequired("app")
	return cmd
}

func newReleaseListCmd(g *globals) *cobra.Command {
	var app string
	cmd := &cobra.Command{
		Use:   "list --app APP",
		Short: "List an app's releases, newest first",
		Args:  args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := call(cmd, g, func(ctx context.Context, c configv1connect.ConfigServiceClient) (*configv1.ListReleasesResponse, error) {
				return c.ListReleases(ctx, &configv1.ListReleasesRequest{AppId: app})
			})
			if err != nil {
				return err
			}
			return g.emit(res, func(w io.Writer) error {
				rows := [][]string{{"NUMBER", "KIND", "TIME", "ACTOR", "STAGING", "LIVE", "RESTORES", "NOTE"}}
				for _, r := range res.GetReleases() {
					restores := "-"
					if r.GetRevertedTo() > 0 {
						restores = "release " + strconv.FormatUint(r.GetRevertedTo(), 10)
						if r.GetObject() != "" {
							restores = r.GetObject() + " of " + restores
						}
					}
					staging := yesNo(r.GetStaging())
					if r.GetPromotedTime() != nil {
						staging = "promoted " + fmtTime(r.GetPromotedTime())
					}
					rows = append(rows, []string{
						strconv.FormatUint(r.GetNumber(), 10), r.GetKind(), fmtTime(r.GetTime()), orDash(r.GetActor()),
						staging, liveOn(r.GetNumber(), res.GetStableRelease(), res.GetStagingRelease()), restores, orDash(r.GetNote()),
					})
				}
				return table(w, rows)
			})
		},
	}
	cmd.Flags().StringVar(&app, "app", "", "app id or name (required)")
	_ = cmd.MarkFlagRequired("app")
	return cmd
}

// liveOn says which nodes run release n: "stable+staging", "stable",
// "staging" or "-".
func liveOn(n, stable, staging uint64) string {
	switch {
	case n == stable && n == staging:
		return "stable+staging"
	case n == stable:
		return "stable"
	case n == staging:
		return "staging"
	}
	return "-"
}

func newReleaseRevertCmd(g *globals) *cobra.Command {
	var app, note string
	var to uint64
	var ev expectVersion
	cmd := &cobra.Command{
		Use:   "revert --app APP --to N [--note TEXT]",
		Short: "Release the app as it was in release N (prints the new release number)",
		Long: `Restore the app's content of release N as a new release. History is kept: the
revert is itself a release and can be reverted.`,
		Example: `  strata release revert --app $APP --to 1 --note "roll back the api split"`,
		Args:    args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := call(cmd, g, func(ctx context.Context, c configv1connect.ConfigServiceClient) (*configv1.RevertAppResponse, error) {
				return c.RevertApp(ctx, &configv1.RevertAppRequest{AppId: app, ExpectedVersion: ev.get(cmd), ToRelease: to, Note: note})
			})
			if err != nil {
				return err
			}
			return g.emitf(res, "%d", res.GetRelease().GetNumber())
		},
	}
	cmd.Flags().StringVar(&app, "app", "", "app id or name (required)")
	cmd.Flags().Uint64Var(&to, "to", 0, "release number to restore (required)")
	cmd.Flags().StringVar(&note, "note", "", "why: shown in the release list")
	ev.register(cmd.Flags())
	_ = cmd.MarkFlagRequired("app")
	_ = cmd.MarkFlagRequired("to")
	return cmd
}

func newReleaseRevertObjectCmd(g *globals) *cobra.Command {
	var app, kind, name, note string
	var to uint64
	var ev expectVersion
	cmd := &cobra.Command{
		Use:     "revert-object --app APP --kind rule|upstream --name N --to N [--note TEXT]",
		Short:   "Restore one rule or upstream as it was in release N, as a new release",
		Example: `  strata release revert-object --app $APP --kind upstream --name web --to 2`,
		Args:    args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if kind != "rule" && kind != "upstream" {
				return usagef("--kind: %q is not an object kind; use rule or upstream", kind)
			}
			res, err := call(cmd, g, func(ctx context.Context, c configv1connect.ConfigServiceClient) (*configv1.RevertObjectResponse, error) {
				return c.RevertObject(ctx, &configv1.RevertObjectRequest{AppId: app, ExpectedVersion: ev.get(cmd), Kind: kind, Object: name, ToRelease: to, Note: note})
			})
			if err != nil {
				return err
			}
			return g.emitf(res, "%d", res.GetRelease().GetNumber())
		},
	}
	cmd.Flags().StringVar(&app, "app", "", "app id or name (required)")
	cmd.Flags().StringVar(&kind, "kind", "", "rule or upstream (required)")
	cmd.Flags().StringVar(&name, "name", "", "object name or id (required)")
	cmd.Flags().Uint64Var(&to, "to", 0, "release number to restore from (required)")
	cmd.Flags().StringVar(&note, "note", "", "why: shown in the release list")
	ev.register(cmd.Flags())
	for _, f := range []string{"app", "kind", "name", "to"} {
		_ = cmd.MarkFlagRequired(f)
	}
	return cmd
}

func newSnapshotCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "snapshot", Short: "The config snapshots nodes run"}
	var partition string
	var staging bool
	get := &cobra.Command{
		Use:   "get --partition P [--staging]",
		Short: "Show the current snapshot of a partition",
		Args:  args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := call(cmd, g, func(ctx context.Context, c configv1connect.ConfigServiceClient) (*configv1.GetSnapshotResponse, error) {
				return c.GetSnapshot(ctx, &configv1.GetSnapshotRequest{Partition: partition, Staging: staging})
			})
			if err != nil {
				return err
			}
			return g.emit(res, func(w io.Writer) error {
				fmt.Fprintf(w, "version %d, %d app(s), consistent: %s\n", res.GetVersion(), res.GetApps(), yesNo(res.GetConsistent()))
				if res.GetJson() == "" {
					return nil
				}
				var pretty any
				if json.Unmarshal([]byte(res.GetJson()), &pretty) == nil {
					b, _ := json.MarshalIndent(pretty, "", "  ")
					_, err := fmt.Fprintf(w, "%s\n", b)
					return err
				}
				_, err := fmt.Fprintln(w, res.GetJson())
				return err
			})
		},
	}
	get.Flags().StringVar(&partition, "partition", "default", "partition id or name")
	get.Flags().BoolVar(&staging, "staging", false, "the staging track")
	cmd.AddCommand(get)
	return cmd
}

func newVersionCmd(g *globals, info BuildInfo) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of this binary",
		Args:  args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if g.output == "json" {
				b, _ := json.MarshalIndent(map[string]string{
					"version": info.Version, "commit": info.Commit, "go": runtime.Version(),
					"platform": runtime.GOOS + "/" + runtime.GOARCH,
				}, "", "  ")
				_, err := fmt.Fprintf(g.stdout, "%s\n", b)
				return err
			}
			commit := ""
			if info.Commit != "" {
				commit = " (" + info.Commit + ")"
			}
			_, err := fmt.Fprintf(g.stdout, "strata %s%s %s %s/%s\n", info.Version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
}

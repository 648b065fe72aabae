package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/gen/strata/config/v1/configv1connect"
	"github.com/strata-edge/strata/internal/cli/clientx"
	"github.com/strata-edge/strata/internal/cli/releasecmd"
)

func newReleaseCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "release", Short: "Release an app's pending changes, promote staging releases, list releases, revert"}
	cmd.AddCommand(releasecmd.Commands(g, appReleases(g))...)
	cmd.AddCommand(newReleaseRevertObjectCmd(g))
	return cmd
}

// appReleases is the apps' release API for the shared release commands.
func appReleases(g *globals) releasecmd.Kind {
	create := func(cmd *cobra.Command, r releasecmd.Request) (proto.Message, uint64, error) {
		res, err := call(cmd, g, clientx.RPC(configv1connect.ConfigServiceClient.CreateRelease, &configv1.CreateReleaseRequest{AppId: r.ID, ExpectedVersion: r.Expected, Note: r.Note, Staging: r.Staging}))
		return res, res.GetRelease().GetNumber(), err
	}
	promote := func(cmd *cobra.Command, r releasecmd.Request) (proto.Message, uint64, error) {
		res, err := call(cmd, g, clientx.RPC(configv1connect.ConfigServiceClient.PromoteRelease, &configv1.PromoteReleaseRequest{AppId: r.ID, ExpectedVersion: r.Expected, Note: r.Note}))
		return res, res.GetRelease().GetNumber(), err
	}
	revert := func(cmd *cobra.Command, r releasecmd.Request) (proto.Message, uint64, error) {
		res, err := call(cmd, g, clientx.RPC(configv1connect.ConfigServiceClient.RevertApp, &configv1.RevertAppRequest{AppId: r.ID, ExpectedVersion: r.Expected, ToRelease: r.To, Note: r.Note}))
		return res, res.GetRelease().GetNumber(), err
	}
	list := func(cmd *cobra.Command, id string) (proto.Message, releasecmd.List, error) {
		res, err := call(cmd, g, clientx.Pages(configv1connect.ConfigServiceClient.ListReleases, &configv1.ListReleasesRequest{AppId: id}, nil))
		l := releasecmd.List{Releases: releasecmd.Records(res.GetReleases(), false), Stable: res.GetStableRelease(), Staging: res.GetStagingRelease()}
		return res, l, err
	}
	return releasecmd.Kind{Noun: "app", Command: "strata release", Create: create, Promote: promote, Revert: revert, List: list}
}

func newReleaseRevertObjectCmd(g *globals) *cobra.Command {
	var app, kind, name, note string
	var to uint64
	var ev clientx.ExpectVersion
	cmd := &cobra.Command{
		Use:     "revert-object --app APP --kind rule|upstream --name N --to N [--note TEXT]",
		Short:   "Restore one rule or upstream as it was in release N, as a new release",
		Example: `  strata release revert-object --app $APP --kind upstream --name web --to 2`,
		Args:    args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if kind != "rule" && kind != "upstream" {
				return usagef("--kind: %q is not an object kind; use rule or upstream", kind)
			}
			return show(cmd, g, clientx.RPC(configv1connect.ConfigServiceClient.RevertObject, &configv1.RevertObjectRequest{AppId: app, ExpectedVersion: ev.Get(cmd), Kind: kind, Object: name, ToRelease: to, Note: note}), func(w io.Writer, res *configv1.RevertObjectResponse) error {
				return clientx.Line(w, "%d", res.GetRelease().GetNumber())
			})
		},
	}
	cmd.Flags().StringVar(&app, "app", "", "app id or name (required)")
	cmd.Flags().StringVar(&kind, "kind", "", "rule or upstream (required)")
	cmd.Flags().StringVar(&name, "name", "", "object name or id (required)")
	cmd.Flags().Uint64Var(&to, "to", 0, "release number to restore from (required)")
	cmd.Flags().StringVar(&note, "note", "", "why: shown in the release list")
	ev.Register(cmd.Flags(), "app")
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
			return show(cmd, g, clientx.RPC(configv1connect.ConfigServiceClient.GetSnapshot, &configv1.GetSnapshotRequest{Partition: partition, Staging: staging}), func(w io.Writer, res *configv1.GetSnapshotResponse) error {
				fmt.Fprintf(w, "version %d, %d app(s), consistent: %s\n", res.GetVersion(), res.GetApps(), clientx.YesNo(res.GetConsistent()))
				if res.GetJson() == "" {
					return nil
				}
				var pretty any
				if json.Unmarshal([]byte(res.GetJson()), &pretty) == nil {
					b, _ := json.MarshalIndent(pretty, "", "  ")
					return clientx.Line(w, "%s", b)
				}
				return clientx.Line(w, "%s", res.GetJson())
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
				return clientx.Line(g.stdout, "%s", b)
			}
			commit := ""
			if info.Commit != "" {
				commit = " (" + info.Commit + ")"
			}
			return clientx.Line(g.stdout, "strata %s%s %s %s/%s", info.Version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		},
	}
}

// Package releasecmd is the command line of every releasable kind (apps,
// zones): release create (--staging), promote, list and revert, written
// once over a small table of the kind's API calls (Kind), as pkg/release is
// their one release core.
package releasecmd

import (
	"fmt"
	"io"
	"strconv"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/strata-edge/strata/internal/cli/clientx"
)

// Kind is one releasable kind's release API as the commands call it. Each
// call returns the API response (printed by -o json) and the number of the
// release it made or promoted.
type Kind struct {
	Noun    string // the flag naming the object (--app, --zone) and messages
	Command string // the command group, for examples: "strata release"
	Create  func(cmd *cobra.Command, r Request) (proto.Message, uint64, error)
	Promote func(cmd *cobra.Command, r Request) (proto.Message, uint64, error)
	Revert  func(cmd *cobra.Command, r Request) (proto.Message, uint64, error)
	List    func(cmd *cobra.Command, id string) (proto.Message, List, error)
}

// Request is what the commands send.
type Request struct {
	ID       string
	Expected *uint64 // --expect-version
	Note     string
	Staging  bool
	To       uint64 // revert: the release to restore
}

// List is a kind's releases, newest first, and the releases its stable
// and staging nodes run.
type List struct {
	Releases        []Record
	Stable, Staging uint64
}

// Record is one release as the list shows it: the getters the API's
// Release messages of every kind have (an app's also GetObject).
type Record interface {
	GetNumber() uint64
	GetKind() string // "release", "revert", "object_revert"
	GetTime() *timestamppb.Timestamp
	GetActor() string
	GetNote() string
	GetStaging() bool
	GetPromotedTime() *timestamppb.Timestamp
	GetRevertedTo() uint64
}

// Records turns an API list into List's records, newest first.
func Records[R Record](rs []R, oldestFirst bool) []Record {
	out := make([]Record, len(rs))
	for i, r := range rs {
		if oldestFirst {
			i = len(rs) - 1 - i
		}
		out[i] = r
	}
	return out
}

// Commands are release create, promote, list and revert of k.
func Commands(env clientx.Env, k Kind) []*cobra.Command {
	return []*cobra.Command{createCmd(env, k), promoteCmd(env, k), listCmd(env, k), revertCmd(env, k)}
}

// mutating is a command that sends a Request and prints the release number.
func mutating(env clientx.Env, k Kind, cmd *cobra.Command, r *Request, call func(*cobra.Command, Request) (proto.Message, uint64, error)) *cobra.Command {
	var ev clientx.ExpectVersion
	run := cmd.RunE
	cmd.RunE = func(cmd *cobra.Command, a []string) error {
		if run != nil {
			if err := run(cmd, a); err != nil {
				return err
			}
		}
		r.Expected = ev.Get(cmd)
		res, n, err := call(cmd, *r)
		if err != nil {
			return err
		}
		return clientx.Emitf(env, res, "%d", n)
	}
	cmd.Flags().StringVar(&r.ID, k.Noun, "", k.Noun+" id or name (required)")
	cmd.Flags().StringVar(&r.Note, "note", "", "why: shown in the release list")
	ev.Register(cmd.Flags(), k.Noun)
	_ = cmd.MarkFlagRequired(k.Noun)
	return cmd
}

func createCmd(env clientx.Env, k Kind) *cobra.Command {
	var r Request
	cmd := &cobra.Command{
		Use:   fmt.Sprintf("create --%s ID [--note TEXT] [--staging]", k.Noun),
		Short: fmt.Sprintf("Release the %s's pending changes (prints the release number)", k.Noun),
		Long: fmt.Sprintf(`Release the %[1]s's pending changes to every node of its partitions, or with
--staging to the staging nodes only. Prints the new release number.

A release that would change nothing is refused ("nothing to release"): no
pending changes, or changes that cancel out. To make a staging release live
on the stable nodes too, promote it: %[2]s promote --%[1]s ID.`, k.Noun, k.Command),
		Example: fmt.Sprintf(`  %[2]s create --%[1]s $ID --note "why"
  %[2]s create --%[1]s $ID --staging && %[2]s promote --%[1]s $ID`, k.Noun, k.Command),
		Args: cobra.NoArgs,
	}
	cmd.Flags().BoolVar(&r.Staging, "staging", false, "release to staging nodes only")
	return mutating(env, k, cmd, &r, k.Create)
}

func promoteCmd(env clientx.Env, k Kind) *cobra.Command {
	var r Request
	cmd := &cobra.Command{
		Use:   fmt.Sprintf("promote --%s ID [--note TEXT]", k.Noun),
		Short: fmt.Sprintf("Make the %s's staging release live on stable nodes too (prints its number)", k.Noun),
		Long: fmt.Sprintf(`Promote the %s's newest release, a staging release (release create --staging),
to the stable nodes: every node then runs it. No new release is made; pending
changes stay pending. Refused when the stable nodes already run the newest
release ("nothing to promote").`, k.Noun),
		Example: fmt.Sprintf(`  %[2]s create --%[1]s $ID --staging --note "try on staging"   # prints 5
  %[2]s promote --%[1]s $ID                                     # prints 5`, k.Noun, k.Command),
		Args: cobra.NoArgs,
	}
	return mutating(env, k, cmd, &r, k.Promote)
}

func revertCmd(env clientx.Env, k Kind) *cobra.Command {
	var r Request
	cmd := &cobra.Command{
		Use:   fmt.Sprintf("revert --%s ID --to N [--note TEXT]", k.Noun),
		Short: fmt.Sprintf("Release the %s as it was in release N (prints the new release number)", k.Noun),
		Long: fmt.Sprintf(`Restore the %s's content of release N as a new release on every node. History
is kept: the revert is itself a release and can be reverted. N is --to or
the one argument.`, k.Noun),
		Example: fmt.Sprintf(`  %[2]s revert --%[1]s $ID --to 1 --note "roll back"`, k.Noun, k.Command),
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			if len(a) == 1 {
				to, err := strconv.ParseUint(a[0], 10, 64)
				if err != nil || to == 0 {
					return fmt.Errorf("RELEASE %q: a release number (1, 2, ...)", a[0])
				}
				r.To = to
			}
			if r.To == 0 {
				return fmt.Errorf("--to: the release number to restore is required")
			}
			return nil
		},
	}
	cmd.Flags().Uint64Var(&r.To, "to", 0, "release number to restore (required)")
	return mutating(env, k, cmd, &r, k.Revert)
}

func listCmd(env clientx.Env, k Kind) *cobra.Command {
	var id string
	cmd := &cobra.Command{
		Use:   fmt.Sprintf("list --%s ID", k.Noun),
		Short: fmt.Sprintf("List a %s's releases, newest first", k.Noun),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, l, err := k.List(cmd, id)
			if err != nil {
				return err
			}
			return clientx.Emit(env, res, func(w io.Writer) error { return table(w, l) })
		},
	}
	cmd.Flags().StringVar(&id, k.Noun, "", k.Noun+" id or name (required)")
	_ = cmd.MarkFlagRequired(k.Noun)
	return cmd
}

func table(w io.Writer, l List) error {
	rows := [][]string{{"NUMBER", "KIND", "TIME", "ACTOR", "STAGING", "LIVE", "RESTORES", "NOTE"}}
	for _, r := range l.Releases {
		restores := "-"
		if r.GetRevertedTo() > 0 {
			restores = "release " + strconv.FormatUint(r.GetRevertedTo(), 10)
			if o, ok := r.(interface{ GetObject() string }); ok && o.GetObject() != "" {
				restores = o.GetObject() + " of " + restores
			}
		}
		staging := clientx.YesNo(r.GetStaging())
		if r.GetPromotedTime() != nil {
			staging = "promoted " + clientx.FmtTime(r.GetPromotedTime())
		}
		rows = append(rows, []string{
			strconv.FormatUint(r.GetNumber(), 10), r.GetKind(), clientx.FmtTime(r.GetTime()), clientx.OrDash(r.GetActor()),
			staging, liveOn(r.GetNumber(), l.Stable, l.Staging), restores, clientx.OrDash(r.GetNote()),
		})
	}
	return clientx.Table(w, rows)
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

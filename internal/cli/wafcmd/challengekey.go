package wafcmd

import (
	"io"

	"github.com/spf13/cobra"

	wafv1 "github.com/strata-edge/strata/gen/strata/waf/v1"
	"github.com/strata-edge/strata/gen/strata/waf/v1/wafv1connect"
	"github.com/strata-edge/strata/internal/cli/clientx"
)

// challengeKeyCmd is strata waf challenge-key rotate: a new key signs the
// challenge clearance cookies of the partitions (the previous one keeps
// verifying those it signed). The service also rotates every 24 hours.
func challengeKeyCmd(f ClientFactory) *cobra.Command {
	ck := &cobra.Command{Use: "challenge-key", Short: "The keys that sign challenge clearance cookies, one per partition (rotated every 24 h)"}
	var partitions []string
	rotate := &cobra.Command{
		Use:   "rotate [--partition P ...]",
		Short: "Make a new challenge key current now (every partition, or those named); cookies of the previous key stay valid",
		Example: `  strata waf challenge-key rotate
  strata waf challenge-key rotate --partition eu-west -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return show(cmd, f, clientx.RPC(wafv1connect.WafServiceClient.RotateChallengeKey, &wafv1.RotateChallengeKeyRequest{PartitionIds: partitions}),
				func(w io.Writer, res *wafv1.RotateChallengeKeyResponse) error {
					rows := [][]string{{"PARTITION", "KEY", "VALID FROM", "VALID UNTIL"}}
					for _, k := range res.GetKeys() {
						rows = append(rows, []string{k.GetPartitionId(), k.GetKeyId(), clientx.FmtTime(k.GetNotBefore()), clientx.FmtTime(k.GetNotAfter())})
					}
					return clientx.Table(w, rows)
				})
		},
	}
	rotate.Flags().StringArrayVar(&partitions, "partition", nil, "partition id or name (repeatable; default: every partition)")
	ck.AddCommand(rotate)
	return ck
}

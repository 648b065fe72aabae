package iamcmd

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/timestamppb"

	iamv1 "github.com/strata-edge/strata/gen/strata/iam/v1"
	"github.com/strata-edge/strata/gen/strata/iam/v1/iamv1connect"
	"github.com/strata-edge/strata/internal/cli/clientx"
)

func auditCmd(f ClientFactory) *cobra.Command {
	var req iamv1.ListAuditEventsRequest
	var since, until string
	var limit int
	var data bool
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "List events of every service, newest first: who changed what, when",
		Example: `  strata audit --actor bob --since 1h
  strata audit --object app.app_01h2x --since 2026-03-01
  strata audit --type iam.grant --since 7d --data`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			now := time.Now()
			if since != "" {
				t, err := parseTime(since, now)
				if err != nil {
					return fmt.Errorf("--since: %w", err)
				}
				req.Since = timestamppb.New(t)
			}
			if until != "" {
				t, err := parseTime(until, now)
				if err != nil {
					return fmt.Errorf("--until: %w", err)
				}
				req.Until = timestamppb.New(t)
			}
			if limit < 1 {
				return fmt.Errorf("--limit: %d, want at least 1", limit)
			}
			out := &iamv1.ListAuditEventsResponse{}
			for len(out.Events) < limit {
				req.PageSize = uint32(min(limit-len(out.Events), 1000))
				res, err := call(cmd, f, clientx.RPC(iamv1connect.IAMServiceClient.ListAuditEvents, &req))
				if err != nil {
					return err
				}
				out.Events = append(out.Events, res.Events...)
				out.NextPageToken = res.NextPageToken
				if res.NextPageToken == "" {
					break
				}
				req.PageToken = res.NextPageToken
			}
			return clientx.Emit(f, out, func(w io.Writer) error {
				header := []string{"TIME", "ACTOR", "TYPE", "STREAM", "POSITION"}
				if data {
					header = append(header, "DATA")
				}
				rows := [][]string{header}
				for _, e := range out.Events {
					row := []string{clientx.FmtTime(e.Time), clientx.OrDash(e.Actor), e.Type, e.Stream, fmt.Sprint(e.Position)}
					if data {
						row = append(row, clientx.OrDash(e.DataJson))
					}
					rows = append(rows, row)
				}
				if err := clientx.Table(w, rows); err != nil {
					return err
				}
				if out.NextPageToken != "" {
					fmt.Fprintf(f.Stderr(), "More events: raise --limit (shown %d).\n", len(out.Events))
				}
				return nil
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&req.Actor, "actor", "", "only events caused by this user (or \"admin\" for the bootstrap token, \"system\")")
	fl.StringVar(&req.Stream, "object", "", `only events of this stream or stream prefix, e.g. app.app_123, iam.user.bob, iam.grant`)
	fl.StringVar(&req.Type, "type", "", "only events of this type or type prefix, e.g. config.app, iam.token.created")
	fl.StringVar(&since, "since", "", "only events after this: a duration back (30m, 1h, 7d) or a time (2026-03-01, RFC 3339)")
	fl.StringVar(&until, "until", "", "only events before this, like --since")
	fl.IntVar(&limit, "limit", 50, "show at most this many events")
	fl.BoolVar(&data, "data", false, "show each event's payload (secrets removed)")
	return cmd
}

package wafcmd

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
	"github.com/strata-edge/strata/gen/strata/metrics/v1/metricsv1connect"
	wafv1 "github.com/strata-edge/strata/gen/strata/waf/v1"
	"github.com/strata-edge/strata/gen/strata/waf/v1/wafv1connect"
	"github.com/strata-edge/strata/internal/cli/clientx"
)

var hitLine = protojson.MarshalOptions{UseProtoNames: true}

// hitRows is the header of hits and one row per hit.
func hitHeader() []string {
	return []string{"TIME", "NODE", "APP", "ACTION", "ON", "STATUS", "CLIENT", "REQUEST", "RULES"}
}

func hitRow(h *wafv1.WafHit) []string {
	var rules []string
	for _, m := range h.GetMatches() {
		rules = append(rules, m.GetRuleId())
	}
	status := "-"
	if h.GetStatus() != 0 {
		status = fmt.Sprint(h.GetStatus())
	}
	uri := h.GetUri()
	if len(uri) > 60 {
		uri = uri[:57] + "..."
	}
	on := h.GetDirection()
	if on == "" {
		on = "request" // hits of nodes that predate response inspection
	}
	return []string{clientx.FmtTime(h.GetTime()), h.GetNodeId(), h.GetAppId(), h.GetAction(), on, status, clientx.OrDash(h.GetClientIp()),
		strings.TrimSpace(h.GetMethod() + " " + h.GetHost() + uri), clientx.OrDash(strings.Join(rules, ","))}
}

func hitsCmd(f ClientFactory) *cobra.Command {
	var (
		app, policy string
		since       time.Duration
		limit       int32
		follow      bool
	)
	cmd := &cobra.Command{
		Use:   "hits [--app APP] [--policy P] [--since 1h] [--limit N] [--follow]",
		Short: "Show the requests WAF policies blocked or flagged, newest first; --follow streams them live",
		Long: `Show the hits the nodes reported: time, node, app, action (block, detect,
challenge, log, allow), what was flagged (ON: the request, or the upstream's
response with inspect_responses), status, client, request and the rules that matched
(CRS ids, custom rules as custom:<id>). --app takes the app id. Without
--follow the newest come first (at most --limit, default 100); with --follow
the ones since --since come first, oldest first, then each new hit as it
arrives until Ctrl-C (-o json: one WafHit object a line).`,
		Example: `  strata waf hits --app app_0123456789abcdef --since 1h
  strata waf hits --policy strict --follow -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var from *timestamppb.Timestamp
			if since > 0 {
				from = timestamppb.New(time.Now().Add(-since))
			}
			if !follow {
				return show(cmd, f, clientx.RPC(wafv1connect.WafServiceClient.ListHits, &wafv1.ListHitsRequest{AppId: app, PolicyId: policy, Since: from, PageSize: limit}),
					func(w io.Writer, res *wafv1.ListHitsResponse) error {
						rows := [][]string{hitHeader()}
						for _, h := range res.GetHits() {
							rows = append(rows, hitRow(h))
						}
						return clientx.Table(w, rows)
					})
			}
			c, err := f.WafStreamClient()
			if err != nil {
				return err
			}
			stream, err := c.WatchHits(cmd.Context(), &wafv1.WatchHitsRequest{AppId: app, PolicyId: policy, Since: from})
			if err != nil {
				return err
			}
			defer stream.Close()
			if !f.JSON() {
				if err := clientx.Line(f.Stdout(), "%s", strings.Join(hitHeader(), "\t")); err != nil {
					return err
				}
			}
			for stream.Receive() {
				h := stream.Msg().GetHit()
				if h == nil {
					continue // the first message says the watch is live
				}
				if f.JSON() {
					b, err := hitLine.Marshal(h)
					if err != nil {
						return fmt.Errorf("encode output: %w", err)
					}
					if _, err := fmt.Fprintf(f.Stdout(), "%s\n", b); err != nil {
						return err
					}
					continue
				}
				if err := clientx.Line(f.Stdout(), "%s", strings.Join(hitRow(h), "\t")); err != nil {
					return err
				}
			}
			if err := stream.Err(); err != nil && cmd.Context().Err() == nil {
				return err
			}
			return nil // Ctrl-C ends a follow normally
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&app, "app", "", "only this app's hits (its id)")
	fl.StringVar(&policy, "policy", "", "only this policy's hits (id or name)")
	fl.DurationVar(&since, "since", 0, "only hits of the last DURATION (with --follow: replayed first)")
	fl.Int32Var(&limit, "limit", 0, "at most N hits (default 100, at most 1000)")
	fl.BoolVar(&follow, "follow", false, "stream hits as the nodes report them, until Ctrl-C")
	return cmd
}

func statsCmd(f ClientFactory) *cobra.Command {
	var app, policy string
	var since time.Duration
	cmd := &cobra.Command{
		Use:   "stats [--app APP [--since 24h]] [--policy P]",
		Short: "Hit counts per rule, most hits first (the hit log, or the metrics service with --since)",
		Long: `Hit counts per rule, most hits first.

Without --since the counts come from the hit log (every hit the nodes
published, over the hit stream's retention, per app and policy). With
--since they come from the metrics service: the per-second rule counts the
nodes report for the app, kept for the metrics retention (1 s rows for an
hour, minutes for a week, hours for a year), counted even when a node sent
fewer hits than it saw (waf max hits per second).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if since != 0 {
				return metricsStats(cmd, f, app, policy, since)
			}
			return show(cmd, f, clientx.RPC(wafv1connect.WafServiceClient.GetRuleStats, &wafv1.GetRuleStatsRequest{AppId: app, PolicyId: policy}),
				func(w io.Writer, res *wafv1.GetRuleStatsResponse) error {
					rows := [][]string{{"RULE", "HITS", "BLOCKED", "LAST HIT"}}
					for _, r := range res.GetRules() {
						rows = append(rows, []string{r.GetRuleId(), fmt.Sprint(r.GetHits()), fmt.Sprint(r.GetBlocked()), clientx.FmtTime(r.GetLastHit())})
					}
					return clientx.Table(w, rows)
				})
		},
	}
	cmd.Flags().StringVar(&app, "app", "", "only this app's hits (its id)")
	cmd.Flags().StringVar(&policy, "policy", "", "only this policy's hits (id or name)")
	cmd.Flags().DurationVar(&since, "since", 0, "with --app: the metrics service's counts of the last DURATION")
	return cmd
}

// metricsStats is stats --since: the metrics service's waf_rule split.
func metricsStats(cmd *cobra.Command, f ClientFactory, app, policy string, since time.Duration) error {
	switch {
	case since < 0:
		return fmt.Errorf("--since %s: must be positive", since)
	case app == "":
		return errors.New("--since needs --app: the metrics service counts rules per app")
	case policy != "":
		return errors.New("--policy and --since do not go together: the metrics service counts rules per app, not per policy")
	}
	now := time.Now()
	req := &metricsv1.QueryTopRequest{AppId: app, By: "waf_rule", Start: timestamppb.New(now.Add(-since)), End: timestamppb.New(now), Limit: 1000}
	return clientx.Show(cmd.Context(), f, f.MetricsClient, clientx.RPC(metricsv1connect.MetricsServiceClient.QueryTop, req),
		func(w io.Writer, res *metricsv1.QueryTopResponse) error {
			rows := [][]string{{"RULE", "HITS", "BLOCKED", "CHALLENGED", "DETECTED"}}
			for _, r := range res.GetRows() {
				rows = append(rows, []string{r.GetName(), fmt.Sprint(r.GetRequests()), fmt.Sprint(r.GetBlocked()), fmt.Sprint(r.GetChallenged()),
					fmt.Sprint(r.GetRequests() - r.GetBlocked() - r.GetChallenged())})
			}
			return clientx.Table(w, rows)
		})
}

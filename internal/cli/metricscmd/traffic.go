package metricscmd

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"

	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
	"github.com/strata-edge/strata/gen/strata/metrics/v1/metricsv1connect"
	"github.com/strata-edge/strata/internal/cli/clientx"
	"github.com/strata-edge/strata/pkg/sketch"
)

// topBy are the splits of QueryTop.
var topBy = []string{"status", "path", "upstream", "cache", "node", "waf_rule"}

// Series are the series QuerySeries knows (metrics.proto).
var Series = []string{"requests", "status_1xx", "status_2xx", "status_3xx", "status_4xx", "status_5xx",
	"bytes_in", "bytes_out", "latency_p50", "latency_p90", "latency_p99", "latency_p999",
	"upstream_errors", "upstream_latency_p99", "cache_hit_ratio"}

func topCmd(f ClientFactory) *cobra.Command {
	var (
		app, by string
		limit   uint32
		tr      timeRange
	)
	cmd := &cobra.Command{
		Use:   "top --app APP [--by status|path|upstream|cache|node|waf_rule] [--since 5m] [--limit N]",
		Short: "An app's requests split by status, path, upstream server, cache status, node or WAF rule, largest first",
		Long: `An app's requests split by status code, path, upstream server, cache status,
node or WAF rule, largest first, with each row's share and its server errors
(5xx); by waf_rule, the requests each rule matched and how many of them it
blocked or challenged (a request may match several rules).

Paths come from each node's top-32 summary per second: a path's count may
exceed the true one by at most the ERROR column (exact when it is 0).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireApp(app); err != nil {
				return err
			}
			if err := oneOf("--by", by, topBy); err != nil {
				return err
			}
			if limit == 0 || limit > maxLimit {
				return fmt.Errorf("--limit %d: must be between 1 and %d", limit, maxLimit)
			}
			start, end, _, err := tr.resolve(time.Now())
			if err != nil {
				return err
			}
			return show(cmd, f, clientx.RPC(metricsv1connect.MetricsServiceClient.QueryTop,
				&metricsv1.QueryTopRequest{AppId: app, By: by, Start: start, End: end, Limit: limit}), func(w io.Writer, res *metricsv1.QueryTopResponse) error {
				return topText(w, res)
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&app, "app", "", "app id or name (required)")
	fl.StringVar(&by, "by", "status", "split by: "+strings.Join(topBy, ", "))
	fl.Uint32Var(&limit, "limit", 10, fmt.Sprintf("at most this many rows (1-%d)", maxLimit))
	tr.register(cmd, "5m")
	return cmd
}

func topText(w io.Writer, res *metricsv1.QueryTopResponse) error {
	by := res.GetBy()
	if len(res.GetRows()) == 0 {
		return clientx.Line(w, "no requests in the range")
	}
	// The service counts server errors per row for these splits only.
	withErrors := by == "status" || by == "node" || by == "upstream"
	head := []string{strings.ToUpper(by), "REQUESTS", "SHARE"}
	if withErrors {
		head = append(head, "5XX")
	}
	if by == "path" {
		head = append(head, "ERROR")
	}
	if by == "waf_rule" {
		head = append(head, "BLOCKED", "CHALLENGED")
	}
	rows := [][]string{head}
	var shown uint64
	bounded := false
	for _, r := range res.GetRows() {
		row := []string{r.GetName(), strconv.FormatUint(r.GetRequests(), 10), pct(r.GetRequests(), res.GetTotal())}
		if withErrors {
			row = append(row, strconv.FormatUint(r.GetErrors(), 10))
		}
		if by == "path" {
			row = append(row, "±"+strconv.FormatUint(r.GetError(), 10))
			bounded = bounded || r.GetError() > 0
		}
		if by == "waf_rule" {
			row = append(row, strconv.FormatUint(r.GetBlocked(), 10), strconv.FormatUint(r.GetChallenged(), 10))
		}
		rows = append(rows, row)
		shown += r.GetRequests()
	}
	if err := clientx.Table(w, rows); err != nil {
		return err
	}
	line := fmt.Sprintf("total %d requests", res.GetTotal())
	if shown < res.GetTotal() && by != "path" && by != "waf_rule" {
		line += fmt.Sprintf(", %d in rows not shown", res.GetTotal()-shown)
	}
	if bounded {
		line += "; a path's count exceeds the true one by at most ERROR (space-saving top-k)"
	}
	return clientx.Line(w, "%s", line)
}

func seriesCmd(f ClientFactory) *cobra.Command {
	var (
		app, series, node, cluster string
		step                       time.Duration
		tr                         timeRange
	)
	cmd := &cobra.Command{
		Use:   "series --app APP --metric NAME [--since 1h] [--step 10s] [--node N] [--cluster C]",
		Short: "One traffic series of an app over time: a table and a sparkline",
		Long: `One traffic series of an app over time, summed over all its nodes (or one
node or cluster): a table of the points and an ASCII sparkline.

Counts (requests, status_*, bytes_*, upstream_errors) are per step; latencies
are milliseconds; cache_hit_ratio is 0-1. Series: ` + strings.Join(Series, ", ") + `.
--step 0 (the default) picks one for about 60 points.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireApp(app); err != nil {
				return err
			}
			if series == "" {
				return fmt.Errorf("--metric is required: one of %s", strings.Join(Series, ", "))
			}
			if err := oneOf("--metric", series, Series); err != nil {
				return err
			}
			if node != "" && cluster != "" {
				return fmt.Errorf("--node and --cluster: give at most one")
			}
			start, end, length, err := tr.resolve(time.Now())
			if err != nil {
				return err
			}
			stepS, err := stepSeconds(step, length)
			if err != nil {
				return err
			}
			return show(cmd, f, clientx.RPC(metricsv1connect.MetricsServiceClient.QuerySeries,
				&metricsv1.QuerySeriesRequest{AppId: app, Series: series, Start: start, End: end, StepSeconds: stepS, NodeId: node, ClusterId: cluster}), func(w io.Writer, res *metricsv1.QuerySeriesResponse) error {
				return seriesText(w, res, length >= 24*time.Hour)
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&app, "app", "", "app id or name (required)")
	fl.StringVar(&series, "metric", "", "the series (required): "+strings.Join(Series, ", "))
	fl.DurationVar(&step, "step", 0, "time per point, whole seconds (default: about 60 points)")
	fl.StringVar(&node, "node", "", "only this node (id or name)")
	fl.StringVar(&cluster, "cluster", "", "only this cluster's nodes (id or name)")
	tr.register(cmd, "1h")
	return cmd
}

// stepSeconds checks --step against the range (at most maxPoints points).
func stepSeconds(step, length time.Duration) (uint32, error) {
	s, err := seconds("--step", step, time.Second, 24*time.Hour, true)
	if err != nil {
		return 0, err
	}
	if s > 0 && length/step > maxPoints {
		return 0, fmt.Errorf("--step %s: %d points over the range; at most %d (a larger --step or a shorter --since)", step, length/step, maxPoints)
	}
	return s, nil
}

func seriesText(w io.Writer, res *metricsv1.QuerySeriesResponse, long bool) error {
	pts := res.GetPoints()
	if err := clientx.Line(w, "%s, %ds steps (stored at %ds)", res.GetSeries(), res.GetStepSeconds(), res.GetResolutionSeconds()); err != nil {
		return err
	}
	if len(pts) == 0 {
		return clientx.Line(w, "no points in the range")
	}
	isBytes := strings.HasPrefix(res.GetSeries(), "bytes_")
	cellOf := num // counts: whole numbers
	switch {
	case res.GetSeries() == "cache_hit_ratio":
		cellOf = func(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
	case !isCount(res.GetSeries()):
		cellOf = func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) } // milliseconds
	}
	rows := [][]string{{"TIME", strings.ToUpper(res.GetSeries())}}
	values := make([]float64, len(pts))
	lo, hi, sum := pts[0].GetValue(), pts[0].GetValue(), 0.0
	for i, p := range pts {
		v := p.GetValue()
		values[i] = v
		lo, hi, sum = min(lo, v), max(hi, v), sum+v
		cell := cellOf(v)
		if isBytes {
			cell = bytesText(v)
		}
		rows = append(rows, []string{clock(p.GetUnixSecond(), long), cell})
	}
	if err := clientx.Table(w, rows); err != nil {
		return err
	}
	summary := fmt.Sprintf("min %s  max %s  last %s", cellOf(lo), cellOf(hi), cellOf(values[len(values)-1]))
	if isCount(res.GetSeries()) {
		summary += "  total " + num(sum)
	}
	return clientx.Line(w, "%s  %s", Sparkline(values), summary)
}

// isCount reports a series whose points add up (per-step counts).
func isCount(series string) bool {
	return series == "requests" || series == "upstream_errors" || strings.HasPrefix(series, "status_") || strings.HasPrefix(series, "bytes_")
}

func nodeCmd(f ClientFactory) *cobra.Command {
	var (
		step time.Duration
		tr   timeRange
	)
	cmd := &cobra.Command{
		Use:   "node NODE [--since 15m] [--step 10s]",
		Short: "A node's machine over time: CPU, memory, disk, network, connections, and a CPU sparkline",
		Long: `A node's machine over time, as it sampled it every few seconds: CPU busy
share, load, memory, the data directory's disk, network traffic over all
interfaces per step, and open client connections; then an ASCII sparkline of
the CPU and when the node last reported.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			start, end, length, err := tr.resolve(time.Now())
			if err != nil {
				return err
			}
			stepS, err := stepSeconds(step, length)
			if err != nil {
				return err
			}
			return show(cmd, f, clientx.RPC(metricsv1connect.MetricsServiceClient.GetNodeStats,
				&metricsv1.GetNodeStatsRequest{NodeId: args[0], Start: start, End: end, StepSeconds: stepS}), func(w io.Writer, res *metricsv1.GetNodeStatsResponse) error {
				return nodeText(w, args[0], res, length >= 24*time.Hour)
			})
		},
	}
	cmd.Flags().DurationVar(&step, "step", 0, "time per sample, whole seconds (default: the server's)")
	tr.register(cmd, "15m")
	return cmd
}

func nodeText(w io.Writer, node string, res *metricsv1.GetNodeStatsResponse, long bool) error {
	rows := [][]string{{"TIME", "CPU", "LOAD1", "MEMORY", "DISK", "NET-IN", "NET-OUT", "CONNS"}}
	cpu := make([]float64, 0, len(res.GetSamples()))
	for _, s := range res.GetSamples() {
		var rx, tx uint64
		for _, n := range s.GetInterfaces() {
			rx += n.GetBytesRecv()
			tx += n.GetBytesSent()
		}
		disk := "-"
		if d := s.GetDisks(); len(d) > 0 {
			disk = bytesText(float64(d[0].GetUsedBytes())) + "/" + bytesText(float64(d[0].GetTotalBytes()))
		}
		rows = append(rows, []string{clock(s.GetUnixSecond(), long), strconv.FormatFloat(s.GetCpuPercent(), 'f', 1, 64) + "%",
			strconv.FormatFloat(s.GetLoad1(), 'f', 2, 64),
			bytesText(float64(s.GetMemoryUsedBytes())) + "/" + bytesText(float64(s.GetMemoryTotalBytes())),
			disk, bytesText(float64(rx)), bytesText(float64(tx)), strconv.FormatUint(s.GetOpenConnections(), 10)})
		cpu = append(cpu, s.GetCpuPercent())
	}
	if len(cpu) == 0 {
		if err := clientx.Line(w, "no samples of %s in the range", node); err != nil {
			return err
		}
	} else {
		if err := clientx.Table(w, rows); err != nil {
			return err
		}
		if err := clientx.Line(w, "cpu %s  last %.1f%%", Sparkline(cpu), cpu[len(cpu)-1]); err != nil {
			return err
		}
		if err := xdpLine(w, res.GetSamples()); err != nil {
			return err
		}
	}
	last := "never"
	if lr := res.GetLastReport(); lr != nil {
		last = clientx.FmtTime(lr) + " (" + time.Since(lr.AsTime()).Round(time.Second).String() + " ago)"
	}
	line := "last report: " + last
	if d := res.GetDroppedReports(); d > 0 {
		line += fmt.Sprintf("; %d reports dropped by the node (the service was unreachable)", d)
	}
	return clientx.Line(w, "%s", line)
}

// xdpLine prints the XDP filter's packets by reason over the range: the
// counters are cumulative, so the last sample less the first (a node that
// restarted in the range starts again from zero: its last value counts).
func xdpLine(w io.Writer, samples []*metricsv1.SystemSample) error {
	first, last := samples[0].GetXdpPackets(), samples[len(samples)-1].GetXdpPackets()
	if len(last) == 0 {
		return nil
	}
	base := map[string]uint64{}
	for _, c := range first {
		base[c.GetName()] = c.GetCount()
	}
	parts := make([]string, 0, len(last))
	for _, c := range last {
		n := c.GetCount()
		if b := base[c.GetName()]; b <= n {
			n -= b
		}
		parts = append(parts, fmt.Sprintf("%s %d", c.GetName(), n))
	}
	return clientx.Line(w, "xdp packets in the range: %s", strings.Join(parts, ", "))
}

func healthCmd(f ClientFactory) *cobra.Command {
	var (
		app, node string
		limit     uint32
		tr        timeRange
	)
	cmd := &cobra.Command{
		Use:   "health --app APP | --node NODE [--since 1h] [--limit N]",
		Short: "Changes of an app's upstream server health, or of a node's liveness, newest first",
		Long: `Changes of an app's upstream server health as each node's checks saw them
(with the failed check), or of one node's liveness (with why it left, e.g. no
report for 15s: the reason the DNS gateway records stopped answering with it).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (app == "") == (node == "") {
				return fmt.Errorf("give one of --app and --node")
			}
			if limit == 0 || limit > maxLimit {
				return fmt.Errorf("--limit %d: must be between 1 and %d", limit, maxLimit)
			}
			start, end, _, err := tr.resolve(time.Now())
			if err != nil {
				return err
			}
			return show(cmd, f, clientx.RPC(metricsv1connect.MetricsServiceClient.ListHealth,
				&metricsv1.ListHealthRequest{AppId: app, NodeId: node, Start: start, End: end, Limit: limit}), func(w io.Writer, res *metricsv1.ListHealthResponse) error {
				return healthText(w, res, app == "")
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&app, "app", "", "an app's upstream servers (id or name)")
	fl.StringVar(&node, "node", "", "a node's liveness (id or name)")
	fl.Uint32Var(&limit, "limit", 100, fmt.Sprintf("at most this many changes (1-%d)", maxLimit))
	tr.register(cmd, "1h")
	return cmd
}

// healthText is a ListHealth answer for a person; byNode names each
// server's app (a node's servers belong to many apps).
func healthText(w io.Writer, res *metricsv1.ListHealthResponse, byNode bool) error {
	if len(res.GetChanges()) == 0 {
		return clientx.Line(w, "no health changes in the range")
	}
	rows := [][]string{{"TIME", "NODE", "OF", "STATE", "REASON"}}
	for _, h := range res.GetChanges() {
		state, of := "down", "node" // a node's liveness has no server
		if h.GetHealthy() {
			state = "up"
		}
		if h.GetServer() != "" {
			of = h.GetUpstream() + " " + h.GetServer()
			if byNode {
				of = h.GetAppId() + " " + of
			}
		}
		rows = append(rows, []string{clientx.FmtTime(h.GetTime()), h.GetNodeId(), of, state, clientx.OrDash(h.GetReason())})
	}
	return clientx.Table(w, rows)
}

// tailLine is the JSON of one tail line (-o json): compact, one object a
// line, so a stream can be read line by line.
var tailLine = protojson.MarshalOptions{UseProtoNames: true}

func tailCmd(f ClientFactory) *cobra.Command {
	var (
		app   string
		count int
	)
	cmd := &cobra.Command{
		Use:   "tail --app APP [--count N]",
		Short: "Stream an app's traffic, one line per second, until Ctrl-C or --count lines",
		Long: `Stream an app's traffic summed over its nodes, one line per second as the
nodes' reports arrive (a second shows once every node that served it has
flushed, so lines trail real time by the flush interval). With -o json each
line is one TailResponse object.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireApp(app); err != nil {
				return err
			}
			if count < 0 || count > 1_000_000 {
				return fmt.Errorf("--count %d: must be between 0 (until Ctrl-C) and 1000000", count)
			}
			// A client without a deadline: a tail runs until it is stopped.
			c, err := f.MetricsStreamClient()
			if err != nil {
				return err
			}
			stream, err := c.Tail(cmd.Context(), &metricsv1.TailRequest{AppId: app})
			if err != nil {
				return err
			}
			defer stream.Close()
			if !f.JSON() {
				if err := clientx.Line(f.Stdout(), "%-8s  %8s  %6s  %6s  %6s  %6s  %10s  %10s  %8s  %s", "TIME", "REQS", "2XX", "3XX", "4XX", "5XX", "IN", "OUT", "P99", "NODES"); err != nil {
					return err
				}
			}
			for n := 0; count == 0 || n < count; n++ {
				if !stream.Receive() {
					break
				}
				msg := stream.Msg()
				if f.JSON() {
					b, err := tailLine.Marshal(msg)
					if err != nil {
						return fmt.Errorf("encode output: %w", err)
					}
					if _, err := fmt.Fprintf(f.Stdout(), "%s\n", b); err != nil {
						return err
					}
					continue
				}
				if err := clientx.Line(f.Stdout(), "%s", tailText(msg)); err != nil {
					return err
				}
			}
			if err := stream.Err(); err != nil && cmd.Context().Err() == nil {
				return err
			}
			// Ctrl-C ends a tail normally.
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&app, "app", "", "app id or name (required)")
	fl.IntVar(&count, "count", 0, "stop after this many lines (default: until Ctrl-C)")
	return cmd
}

// tailText is one second of traffic for a person.
func tailText(m *metricsv1.TailResponse) string {
	s := m.GetSecond()
	var classes [6]uint64
	for _, c := range s.GetStatus() {
		if k := c.GetCode() / 100; k < 6 {
			classes[k] += c.GetCount()
		}
	}
	p99 := "-"
	if sk, err := sketch.FromProto(s.GetLatencyMs()); err == nil && sk.Count() > 0 {
		p99 = strconv.FormatFloat(sk.Quantile(0.99), 'f', 1, 64) + "ms"
	}
	return fmt.Sprintf("%-8s  %8d  %6d  %6d  %6d  %6d  %10s  %10s  %8s  %d",
		clock(s.GetUnixSecond(), false), s.GetRequests(), classes[2], classes[3], classes[4], classes[5],
		bytesText(float64(s.GetBytesIn())), bytesText(float64(s.GetBytesOut())), p99, m.GetNodes())
}

package metricscmd

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
	"github.com/strata-edge/strata/gen/strata/metrics/v1/metricsv1connect"
	"github.com/strata-edge/strata/internal/cli/clientx"
)

// defFlags are the flags of create and update.
type defFlags struct {
	sql, description string
	interval         time.Duration
	partitions       []string
}

func (d *defFlags) register(cmd *cobra.Command, create bool) {
	fl := cmd.Flags()
	req := ""
	if create {
		req = " (required)"
	}
	fl.StringVar(&d.sql, "sql", "", "the SELECT over reqs"+req+"; '-' reads it from stdin")
	fl.StringVar(&d.description, "description", "", "what the metric is for")
	defInterval := time.Duration(0)
	if create {
		defInterval = 10 * time.Second
	}
	fl.DurationVar(&d.interval, "interval", defInterval, "aggregation window on the nodes, whole seconds (1s-1h)")
	fl.StringSliceVar(&d.partitions, "partition", nil, "run on this partition's nodes (id or name; repeat; default every partition)")
}

// readSQL returns --sql, or stdin for "-", checking its size.
func (d *defFlags) readSQL(f ClientFactory) (string, error) {
	s := d.sql
	if s == "-" {
		b, err := io.ReadAll(io.LimitReader(f.Stdin(), maxSQL+1))
		if err != nil {
			return "", fmt.Errorf("--sql -: read stdin: %w", err)
		}
		s = string(b)
	}
	s = strings.TrimSpace(s)
	if len(s) > maxSQL {
		return "", fmt.Errorf("--sql: more than %d bytes", maxSQL)
	}
	return s, nil
}

func (d *defFlags) intervalSeconds() (uint32, error) {
	return seconds("--interval", d.interval, time.Second, time.Hour, false)
}

func createCmd(f ClientFactory) *cobra.Command {
	var d defFlags
	cmd := &cobra.Command{
		Use:   "create NAME --sql 'SELECT ...' [--interval 10s] [--partition P]... [--description TEXT]",
		Short: "Define a Metric SQL metric; the nodes run it at once",
		Long: `Define a Metric SQL metric: one SELECT over the reqs table (columns time, app,
host, path, method, status, bytes_in, bytes_out, latency_ms, upstream,
client_ip, country, asn, cache_status, rule, and request headers as
http_<name>, e.g. http_user_agent), with WHERE (LIKE, REGEXP, IN, BETWEEN),
GROUP BY, count/sum/avg/min/max/quantile, ORDER BY ... LIMIT n
(pkg/metricsql/README.md).
The nodes of its partitions run it from the moment it is created (no release);
a clause Metric SQL does not support is refused, named.`,
		Example: `  strata metric create paths --sql 'SELECT path, count(*) FROM reqs GROUP BY path'
  strata metric create api-latency --interval 30s --sql "SELECT host, status, count(*), avg(latency_ms), quantile(0.99, latency_ms) FROM reqs WHERE path LIKE '/api/%' GROUP BY host, status"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sql, err := d.readSQL(f)
			if err != nil {
				return err
			}
			if sql == "" {
				return fmt.Errorf("--sql is required: one SELECT ... FROM reqs")
			}
			iv, err := d.intervalSeconds()
			if err != nil {
				return err
			}
			res, err := call(cmd, f, clientx.RPC(metricsv1connect.MetricsServiceClient.CreateMetric,
				&metricsv1.CreateMetricRequest{Name: args[0], Description: d.description, Sql: sql, IntervalSeconds: iv, PartitionIds: d.partitions}))
			if err != nil {
				return err
			}
			m := res.GetMetric()
			return clientx.Emitf(f, res, "%s", m.GetId())
		},
	}
	d.register(cmd, true)
	return cmd
}

func listCmd(f ClientFactory) *cobra.Command {
	return clientx.ListCommand(&cobra.Command{
		Use:   "list",
		Short: "List the Metric SQL metrics, by name",
	}, func(cmd *cobra.Command, lf *clientx.ListFlags) error {
		return show(cmd, f, clientx.Pages(metricsv1connect.MetricsServiceClient.ListMetrics, &metricsv1.ListMetricsRequest{}, lf), func(w io.Writer, res *metricsv1.ListMetricsResponse) error {
			if len(res.GetMetrics()) == 0 {
				return clientx.Line(w, "no metrics; define one with strata metric create")
			}
			rows := [][]string{{"ID", "NAME", "INTERVAL", "PARTITIONS", "VERSION", "SQL"}}
			for _, m := range res.GetMetrics() {
				rows = append(rows, []string{m.GetId(), m.GetName(), strconv.FormatUint(uint64(m.GetIntervalSeconds()), 10) + "s",
					partitionsText(m.GetPartitionIds()), strconv.FormatUint(m.GetVersion(), 10), oneLine(m.GetSql(), 60)})
			}
			return clientx.Table(w, rows)
		})
	})
}

func showCmd(f ClientFactory) *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME",
		Short: "Show one Metric SQL metric (id or name)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(cmd, f, clientx.RPC(metricsv1connect.MetricsServiceClient.GetMetric, &metricsv1.GetMetricRequest{Metric: args[0]}), func(w io.Writer, res *metricsv1.GetMetricResponse) error {
				return definitionText(w, res.GetMetric())
			})
		},
	}
}

func definitionText(w io.Writer, m *metricsv1.MetricDefinition) error {
	return clientx.Line(w, "id: %s\nname: %s\ndescription: %s\ninterval: %ds\npartitions: %s\nversion: %d\ncreated: %s\nupdated: %s\nsql: %s",
		m.GetId(), m.GetName(), clientx.OrDash(m.GetDescription()), m.GetIntervalSeconds(), partitionsText(m.GetPartitionIds()),
		m.GetVersion(), clientx.FmtTime(m.GetCreatedAt()), clientx.FmtTime(m.GetUpdatedAt()), m.GetSql())
}

func updateCmd(f ClientFactory) *cobra.Command {
	var (
		d  defFlags
		ev clientx.ExpectVersion
	)
	cmd := &cobra.Command{
		Use:   "update NAME [--sql 'SELECT ...'] [--interval 30s] [--description TEXT] [--partition P]... [--expect-version N]",
		Short: "Change a Metric SQL metric's SQL, interval, description or partitions",
		Long: `Change a Metric SQL metric; flags not given keep their values. --partition
replaces the partitions (--partition '' runs it on every partition). The nodes
run the new definition from its next window; results of the old one stay
queryable.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := &metricsv1.UpdateMetricRequest{Metric: args[0]}
			fl := cmd.Flags()
			if fl.Changed("sql") {
				sql, err := d.readSQL(f)
				if err != nil {
					return err
				}
				if sql == "" {
					return fmt.Errorf("--sql: empty; a metric needs its SELECT")
				}
				req.Sql = &sql
			}
			if fl.Changed("description") {
				req.Description = &d.description
			}
			if fl.Changed("interval") {
				iv, err := d.intervalSeconds()
				if err != nil {
					return err
				}
				req.IntervalSeconds = &iv
			}
			if fl.Changed("partition") {
				req.SetPartitions = true
				for _, p := range d.partitions {
					if p != "" {
						req.PartitionIds = append(req.PartitionIds, p)
					}
				}
			}
			if v := ev.Get(cmd); v != nil {
				if *v == 0 {
					return fmt.Errorf("--expect-version 0: a metric's version is never 0; see strata metric show %s", args[0])
				}
				req.ExpectedVersion = *v
			}
			if req.Sql == nil && req.Description == nil && req.IntervalSeconds == nil && !req.SetPartitions {
				return fmt.Errorf("nothing to change: give --sql, --interval, --description or --partition")
			}
			res, err := call(cmd, f, clientx.RPC(metricsv1connect.MetricsServiceClient.UpdateMetric, req))
			if err != nil {
				return err
			}
			return clientx.Emitf(f, res, "%s updated (version %d)", res.GetMetric().GetName(), res.GetMetric().GetVersion())
		},
	}
	d.register(cmd, false)
	ev.Register(cmd.Flags(), "metric")
	return cmd
}

func deleteCmd(f ClientFactory) *cobra.Command {
	var ev clientx.ExpectVersion
	cmd := &cobra.Command{
		Use:   "delete NAME [--expect-version N]",
		Short: "Remove a Metric SQL metric from every node (its stored results stay until retention drops them)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := &metricsv1.DeleteMetricRequest{Metric: args[0]}
			if v := ev.Get(cmd); v != nil {
				if *v == 0 {
					return fmt.Errorf("--expect-version 0: a metric's version is never 0; see strata metric show %s", args[0])
				}
				req.ExpectedVersion = *v
			}
			res, err := call(cmd, f, clientx.RPC(metricsv1connect.MetricsServiceClient.DeleteMetric, req))
			if err != nil {
				return err
			}
			return clientx.Emitf(f, res, "deleted %s", args[0])
		},
	}
	ev.Register(cmd.Flags(), "metric")
	return cmd
}

func queryCmd(f ClientFactory) *cobra.Command {
	var tr timeRange
	cmd := &cobra.Command{
		Use:   "query NAME [--since 1h] [--until T]",
		Short: "A Metric SQL metric's table over a time range, merged across nodes and windows",
		Long: `A Metric SQL metric's table over a time range: the rows of every node and
window in it merged (counts and sums exactly, quantiles within the sketch's
relative accuracy). A row "(other)" holds the groups that did not fit the
nodes' group cap.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			start, end, _, err := tr.resolve(time.Now())
			if err != nil {
				return err
			}
			return show(cmd, f, clientx.RPC(metricsv1connect.MetricsServiceClient.QueryMetric,
				&metricsv1.QueryMetricRequest{Metric: args[0], Start: start, End: end}), func(w io.Writer, res *metricsv1.QueryMetricResponse) error {
				return queryText(w, res)
			})
		},
	}
	tr.register(cmd, "1h")
	return cmd
}

func queryText(w io.Writer, res *metricsv1.QueryMetricResponse) error {
	head := make([]string, len(res.GetColumns()))
	for i, c := range res.GetColumns() {
		head[i] = strings.ToUpper(c)
	}
	rows := [][]string{head}
	for _, r := range res.GetRows() {
		vals := append([]string(nil), r.GetValues()...)
		if r.GetOther() && len(vals) > 0 {
			// The other row has no keys: label its first key column.
			for i := range vals {
				if vals[i] == "" {
					vals[i] = "(other)"
					break
				}
			}
		}
		for i := range vals {
			vals[i] = clientx.OrDash(oneLine(vals[i], 80))
		}
		rows = append(rows, vals)
	}
	if err := clientx.Table(w, rows); err != nil {
		return err
	}
	line := fmt.Sprintf("%d rows from %d node windows", len(res.GetRows()), res.GetWindows())
	if o := res.GetOverflow(); o > 0 {
		line += fmt.Sprintf("; %d requests in (other): their groups did not fit the group cap", o)
	}
	return clientx.Line(w, "%s", line)
}

func partitionsText(p []string) string {
	if len(p) == 0 {
		return "all"
	}
	return strings.Join(p, ",")
}

// oneLine folds whitespace and cuts s to n characters for a table cell.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

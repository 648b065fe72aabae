// Package metricscmd is the command line of the metrics service: strata
// metrics top|series|node|health|tail reads traffic and machine numbers,
// strata metric create|list|show|update|delete|query manages and reads
// Metric SQL metrics (docs/metrics.md). The root command adds
// Commands(factory) to itself.
package metricscmd

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/strata-edge/strata/gen/strata/metrics/v1/metricsv1connect"
	"github.com/strata-edge/strata/internal/cli/clientx"
)

// ClientFactory is what the root command provides.
type ClientFactory interface {
	clientx.Env
	// MetricsClient returns a MetricsService client for --api,
	// authenticated like every other command.
	MetricsClient() (metricsv1connect.MetricsServiceClient, error)
	// MetricsStreamClient is the same without a deadline per call, for
	// streams that run until they are stopped (metrics tail).
	MetricsStreamClient() (metricsv1connect.MetricsServiceClient, error)
}

// Commands returns the top-level "metrics" and "metric" commands.
func Commands(f ClientFactory) []*cobra.Command {
	metrics := &cobra.Command{
		Use:   "metrics",
		Short: "Traffic, node and health numbers the nodes aggregated",
		Long: `Traffic, node and health numbers the nodes aggregated.

Every node counts its requests per app and second in memory and reports them
every flush interval (2 s); the metrics service stores and merges them. Times
are --since (a duration back from now, e.g. 5m, 1h, 7d, or an RFC 3339 time)
to --until (default now).`,
		Example: `  strata metrics top --app shop --by status --since 5m
  strata metrics series --app shop --metric latency_p99 --since 1h --step 1m
  strata metrics node edge-1 --since 15m
  strata metrics health --app shop
  strata metrics tail --app shop --count 10`,
	}
	metrics.AddCommand(topCmd(f), seriesCmd(f), nodeCmd(f), healthCmd(f), tailCmd(f))
	metric := &cobra.Command{
		Use:   "metric",
		Short: "Custom metrics in Metric SQL: create, list, show, update, delete, query",
		Long: `Custom metrics in Metric SQL: one SELECT over the reqs table per metric,
aggregated in each node's memory every --interval and merged by the metrics
service. A definition takes effect on the nodes of its partitions at once
(no release). See docs/metrics.md and pkg/metricsql/README.md.`,
		Example: `  strata metric create api-paths --sql 'SELECT path, count(*) FROM reqs WHERE path LIKE ''/api/%'' GROUP BY path ORDER BY count(*) DESC LIMIT 10'
  strata metric query api-paths --since 1h`,
	}
	metric.AddCommand(createCmd(f), listCmd(f), showCmd(f), updateCmd(f), deleteCmd(f), queryCmd(f))
	return []*cobra.Command{metrics, metric}
}

func call[T any](cmd *cobra.Command, f ClientFactory, fn func(context.Context, metricsv1connect.MetricsServiceClient) (T, error)) (T, error) {
	return clientx.Call(cmd.Context(), f, f.MetricsClient, fn)
}

// show makes one call and prints its answer (text for people, or -o json).
func show[T proto.Message](cmd *cobra.Command, f ClientFactory, fn func(context.Context, metricsv1connect.MetricsServiceClient) (T, error), text func(io.Writer, T) error) error {
	return clientx.Show(cmd.Context(), f, f.MetricsClient, fn, text)
}

// Bounds of what the commands accept before they ask the API.
const (
	maxRange  = 400 * 24 * time.Hour // a year of hourly points and some
	maxLimit  = 1000
	maxSQL    = 4 << 10 // as pkg/metricsql
	maxPoints = 100_000 // steps of one series or node query
)

// timeRange is --since and --until.
type timeRange struct {
	since, until string
	defSince     string
}

func (r *timeRange) register(cmd *cobra.Command, defSince string) {
	r.defSince = defSince
	cmd.Flags().StringVar(&r.since, "since", defSince, "start: a duration back from now (30s, 5m, 1h, 7d) or an RFC 3339 time")
	cmd.Flags().StringVar(&r.until, "until", "", "end: a duration back from now or an RFC 3339 time (default now)")
}

// resolve returns the start and end; end is nil for "now" so the server
// uses its own clock.
func (r *timeRange) resolve(now time.Time) (start, end *timestamppb.Timestamp, length time.Duration, err error) {
	s, err := parseWhen("--since", r.since, now)
	if err != nil {
		return nil, nil, 0, err
	}
	e := now
	if r.until != "" {
		if e, err = parseWhen("--until", r.until, now); err != nil {
			return nil, nil, 0, err
		}
		end = timestamppb.New(e)
	}
	if !s.Before(e) {
		return nil, nil, 0, fmt.Errorf("--since %s: the start must be before the end (%s)", r.since, e.Format(time.RFC3339))
	}
	if e.Sub(s) > maxRange {
		return nil, nil, 0, fmt.Errorf("--since %s: at most %d days back", r.since, int(maxRange/(24*time.Hour)))
	}
	return timestamppb.New(s), end, e.Sub(s), nil
}

// parseWhen reads a duration back from now (Go syntax plus a d suffix for
// days) or an RFC 3339 time.
func parseWhen(flag, v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, fmt.Errorf("%s: empty; want a duration such as 5m or an RFC 3339 time", flag)
	}
	if len(v) > 64 {
		return time.Time{}, fmt.Errorf("%s: %d characters; at most 64", flag, len(v))
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	d, err := parseDuration(v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %q: want a duration such as 30s, 5m, 1h, 7d or an RFC 3339 time such as 2026-01-02T15:04:05Z", flag, v)
	}
	if d <= 0 {
		return time.Time{}, fmt.Errorf("%s %q: the duration must be positive", flag, v)
	}
	if d > maxRange {
		return time.Time{}, fmt.Errorf("%s %q: at most %d days back", flag, v, int(maxRange/(24*time.Hour)))
	}
	return now.Add(-d), nil
}

// parseDuration is time.ParseDuration plus whole days ("7d", "1d12h").
func parseDuration(v string) (time.Duration, error) {
	var days time.Duration
	if i := strings.IndexByte(v, 'd'); i > 0 {
		n, err := strconv.Atoi(v[:i])
		if err != nil || n < 0 || n > 1000 {
			return 0, fmt.Errorf("bad days %q", v[:i])
		}
		days = time.Duration(n) * 24 * time.Hour
		v = v[i+1:]
		if v == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(v)
	return days + d, err
}

// seconds checks a whole-second duration flag within [lo, hi] and returns
// it in seconds; 0 stays 0 (the server's default) when zeroOK.
func seconds(flag string, d, lo, hi time.Duration, zeroOK bool) (uint32, error) {
	if d == 0 && zeroOK {
		return 0, nil
	}
	if d%time.Second != 0 {
		return 0, fmt.Errorf("%s %s: whole seconds only", flag, d)
	}
	if d < lo || d > hi {
		return 0, fmt.Errorf("%s %s: must be between %s and %s", flag, d, lo, hi)
	}
	return uint32(d / time.Second), nil
}

func requireApp(app string) error {
	if app == "" {
		return fmt.Errorf("--app is required (app id or name)")
	}
	return nil
}

func oneOf(flag, v string, allowed []string) error {
	if !slices.Contains(allowed, v) {
		return fmt.Errorf("%s %q: want one of %s", flag, v, strings.Join(allowed, ", "))
	}
	return nil
}

// Formatting for people.

// ramp are the levels of a sparkline, lowest first (plain ASCII so that
// every terminal and log shows it).
const ramp = "_.-:=+*#%@"

// Sparkline draws values scaled between their minimum and maximum; a
// constant series is drawn at the lowest level (or the highest when it is
// not zero).
func Sparkline(values []float64) string {
	if len(values) == 0 {
		return ""
	}
	lo, hi := values[0], values[0]
	for _, v := range values {
		lo, hi = min(lo, v), max(hi, v)
	}
	if lo > 0 {
		lo = 0 // a rate is read against zero, not against its own minimum
	}
	var b strings.Builder
	for _, v := range values {
		i := 0
		if hi > lo {
			i = int((v - lo) / (hi - lo) * float64(len(ramp)-1))
		}
		b.WriteByte(ramp[min(max(i, 0), len(ramp)-1)])
	}
	return b.String()
}

// num is a value for a table cell: integers without decimals, others with
// up to 3.
func num(v float64) string {
	if v == float64(int64(v)) && v < 1e15 && v > -1e15 {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'f', 3, 64)
}

// bytesText is n bytes in binary units.
func bytesText(n float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for n >= 1024 && i < len(units)-1 {
		n /= 1024
		i++
	}
	if i == 0 {
		return strconv.FormatFloat(n, 'f', 0, 64) + " B"
	}
	return strconv.FormatFloat(n, 'f', 1, 64) + " " + units[i]
}

// clock is a point's time for a table: the local time of day, with the
// date when the range spans days.
func clock(unix int64, long bool) string {
	t := time.Unix(unix, 0).Local()
	if long {
		return t.Format("2006-01-02 15:04:05")
	}
	return t.Format("15:04:05")
}

func pct(part, total uint64) string {
	if total == 0 {
		return "-"
	}
	return strconv.FormatFloat(float64(part)*100/float64(total), 'f', 1, 64) + "%"
}

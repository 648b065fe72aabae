package metricscmd

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/strata-edge/strata/gen/strata/metrics/v1/metricsv1connect"
	"github.com/strata-edge/strata/internal/cli/clientx/clitest"
)

func TestParseWhen(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name, in string
		want     time.Time
		err      string
	}{
		{"minutes", "5m", now.Add(-5 * time.Minute), ""},
		{"days", "7d", now.Add(-7 * 24 * time.Hour), ""},
		{"days and hours", "1d12h", now.Add(-36 * time.Hour), ""},
		{"rfc3339", "2026-12-03T11:00:00Z", now.Add(-time.Hour), ""},
		{"empty", "", time.Time{}, "empty"},
		{"negative", "-5m", time.Time{}, "positive"},
		{"too far", "500d", time.Time{}, "at most 400 days"},
		{"garbage", "yesterday", time.Time{}, "want a duration"},
		{"too long", strings.Repeat("1", 65), time.Time{}, "at most 64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseWhen("--since", tt.in, now)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), "--since") {
					t.Fatalf("parseWhen(%q) = %v, %v; want an error naming --since with %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil || !got.Equal(tt.want) {
				t.Fatalf("parseWhen(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestSparkline(t *testing.T) {
	tests := []struct {
		name string
		in   []float64
		want string
	}{
		{"empty", nil, ""},
		{"zeros", []float64{0, 0, 0}, "___"},
		{"ramp", []float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, ramp},
		{"against zero", []float64{10, 10, 5}, "@@="},
		{"negative", []float64{-1, 1}, "_@"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Sparkline(tt.in); got != tt.want {
				t.Fatalf("Sparkline(%v) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestNumAndBytes(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 42: "42", 1.5: "1.500", 0.12345: "0.123"} {
		if got := num(in); got != want {
			t.Errorf("num(%v) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[float64]string{0: "0 B", 1023: "1023 B", 1536: "1.5 KiB", 3 << 30: "3.0 GiB"} {
		if got := bytesText(in); got != want {
			t.Errorf("bytesText(%v) = %q, want %q", in, got, want)
		}
	}
}

// noAPI is a factory whose client cannot be built: the commands below must
// refuse their input before they ask for one.
type noAPI struct{ clitest.Env }

var errNoAPI = errors.New("the command asked the API")

func (noAPI) MetricsClient() (metricsv1connect.MetricsServiceClient, error) { return nil, errNoAPI }
func (noAPI) MetricsStreamClient() (metricsv1connect.MetricsServiceClient, error) {
	return nil, errNoAPI
}

// Bad flags are refused by name before any call.
func TestBadInputRefusedBeforeTheCall(t *testing.T) {
	tests := []struct {
		args string
		want string
	}{
		{"metrics top", "--app is required"},
		{"metrics top --app a --by country", `--by "country": want one of status, path, upstream, cache, node`},
		{"metrics top --app a --limit 0", "--limit 0: must be between 1 and 1000"},
		{"metrics top --app a --limit 5000", "--limit 5000"},
		{"metrics top --app a --since 1h --until 2h", "the start must be before the end"},
		{"metrics series --app a", "--metric is required"},
		{"metrics series --app a --metric status", `--metric "status": want one of requests,`},
		{"metrics series --app a --metric requests --step 1500ms", "--step 1.5s: whole seconds only"},
		{"metrics series --app a --metric requests --since 30d --step 1s", "points over the range; at most 100000"},
		{"metrics series --app a --metric requests --node n --cluster c", "--node and --cluster"},
		{"metrics node n --since soon", `--since "soon"`},
		{"metrics health", "give one of --app and --node"},
		{"metrics health --app a --node n", "give one of --app and --node"},
		{"metrics tail", "--app is required"},
		{"metrics tail --app a --count -1", "--count -1"},
		{"metric create m", "--sql is required"},
		{"metric create m --sql x --interval 0s", "--interval 0s: must be between 1s and 1h0m0s"},
		{"metric create m --sql x --interval 2h", "--interval 2h0m0s"},
		{"metric update m", "nothing to change"},
		{"metric update m --sql ' '", "--sql: empty"},
		{"metric update m --interval 10s --expect-version 0", "--expect-version 0"},
		{"metric delete m --expect-version 0", "--expect-version 0"},
		{"metric query m --since 0s", "must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			f := &noAPI{}
			args := strings.Fields(tt.args)
			if strings.Contains(tt.args, "' '") {
				args = []string{"metric", "update", "m", "--sql", " "}
			}
			_, err := f.Run(Commands(f), args...)
			if err == nil || errors.Is(err, errNoAPI) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("strata %s: %v; want an error with %q before any call", tt.args, err, tt.want)
			}
		})
	}
}

func TestSQLFromStdinIsBounded(t *testing.T) {
	f := &noAPI{}
	f.In = strings.NewReader(strings.Repeat("x", maxSQL+1))
	if _, err := f.Run(Commands(f), "metric", "create", "m", "--sql", "-"); err == nil || !strings.Contains(err.Error(), "more than 4096 bytes") {
		t.Fatalf("oversized --sql -: %v", err)
	}
	f.In = strings.NewReader("SELECT count(*) FROM reqs\n")
	if _, err := f.Run(Commands(f), "metric", "create", "m", "--sql", "-"); !errors.Is(err, errNoAPI) {
		t.Fatalf("--sql - from stdin did not reach the call: %v", err)
	}
}

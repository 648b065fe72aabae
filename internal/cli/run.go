package cli

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/strata-edge/strata/internal/stack"
	metricstore "github.com/strata-edge/strata/services/metrics/store"
)

// logFlags are the logging flags of the commands that run Strata.
type logFlags struct{ level string }

func (l *logFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&l.level, "log-level", "info", "log level: debug, info, warn or error")
}

func (l *logFlags) logger(g *globals) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(l.level)); err != nil {
		return nil, usagef("--log-level: %q is not a level; use debug, info, warn or error", l.level)
	}
	return slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: level})), nil
}

func newDevCmd(g *globals) *cobra.Command {
	var o stack.DevOptions
	var lf logFlags
	cmd := &cobra.Command{
		Use:   "dev [--data DIR]",
		Short: "Run Strata in one process: embedded NATS, event store, control services, API, one edge node",
		Long: `Run Strata on this machine with nothing else installed: an embedded NATS hub
with JetStream (files in DIR/nats) in operator mode (keys in DIR/nats-auth), the
event store, the control services (config, nodes, iam), the API, and one edge
node (DIR/node) that joins cluster "default" like any other node and serves the
released config on --http-addr and --https-addr. The first start writes an admin
token to DIR/admin.token (mode 0600); later starts on the same DIR keep all state
and the token. Ctrl-C stops cleanly.

More nodes join through the leaf listener (--leaf-addr):
  strata node --join-token "$(strata node token create --cluster default --auto-approve)" ...

Address flags accept port 0 for a free port; the banner prints the bound
addresses ("api: http://HOST:PORT", "http: http://HOST:PORT").`,
		Example: `  strata dev
  strata dev --data /tmp/strata --api-addr 127.0.0.1:0 --nats-addr 127.0.0.1:0 --leaf-addr 127.0.0.1:0 \
      --http-addr 127.0.0.1:0 --https-addr 127.0.0.1:0`,
		Args: args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := lf.logger(g)
			if err != nil {
				return err
			}
			o.Logger = log
			o.Banner = g.stdout
			return stack.RunDev(cmd.Context(), o)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.DataDir, "data", DefaultDataDir, "data directory (state and admin token)")
	fs.StringVar(&o.APIAddr, "api-addr", "127.0.0.1:7400", "API listen address (Connect, gRPC, gRPC-web)")
	fs.StringVar(&o.NATSAddr, "nats-addr", "127.0.0.1:7422", "embedded NATS client listen address")
	fs.StringVar(&o.LeafAddr, "leaf-addr", "127.0.0.1:7424", "embedded NATS leaf-node listen address (where edge nodes link)")
	fs.StringSliceVar(&o.LeafURLs, "leaf-url", nil, "leaf URL handed to joining nodes (repeatable; default: the bound --leaf-addr, required when it listens on 0.0.0.0 or ::)")
	fs.StringVar(&o.HTTPAddr, "http-addr", "127.0.0.1:7480", "edge node's HTTP listen address")
	fs.StringVar(&o.HTTPSAddr, "https-addr", "127.0.0.1:7443", "edge node's HTTPS listen address")
	fs.Uint32Var(&o.HTTPPort, "http-port", 80, "port apps name for --http-addr (0: the bound port)")
	fs.Uint32Var(&o.HTTPSPort, "https-port", 443, "port apps name for --https-addr (0: the bound port)")
	fs.BoolVar(&o.NoNode, "no-node", false, "run without the built-in edge node")
	fs.StringVar(&o.DNSAddr, "dns-addr", "127.0.0.1:7453", "edge node's authoritative DNS address, UDP and TCP (empty: none)")
	metricsRetentionFlags(fs, &o.MetricsRetention)
	fs.StringArrayVar(&o.XDPIfaces, "xdp-iface", nil, "`IFACE` the edge node runs the XDP DDoS filter on (repeatable; off by default; needs root; docs/ddos.md)")
	fs.BoolVar(&o.NATSLog, "nats-log", false, "show the embedded NATS server's log")
	lf.register(fs)
	return cmd
}

func newControlCmd(g *globals) *cobra.Command {
	var o stack.ControlOptions
	var services string
	var lf logFlags
	cmd := &cobra.Command{
		Use:   "control --nats URL [--services config,nodes,iam] [flags]",
		Short: "Run control services against an external NATS (JetStream) cluster",
		Long: fmt.Sprintf(`Run a subset of the control services against an external NATS server or
cluster with JetStream, for docker-compose and production. Each service can run
as many replicas as needed. Available services: %s.

The API admin token is read from (or created in) DIR/admin.token; replicas
behind one load balancer must share it. Every API process authenticates and
authorizes calls with the IAM read model, whichever services it serves.

The nodes service issues node credentials with the NATS operator and account
keys in --nats-auth (default DIR/nats-auth), which the hub must trust, and hands
joining nodes the hub's leaf URLs (--leaf-url, required with it).`, strings.Join(stack.KnownServices, ", ")),
		Example: `  strata control --nats nats://nats:4222 --nats-creds /etc/strata/control.creds \
      --leaf-url nats-leaf://hub.example.com:7422 --api-addr 0.0.0.0:7400 --data /var/lib/strata
  strata control --nats nats://nats:4222 --services config,iam --store postgres \
      --postgres-dsn-file /run/secrets/strata.dsn`,
		Args: args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := lf.logger(g)
			if err != nil {
				return err
			}
			o.Services, err = stack.ParseServices(services)
			if err != nil {
				return usageError{err}
			}
			o.Logger = log
			o.Banner = g.stdout
			return stack.RunControl(cmd.Context(), o)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.NATSURL, "nats", "", "NATS URL(s) of the hub, comma-separated (required)")
	fs.StringVar(&o.NATSCreds, "nats-creds", "", "NATS credentials file")
	fs.StringVar(&o.JetStreamDomain, "js-domain", "", "JetStream domain of the hub when reached across a leaf link")
	fs.IntVar(&o.Replicas, "replicas", 1, "replicas of the event stream (3 on a JetStream cluster)")
	fs.StringVar(&services, "services", strings.Join(stack.KnownServices, ","), "control services to run, comma-separated")
	fs.StringVar(&o.NATSAuthDir, "nats-auth", "", "directory of the NATS operator and account keys (default DIR/nats-auth)")
	fs.StringSliceVar(&o.LeafURLs, "leaf-url", nil, "hub leaf-node URL handed to joining nodes (repeatable; required with the nodes service)")
	fs.StringVar(&o.APIAddr, "api-addr", "127.0.0.1:7400", "API listen address")
	fs.StringVar(&o.DataDir, "data", DefaultDataDir, "directory holding admin.token (and nats-auth/)")
	fs.StringVar(&o.Store, "store", "jetstream", "event store: jetstream or postgres")
	fs.StringVar(&o.PostgresDSN, "postgres-dsn", "", "PostgreSQL URL for --store postgres")
	fs.StringVar(&o.PostgresDSNFile, "postgres-dsn-file", "", "file holding the PostgreSQL URL (mode 0600), instead of --postgres-dsn")
	fs.StringVar(&o.PostgresSchema, "postgres-schema", "strata", "PostgreSQL schema of the event store tables")
	fs.StringVar(&o.MetricsPostgresDSN, "metrics-postgres-dsn", "", "PostgreSQL URL of the metrics store (default: SQLite in DIR/metrics.db, not shared by replicas)")
	fs.StringVar(&o.MetricsPostgresDSNFile, "metrics-postgres-dsn-file", "", "file holding the metrics store's PostgreSQL URL (mode 0600), instead of --metrics-postgres-dsn")
	fs.StringVar(&o.MetricsPostgresSchema, "metrics-postgres-schema", "strata_metrics", "PostgreSQL schema of the metrics store tables")
	metricsRetentionFlags(fs, &o.MetricsRetention)
	_ = cmd.MarkFlagRequired("nats")
	lf.register(fs)
	return cmd
}

// metricsRetentionFlags registers how long the metrics store keeps each
// resolution (the store checks that each outlives the finer one).
func metricsRetentionFlags(fs *pflag.FlagSet, r *metricstore.Retention) {
	fs.DurationVar(&r.Second, "metrics-retention-1s", time.Hour, "how long the metrics store keeps per-second rows before rolling them into minutes")
	fs.DurationVar(&r.Minute, "metrics-retention-1m", 7*24*time.Hour, "how long it keeps per-minute rows (and Metric SQL results, health changes, node samples) before rolling them into hours")
	fs.DurationVar(&r.Hour, "metrics-retention-1h", 365*24*time.Hour, "how long it keeps per-hour rows")
}

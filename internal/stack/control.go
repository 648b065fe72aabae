package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"

	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/natsauth"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/secretfile"
	metricstore "github.com/strata-edge/strata/services/metrics/store"
)

// ControlOptions configures RunControl.
type ControlOptions struct {
	// NATSURL is the hub's client URL(s), comma-separated.
	NATSURL string
	// NATSCreds is an optional NATS credentials file.
	NATSCreds string
	// JetStreamDomain is the hub's JetStream domain when reached across a leaf
	// link; empty talks to the JetStream of the server connected to.
	JetStreamDomain string
	// Replicas of the event stream (3 on a JetStream cluster).
	Replicas int
	Services []string
	APIAddr  string
	// DataDir holds admin.token; replicas behind one load balancer must share it.
	DataDir string
	// NATSAuthDir holds the NATS operator and account keys the nodes service
	// issues node credentials with (default DataDir/nats-auth); the hub
	// must trust that operator. Replicas must share it.
	NATSAuthDir string
	// LeafURLs are the hub's leaf-node URLs handed to joining nodes;
	// required with the nodes service.
	LeafURLs []string
	// Store is "jetstream" (default) or "postgres" (with PostgresDSN or
	// PostgresDSNFile).
	Store       string
	PostgresDSN string
	// PostgresDSNFile holds the PostgreSQL URL, password included (a secret
	// file: mode 0600), so the password is in no command line.
	PostgresDSNFile string
	// PostgresSchema holds the store's tables; default "strata".
	PostgresSchema string
	// MetricsPostgresDSN or MetricsPostgresDSNFile (a secret file) put the
	// metrics service's store in PostgreSQL (TimescaleDB when present);
	// without, it is SQLite in DataDir, which replicas do not share.
	MetricsPostgresDSN     string
	MetricsPostgresDSNFile string
	// MetricsRetention is how long the metrics store keeps 1 s, 1 min and
	// 1 h rows (zero fields: 1 h, 7 days, 365 days).
	MetricsRetention metricstore.Retention
	// MetricsPostgresSchema holds the metrics tables; default
	// "strata_metrics".
	MetricsPostgresSchema string
	Logger                *slog.Logger
	Banner                io.Writer
}

// RunControl runs the chosen control services against an external NATS until
// ctx ends.
func RunControl(ctx context.Context, o ControlOptions) (err error) {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	if o.NATSURL == "" {
		return errors.New("--nats: required (the hub's NATS URL, e.g. nats://nats:4222)")
	}
	apiAddr, err := normalizeAddr("--api-addr", o.APIAddr)
	if err != nil {
		return err
	}
	switch o.Store {
	case "", "jetstream":
	case "postgres":
		if o.PostgresDSN, err = postgresDSN(o.PostgresDSN, o.PostgresDSNFile); err != nil {
			return err
		}
	default:
		return fmt.Errorf("--store: %q is not an event store; use jetstream or postgres", o.Store)
	}
	var metricsDSN string
	if o.MetricsPostgresDSN != "" || o.MetricsPostgresDSNFile != "" {
		if !slices.Contains(o.Services, ServiceMetrics) {
			return errors.New("--metrics-postgres-dsn: given, but the metrics service does not run here (--services)")
		}
		if metricsDSN, err = secretDSN("--metrics-postgres-dsn", o.MetricsPostgresDSN, o.MetricsPostgresDSNFile); err != nil {
			return err
		}
	}
	runsNodes := slices.Contains(o.Services, ServiceNodes)
	if runsNodes && len(o.LeafURLs) == 0 {
		return errors.New("--leaf-url: required with the nodes service (the hub's leaf-node URL that nodes dial, e.g. nats-leaf://hub.example.com:7422)")
	}
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return fmt.Errorf("--data: create %q: %w", o.DataDir, err)
	}
	var authority *natsauth.Authority
	if runsNodes {
		dir := o.NATSAuthDir
		if dir == "" {
			dir = filepath.Join(o.DataDir, devAuthDir)
		}
		authority, err = natsauth.LoadOrCreate(dir)
		if err != nil {
			return fmt.Errorf("--nats-auth: %w", err)
		}
	}

	var st stops
	defer func() {
		if stopErr := st.run(log); err == nil {
			err = stopErr
		}
	}()

	natsOpts := []nats.Option{
		nats.Name("strata-control"),
		nats.MaxReconnects(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { log.Warn("nats disconnected", "err", err) }),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("nats reconnected", "url", nc.ConnectedUrl()) }),
	}
	if o.NATSCreds != "" {
		// nats.go reads the file itself (again on each reconnect, so it may
		// be rotated); it is refused first like every secret file.
		b, err := secretfile.Read(o.NATSCreds)
		if err != nil {
			return fmt.Errorf("--nats-creds: %w", err)
		}
		clear(b)
		natsOpts = append(natsOpts, nats.UserCredentials(o.NATSCreds))
	}
	nc, err := nats.Connect(o.NATSURL, natsOpts...)
	if err != nil {
		return fmt.Errorf("--nats: connect to %s: %w", o.NATSURL, err)
	}
	st.add("nats connection", func(context.Context) error { return nc.Drain() })
	js, err := natsutil.JetStream(nc, o.JetStreamDomain)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}

	var store eventstore.Store
	switch o.Store {
	case "postgres":
		pool, err := pgxpool.New(ctx, o.PostgresDSN)
		if err != nil {
			return fmt.Errorf("--postgres-dsn: %w", err)
		}
		st.add("postgres pool", func(context.Context) error { pool.Close(); return nil })
		ps, err := eventstore.NewPostgres(ctx, pool, eventstore.PostgresOptions{Schema: o.PostgresSchema})
		if err != nil {
			return fmt.Errorf("postgres event store: %w", err)
		}
		store = ps
	default:
		js, err := eventstore.NewJetStream(ctx, js, eventstore.JetStreamOptions{Replicas: o.Replicas})
		if err != nil {
			return fmt.Errorf("jetstream event store: %w", err)
		}
		store = js
	}
	st.add("event store", func(context.Context) error { return store.Close() })

	api, err := startAPI(ctx, apiParts{
		addr: apiAddr, dataDir: o.DataDir, services: o.Services,
		store: store, js: js, log: log,
		authority: authority, conn: nc, leafURLs: o.LeafURLs, replicas: o.Replicas,
		metricsDSN: metricsDSN, metricsSchema: o.MetricsPostgresSchema, metricsRetention: o.MetricsRetention,
	}, &st)
	if err != nil {
		return err
	}
	if o.Banner != nil {
		fmt.Fprintf(o.Banner, "Strata control is running.\napi: %s\nconsole: %s/\nnats: %s\nstore: %s\nservices: %v\ntoken-file: %s\n",
			api.url, api.url, nc.ConnectedUrlRedacted(), storeName(o.Store), o.Services, api.tokenFile)
	}
	log.Info("strata control running", "services", o.Services)
	<-ctx.Done()
	log.Info("stopping")
	return nil
}

// postgresDSN is the URL of --postgres-dsn or the content of --postgres-dsn-file.
func postgresDSN(dsn, file string) (string, error) {
	if dsn == "" && file == "" {
		return "", errors.New("--postgres-dsn: required with --store postgres (or --postgres-dsn-file)")
	}
	return secretDSN("--postgres-dsn", dsn, file)
}

// secretDSN is the URL of flag or the content of flag-file (a secret file,
// so the password is in no command line).
func secretDSN(flag, dsn, file string) (string, error) {
	switch {
	case dsn != "" && file != "":
		return "", fmt.Errorf("%s-file: give %s or %s-file, not both", flag, flag, flag)
	case file != "":
		b, err := secretfile.Read(file)
		if err != nil {
			return "", fmt.Errorf("%s-file: %w", flag, err)
		}
		defer clear(b)
		dsn = strings.TrimSpace(string(b))
		if dsn == "" {
			return "", fmt.Errorf("%s-file: %s is empty; want a PostgreSQL URL", flag, file)
		}
	}
	return dsn, nil
}

func storeName(s string) string {
	if s == "" {
		return "jetstream"
	}
	return s
}

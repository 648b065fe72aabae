package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// PostgresOptions configure OpenPostgresOptions.
type PostgresOptions struct {
	// Schema holds the tables (created if missing); default strata_metrics.
	// Lower-case letters, digits and _, starting with a letter.
	Schema    string
	Retention Retention
	// NoTimescale keeps plain tables even when TimescaleDB is available.
	NoTimescale bool
}

// DefaultSchema is the schema of OpenPostgres.
const DefaultSchema = "strata_metrics"

var schemaRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// lockSQL takes the advisory lock of schema setup and compaction (one per
// schema: hashtext of the schema name).
const lockSQL = `SELECT pg_advisory_xact_lock(hashtext('strata_metrics_store:' || $1))`

// OpenPostgres opens the store in schema strata_metrics of dsn.
func OpenPostgres(ctx context.Context, dsn string, r Retention) (Store, error) {
	return OpenPostgresOptions(ctx, dsn, PostgresOptions{Retention: r})
}

// OpenPostgresOptions opens the store in o.Schema of dsn, creating the
// schema and tables if needed (safe when several replicas start at once).
// When the timescaledb extension is available the traffic and sample
// tables become hypertables.
func OpenPostgresOptions(ctx context.Context, dsn string, o PostgresOptions) (Store, error) {
	ret, err := o.Retention.withDefaults()
	if err != nil {
		return nil, err
	}
	if o.Schema == "" {
		o.Schema = DefaultSchema
	}
	if !schemaRE.MatchString(o.Schema) {
		return nil, invalid("schema", "%q: lower-case letters, digits and _, starting with a letter, at most 63", o.Schema)
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	db.SetMaxOpenConns(16)
	schema := o.Schema
	s := &sqlStore{db: db, ret: ret,
		d: dialect{postgres: true, prefix: schema + ".", blob: "BYTEA", greatest: "GREATEST"},
		lockTx: func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, lockSQL, schema)
			return err
		},
		// The two-key form: a key space apart from lockSQL's.
		lockNode: func(ctx context.Context, tx *sql.Tx, node string) error {
			_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))`, schema, node)
			return err
		},
	}
	if err := s.setupPostgres(ctx, schema, !o.NoTimescale); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *sqlStore) setupPostgres(ctx context.Context, schema string, timescale bool) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, lockSQL, schema); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS "+schema); err != nil {
			return err
		}
		for _, stmt := range schemaSQL(s.d) {
			if _, err := tx.ExecContext(ctx, s.d.q(stmt)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("metrics store schema %s: %w", schema, err)
	}
	if !timescale {
		return nil
	}
	var avail int
	err = s.db.QueryRowContext(ctx, `SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'`).Scan(&avail)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // plain tables and indexes
	}
	if err != nil {
		return fmt.Errorf("look for timescaledb: %w", err)
	}
	return s.setupTimescale(ctx, schema)
}

// setupTimescale turns traffic and samples into hypertables chunked by a
// day of their integer (Unix second) time column. Not run here: the test
// machine has no TimescaleDB (see README.md). A CREATE EXTENSION that the
// server refuses (not in shared_preload_libraries, no privilege) leaves the
// plain tables in use.
func (s *sqlStore) setupTimescale(ctx context.Context, schema string) error {
	if _, err := s.db.ExecContext(ctx, `CREATE EXTENSION IF NOT EXISTS timescaledb`); err != nil {
		return nil
	}
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, lockSQL, schema); err != nil {
			return err
		}
		for _, t := range []string{"traffic", "samples"} {
			// migrate_data: a store created before the extension was added
			// keeps its rows.
			if _, err := tx.ExecContext(ctx, `SELECT create_hypertable($1::regclass, 'ts', chunk_time_interval => 86400::bigint, if_not_exists => TRUE, migrate_data => TRUE)`,
				schema+"."+t); err != nil {
				return fmt.Errorf("hypertable %s.%s: %w", schema, t, err)
			}
		}
		return nil
	})
}

package eventstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PostgresOptions configures NewPostgres.
type PostgresOptions struct {
	// Schema holds the store's tables; default "strata". Lower-case letters,
	// digits and '_', starting with a letter or '_', at most 50 bytes.
	Schema string
	// PollInterval is how often a subscriber looks for new events when no
	// notification arrives (a lost LISTEN connection, a NOTIFY dropped by a
	// connection pooler). Default 1s.
	PollInterval time.Duration
}

// sqlStateConflict is raised by the append function on a version mismatch,
// with detail conflictKnownIDs when some of the event IDs are stored.
const (
	sqlStateConflict = "SE409"
	conflictKnownIDs = "known-ids"
)

var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,49}$`)

// PostgresStore keeps the log in PostgreSQL: one table of events whose primary
// key is the global Position, and a one-row counter table, log_head.
//
// Gap-free order. A sequence or identity column would leave holes (a rolled
// back transaction consumes its numbers) and would let a later number commit
// before an earlier one, so a reader could see position 8 before 7 exists and
// skip 7 forever. Instead every append runs
//
//	UPDATE log_head SET head = head + n RETURNING head
//
// first in its transaction. That row lock serialises appends: the holder
// takes positions head-n+1..head, checks the expected version, inserts and
// commits, and only then can the next append take the lock and read the new
// head. Positions are therefore handed out in commit order, a rollback (a
// conflict, an error, a crash) undoes its UPDATE and so returns its numbers,
// and every snapshot a reader takes sees a gap-free prefix of the log. The
// price is one append at a time: throughput is bounded by commit latency
// (see docs/eventstore.md for figures).
//
// All of an append runs in one server-side function call, so the lock is held
// for one statement plus the commit, not for client round trips.
type PostgresStore struct {
	pool    *pgxpool.Pool
	schema  string
	channel string
	poll    time.Duration
	ctx     context.Context // cancelled by Close
	cancel  context.CancelFunc
}

// NewPostgres creates the schema, tables and append function when they do not
// exist (safe to call concurrently and repeatedly) and returns a store.
func NewPostgres(ctx context.Context, pool *pgxpool.Pool, opts PostgresOptions) (*PostgresStore, error) {
	if opts.Schema == "" {
		opts.Schema = "strata"
	}
	if !schemaName.MatchString(opts.Schema) {
		return nil, fmt.Errorf("%w: PostgresOptions.Schema %q: want lower-case letters, digits and '_', starting with a letter or '_', at most 50 bytes", ErrInvalid, opts.Schema)
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = time.Second
	}
	if opts.PollInterval < 0 {
		return nil, fmt.Errorf("%w: PostgresOptions.PollInterval: %s is negative", ErrInvalid, opts.PollInterval)
	}
	s := &PostgresStore{pool: pool, schema: opts.Schema, channel: opts.Schema + "_events", poll: opts.PollInterval}
	if err := s.migrate(ctx); err != nil {
		return nil, fmt.Errorf("eventstore: prepare schema %q: %w", opts.Schema, err)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// migrate creates what is missing. An advisory lock keeps concurrent callers
// from racing on CREATE ... IF NOT EXISTS, which is not atomic in PostgreSQL.
func (s *PostgresStore) migrate(ctx context.Context) error {
	ddl := strings.NewReplacer("$S", s.schema, "$CH", s.channel, "$CONFLICT", sqlStateConflict, "$KNOWN", conflictKnownIDs).Replace(`
CREATE SCHEMA IF NOT EXISTS $S;

CREATE TABLE IF NOT EXISTS $S.log_head (
	id   boolean PRIMARY KEY DEFAULT true CHECK (id),
	head bigint NOT NULL CHECK (head >= 0)
);
INSERT INTO $S.log_head (id, head) VALUES (true, 0) ON CONFLICT DO NOTHING;

CREATE TABLE IF NOT EXISTS $S.events (
	position     bigint PRIMARY KEY,
	id           text NOT NULL UNIQUE,
	stream       text NOT NULL,
	type         text NOT NULL,
	data         bytea NOT NULL,
	actor        text NOT NULL,
	request_id   text NOT NULL,
	causation_id text NOT NULL,
	recorded_at  timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS events_stream_position ON $S.events (stream, position);

-- The log is append-only: refuse UPDATE, DELETE and TRUNCATE.
CREATE OR REPLACE FUNCTION $S.events_append_only() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
	RAISE EXCEPTION 'the event log is append-only: % refused', TG_OP;
END $fn$;
CREATE OR REPLACE TRIGGER events_no_update BEFORE UPDATE OR DELETE ON $S.events
	FOR EACH ROW EXECUTE FUNCTION $S.events_append_only();
CREATE OR REPLACE TRIGGER events_no_truncate BEFORE TRUNCATE ON $S.events
	FOR EACH STATEMENT EXECUTE FUNCTION $S.events_append_only();

-- conflict raises the version conflict; its detail says whether some of the
-- IDs are stored already (then the append may be a retry).
CREATE OR REPLACE FUNCTION $S.conflict(p_version bigint, p_ids text[]) RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
	RAISE EXCEPTION USING ERRCODE = '$CONFLICT',
		MESSAGE = format('stream is at version %s', p_version),
		DETAIL = CASE WHEN EXISTS (SELECT 1 FROM $S.events WHERE id = ANY(p_ids)) THEN '$KNOWN' ELSE '' END;
END $fn$;

-- append stores one stream's events at the head of the log. p_expected < 0
-- means any version. Each statement of a volatile function takes a fresh
-- snapshot, so the version check after the lock sees every earlier append.
-- A first check before the lock lets stale writers fail without queueing:
-- versions only grow, so a mismatch seen early is a mismatch.
CREATE OR REPLACE FUNCTION $S.append(
	p_stream text, p_expected bigint, p_ids text[], p_types text[], p_data bytea[],
	p_actors text[], p_request_ids text[], p_causation_ids text[], p_times timestamptz[]
) RETURNS bigint LANGUAGE plpgsql AS $fn$
DECLARE
	n bigint := cardinality(p_ids);
	h bigint;
	v bigint;
BEGIN
	IF p_expected >= 0 THEN
		SELECT coalesce(max(position), 0) INTO v FROM $S.events WHERE stream = p_stream;
		IF v <> p_expected THEN
			PERFORM $S.conflict(v, p_ids);
		END IF;
	END IF;
	UPDATE $S.log_head SET head = head + n RETURNING head INTO h;
	IF p_expected >= 0 THEN
		SELECT coalesce(max(position), 0) INTO v FROM $S.events WHERE stream = p_stream;
		IF v <> p_expected THEN
			PERFORM $S.conflict(v, p_ids);
		END IF;
	END IF;
	INSERT INTO $S.events (position, id, stream, type, data, actor, request_id, causation_id, recorded_at)
	SELECT h - n + t.o, t.id, p_stream, t.type, t.data, t.actor, t.request_id, t.causation_id, t.recorded_at
	FROM unnest(p_ids, p_types, p_data, p_actors, p_request_ids, p_causation_ids, p_times)
		WITH ORDINALITY AS t(id, type, data, actor, request_id, causation_id, recorded_at, o);
	PERFORM pg_notify('$CH', h::text);
	RETURN h;
END $fn$;
`)
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.Background())
	// Any constant works as long as every Strata process uses the same one.
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(7305741923)"); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, ddl); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

func (s *PostgresStore) checkOpen() error {
	if s.ctx.Err() != nil {
		return ErrClosed
	}
	return nil
}

// Append implements Store.
func (s *PostgresStore) Append(ctx context.Context, stream string, expected uint64, events ...Event) ([]Event, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	evs, err := Prepare(stream, events, time.Now())
	if err != nil {
		return nil, err
	}
	exp := int64(-1)
	if expected != AnyVersion {
		if expected > math.MaxInt64 {
			return nil, fmt.Errorf("eventstore: append to %q at version %d: no such version: %w", stream, expected, ErrConflict)
		}
		exp = int64(expected)
	}
	n := len(evs)
	var (
		ids, types, actors, requests, causes = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		data                                 = make([][]byte, n)
		times                                = make([]time.Time, n)
	)
	for i, e := range evs {
		ids[i], types[i], data[i], times[i] = e.ID, e.Type, e.Data, e.Metadata.Time
		actors[i], requests[i], causes[i] = e.Metadata.Actor, e.Metadata.RequestID, e.Metadata.CausationID
		if data[i] == nil {
			data[i] = []byte{}
		}
	}
	var h int64
	err = s.pool.QueryRow(ctx, "SELECT "+s.schema+".append($1, $2, $3, $4, $5, $6, $7, $8, $9)",
		stream, exp, ids, types, data, actors, requests, causes, times).Scan(&h)
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == sqlStateConflict && pgErr.Detail != conflictKnownIDs {
			return nil, fmt.Errorf("eventstore: append to %q at version %s: %s: %w", stream, versionString(expected), pgErr.Message, ErrConflict)
		}
		if errors.As(err, &pgErr) && (pgErr.Code == sqlStateConflict || pgErr.Code == "23505") {
			// A stale version or a known event ID: a retry of a stored append,
			// or a real conflict.
			return s.resolveRetry(ctx, stream, expected, evs, pgErr.Message)
		}
		return nil, fmt.Errorf("eventstore: append to %q: %w", stream, err)
	}
	first := uint64(h) - uint64(n) + 1
	for i := range evs {
		evs[i].Position = first + uint64(i)
	}
	return evs, nil
}

// resolveRetry returns the stored events when evs were stored before by an
// append to the same stream with the same expected version (the same IDs, in
// order, at consecutive positions, right after the expected version), and
// ErrConflict otherwise. The JetStream store applies the same rule.
func (s *PostgresStore) resolveRetry(ctx context.Context, stream string, expected uint64, evs []Event, cause string) ([]Event, error) {
	conflict := func(reason string) ([]Event, error) {
		return nil, fmt.Errorf("eventstore: append to %q at version %s: %s: %w", stream, versionString(expected), reason, ErrConflict)
	}
	ids := make([]string, len(evs))
	for i, e := range evs {
		ids[i] = e.ID
	}
	stored, err := s.query(ctx, "WHERE id = ANY($1) ORDER BY position", ids)
	if err != nil {
		return nil, fmt.Errorf("eventstore: append to %q: look up retry: %w", stream, err)
	}
	if len(stored) == 0 {
		return conflict(cause)
	}
	for i, e := range stored {
		if len(stored) != len(evs) || e.ID != evs[i].ID || e.Stream != stream || e.Position != stored[0].Position+uint64(i) {
			return conflict("an event ID is already used by another append")
		}
	}
	if expected != AnyVersion {
		var next uint64
		err := s.pool.QueryRow(ctx, "SELECT coalesce(min(position), 0) FROM "+s.schema+".events WHERE stream = $1 AND position > $2",
			stream, int64(expected)).Scan(&next)
		if err != nil {
			return nil, fmt.Errorf("eventstore: append to %q: look up retry: %w", stream, err)
		}
		if next != stored[0].Position {
			return conflict("an event ID is already used by another append")
		}
	}
	return stored, nil
}

const eventColumns = "position, id, stream, type, data, actor, request_id, causation_id, recorded_at"

// query reads events with a WHERE/ORDER/LIMIT tail.
func (s *PostgresStore) query(ctx context.Context, tail string, args ...any) ([]Event, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+eventColumns+" FROM "+s.schema+".events "+tail, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var (
			e   Event
			pos int64
		)
		if err := rows.Scan(&pos, &e.ID, &e.Stream, &e.Type, &e.Data, &e.Metadata.Actor, &e.Metadata.RequestID,
			&e.Metadata.CausationID, &e.Metadata.Time); err != nil {
			return nil, err
		}
		e.Position = uint64(pos)
		e.Metadata.Time = e.Metadata.Time.UTC()
		if len(e.Data) == 0 {
			e.Data = nil
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// ReadStream implements Store.
func (s *PostgresStore) ReadStream(ctx context.Context, stream string, after uint64) ([]Event, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	if err := ValidateStreamName(stream); err != nil {
		return nil, err
	}
	if after >= math.MaxInt64 {
		return nil, nil
	}
	out, err := s.query(ctx, "WHERE stream = $1 AND position > $2 ORDER BY position", stream, int64(after))
	if err != nil {
		return nil, fmt.Errorf("eventstore: read stream %q: %w", stream, err)
	}
	return out, nil
}

// ReadAll implements Store.
func (s *PostgresStore) ReadAll(ctx context.Context, after uint64, limit int) ([]Event, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	if after >= math.MaxInt64 {
		return nil, nil
	}
	var lim *int64 // NULL: no limit
	if limit > 0 {
		l := int64(limit)
		lim = &l
	}
	out, err := s.query(ctx, "WHERE position > $1 ORDER BY position LIMIT $2", int64(after), lim)
	if err != nil {
		return nil, fmt.Errorf("eventstore: read all after %d: %w", after, err)
	}
	return out, nil
}

// Head implements Store. log_head only ever shows committed appends, so it is
// the newest position a reader can see.
func (s *PostgresStore) Head(ctx context.Context) (uint64, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	var h int64
	if err := s.pool.QueryRow(ctx, "SELECT head FROM "+s.schema+".log_head").Scan(&h); err != nil {
		return 0, fmt.Errorf("eventstore: head: %w", err)
	}
	return uint64(h), nil
}

// subscribeBatch is how many events a subscriber reads per query.
const subscribeBatch = 500

// Subscribe implements Store. It LISTENs on the store's channel (every append
// NOTIFYs it on commit) on a connection of its own, reads what is new after
// each notification and at least every PollInterval, and hands events over
// strictly by position, so a lost notification delays an event but never
// loses it.
func (s *PostgresStore) Subscribe(ctx context.Context, after uint64, handle func(Event) error) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopOnClose := context.AfterFunc(s.ctx, cancel)
	defer stopOnClose()
	ended := func() error {
		if s.ctx.Err() != nil {
			return ErrClosed
		}
		return ctx.Err()
	}

	var listener *pgx.Conn
	defer func() {
		if listener != nil {
			s.unlisten(listener)
		}
	}()
	last := after
	for {
		// LISTEN before reading, so that an append committed after the read
		// still wakes us.
		if listener == nil {
			listener, _ = s.listen(ctx) // on failure: poll only, retry next round
		}
		for {
			evs, err := s.ReadAll(ctx, last, subscribeBatch)
			if err != nil {
				if ctx.Err() != nil {
					return ended()
				}
				return fmt.Errorf("eventstore: subscribe after %d: %w", last, err)
			}
			for _, e := range evs {
				if e.Position != last+1 {
					return fmt.Errorf("eventstore: subscribe: gap after position %d (got %d)", last, e.Position)
				}
				if err := handle(e); err != nil {
					return err
				}
				last = e.Position
			}
			if len(evs) < subscribeBatch {
				break
			}
		}
		wait, cancelWait := context.WithTimeout(ctx, s.poll)
		var err error
		if listener != nil {
			err = listener.PgConn().WaitForNotification(wait)
		} else {
			<-wait.Done()
		}
		cancelWait()
		if ctx.Err() != nil {
			return ended()
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) && !pgconn.Timeout(err) {
			// The connection broke: drop it and listen again next round.
			_ = listener.Close(context.Background())
			listener = nil
		}
	}
}

// listen opens a connection of its own and LISTENs on the store's channel.
// Not one of the pool's: a subscription holds its listener as long as it
// runs, so a process with as many subscriptions as the pool has connections
// (a control process follows the log once per read model) would leave none
// for reading the events it is woken for.
func (s *PostgresStore) listen(ctx context.Context) (*pgx.Conn, error) {
	c, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig)
	if err != nil {
		return nil, err
	}
	if _, err := c.Exec(ctx, "LISTEN "+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		_ = c.Close(context.Background())
		return nil, err
	}
	return c, nil
}

// unlisten closes a listening connection.
func (s *PostgresStore) unlisten(c *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.Close(ctx)
}

// Close ends running subscriptions (they return ErrClosed) and makes later
// calls fail with ErrClosed. The pool stays open.
func (s *PostgresStore) Close() error {
	s.cancel()
	return nil
}

var _ Store = (*PostgresStore)(nil)

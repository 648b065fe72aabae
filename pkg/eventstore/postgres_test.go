package eventstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/eventstore/eventstoretest"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
	"github.com/strata-edge/strata/pkg/testenv"
)

// testPool connects to $STRATA_TEST_POSTGRES or skips the test.
func testPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	dsn := testenv.PostgresDSN(t)
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatalf("connect %s: %v", dsn, err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// randomSchema names a fresh schema and drops it when the test ends.
func randomSchema(t testing.TB, pool *pgxpool.Pool) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	schema := "strata_test_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		if _, err := pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

func newPostgresStore(t testing.TB, opts eventstore.PostgresOptions) *eventstore.PostgresStore {
	t.Helper()
	pool := testPool(t)
	if opts.Schema == "" {
		opts.Schema = randomSchema(t, pool)
	}
	s, err := eventstore.NewPostgres(context.Background(), pool, opts)
	if err != nil {
		t.Fatalf("NewPostgres: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestPostgresConformance(t *testing.T) {
	eventstoretest.Run(t, func(t *testing.T) eventstore.Store { return newPostgresStore(t, eventstore.PostgresOptions{}) })
}

func TestPostgresOptionsAreValidated(t *testing.T) {
	pool := testPool(t)
	for _, o := range []eventstore.PostgresOptions{{Schema: "Strata"}, {Schema: "a-b"}, {Schema: "1abc"}, {Schema: "x; DROP TABLE y"}, {PollInterval: -time.Second}} {
		if _, err := eventstore.NewPostgres(context.Background(), pool, o); !errors.Is(err, eventstore.ErrInvalid) {
			t.Fatalf("NewPostgres(%+v): %v, want ErrInvalid", o, err)
		}
	}
}

// Several processes may start at once against a new database.
func TestPostgresSetupIsIdempotent(t *testing.T) {
	pool := testPool(t)
	schema := randomSchema(t, pool)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := eventstore.NewPostgres(context.Background(), pool, eventstore.PostgresOptions{Schema: schema})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent NewPostgres: %v", err)
		}
	}
	s, err := eventstore.NewPostgres(context.Background(), pool, eventstore.PostgresOptions{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(context.Background(), "app.a", 0, eventstore.Event{ID: "e1", Type: "t"}); err != nil {
		t.Fatal(err)
	}
	if _, err := eventstore.NewPostgres(context.Background(), pool, eventstore.PostgresOptions{Schema: schema}); err != nil {
		t.Fatalf("NewPostgres on a used schema: %v", err)
	}
	if h, _ := s.Head(context.Background()); h != 1 {
		t.Fatalf("Head after repeated setup = %d, want 1", h)
	}
}

func TestPostgresRefusesUpdateAndDelete(t *testing.T) {
	pool := testPool(t)
	schema := randomSchema(t, pool)
	s, err := eventstore.NewPostgres(context.Background(), pool, eventstore.PostgresOptions{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(context.Background(), "app.a", 0, eventstore.Event{ID: "e1", Type: "t"}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"UPDATE " + schema + ".events SET type = 'x'",
		"DELETE FROM " + schema + ".events",
		"TRUNCATE " + schema + ".events",
	} {
		if _, err := pool.Exec(context.Background(), q); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Fatalf("%s: %v, want refusal", q, err)
		}
	}
}

// Readers never see a hole, even while appends (some failing) commit
// concurrently: positions are handed out in commit order.
func TestPostgresGapFreeUnderConcurrency(t *testing.T) {
	s := newPostgresStore(t, eventstore.PostgresOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const writers, appends = 8, 40
	var wg sync.WaitGroup
	var stored atomic.Int64
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var version uint64
			for i := 0; i < appends; i++ {
				n := 1 + i%3
				batch := make([]eventstore.Event, n)
				for j := range batch {
					batch[j] = eventstore.Event{ID: fmt.Sprintf("w%d-%d-%d", w, i, j), Type: "t"}
				}
				// Every third append is stale and rolls back.
				expected := version
				if i%3 == 2 {
					expected = version + 99
				}
				out, err := s.Append(ctx, fmt.Sprintf("app.w%d", w), expected, batch...)
				if i%3 == 2 {
					if !errors.Is(err, eventstore.ErrConflict) {
						t.Errorf("stale append: %v", err)
					}
					continue
				}
				if err != nil {
					t.Errorf("append: %v", err)
					return
				}
				version = out[len(out)-1].Position
				stored.Add(int64(n))
			}
		}()
	}
	readerDone := make(chan struct{})
	var reads int
	go func() {
		defer close(readerDone)
		for ctx.Err() == nil {
			evs, err := s.ReadAll(ctx, 0, 0)
			if err != nil {
				return
			}
			for i, e := range evs {
				if e.Position != uint64(i+1) {
					t.Errorf("read %d events with a hole: position %d at index %d", len(evs), e.Position, i)
					return
				}
			}
			reads++
		}
	}()
	wg.Wait()
	cancel()
	<-readerDone
	h, err := s.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if h != uint64(stored.Load()) {
		t.Fatalf("Head = %d, stored %d: failed appends left holes", h, stored.Load())
	}
	t.Logf("%d consistent reads during %d appends", reads, writers*appends)
}

// A subscriber whose LISTEN connection is killed goes on (poll fallback,
// then a new LISTEN) without losing or repeating an event.
func TestPostgresSubscribeSurvivesLostListener(t *testing.T) {
	pool := testPool(t)
	schema := randomSchema(t, pool)
	s := newPostgresStore(t, eventstore.PostgresOptions{Schema: schema, PollInterval: 50 * time.Millisecond})
	eventstoretest.SubscribeSurvives(t, s, 3, 10*time.Second, func(ctx context.Context, _ int) {
		// Wait for the subscriber's LISTEN and kill that backend.
		var killed int
		natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
			err := pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE query = $1 AND pid <> pg_backend_pid()`, `LISTEN "`+schema+`_events"`).Scan(&killed)
			if err == nil && killed == 0 {
				return errors.New("no listening backend yet")
			}
			return err
		})
	})
}

// More subscriptions than the pool has connections (a control process
// follows the log once per read model) all receive the events: a
// subscription's LISTEN holds no connection of the pool.
func TestPostgresSubscriptionsOutnumberPool(t *testing.T) {
	cfg, err := pgxpool.ParseConfig(testenv.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s, err := eventstore.NewPostgres(context.Background(), pool, eventstore.PostgresOptions{Schema: randomSchema(t, pool)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const subscribers = 5
	var seen atomic.Int64
	var wg sync.WaitGroup
	for range subscribers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = s.Subscribe(ctx, 0, func(eventstore.Event) error { seen.Add(1); return nil })
		}()
	}
	if _, err := s.Append(ctx, "app.p", eventstore.AnyVersion, eventstore.Event{ID: "p1", Type: "t"}); err != nil {
		t.Fatal(err)
	}
	natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if n := seen.Load(); n < subscribers {
			return fmt.Errorf("%d of %d subscribers saw the event", n, subscribers)
		}
		return nil
	})
	cancel()
	wg.Wait()
}

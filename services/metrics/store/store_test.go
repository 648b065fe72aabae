package store_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/testenv"
	"github.com/strata-edge/strata/services/metrics/store"
	"github.com/strata-edge/strata/services/metrics/store/storetest"
)

func newSQLite(t testing.TB) store.Store {
	t.Helper()
	s, err := store.OpenSQLite(filepath.Join(t.TempDir(), "metrics.db"), store.Retention{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newPostgresSchema names a fresh schema of $STRATA_TEST_POSTGRES (skipped
// without it, failed in CI), dropped when the test ends.
func newPostgresSchema(t testing.TB) string {
	t.Helper()
	dsn := testenv.PostgresDSN(t)
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatalf("connect %s: %v", dsn, err)
	}
	t.Cleanup(pool.Close)
	b := make([]byte, 6)
	rand.Read(b)
	schema := "metrics_test_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		if _, err := pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

func newPostgres(t testing.TB) store.Store {
	t.Helper()
	schema := newPostgresSchema(t)
	s, err := store.OpenPostgresOptions(context.Background(), testenv.PostgresDSN(t), store.PostgresOptions{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSQLiteConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return newSQLite(t) })
}

func TestPostgresConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return newPostgres(t) })
}

// Several control replicas may open one new schema at once.
func TestPostgresOpenConcurrently(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	first := newPostgresSchema(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := store.OpenPostgresOptions(context.Background(), dsn, store.PostgresOptions{Schema: first})
			if err != nil {
				errs <- err
				return
			}
			s.Close()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestOpenOptionsAreValidated(t *testing.T) {
	for _, schema := range []string{"Metrics", "a-b", "1abc", "x; DROP TABLE y"} {
		_, err := store.OpenPostgresOptions(context.Background(), "postgres://127.0.0.1:1/x", store.PostgresOptions{Schema: schema})
		if v := apierr.Violations(err); len(v) != 1 || v[0].Field != "schema" {
			t.Errorf("schema %q: %v, want an invalid schema", schema, err)
		}
	}
	for _, r := range []store.Retention{{Second: time.Second}, {Second: 2 * time.Hour, Minute: time.Hour}, {Minute: 48 * time.Hour, Hour: 24 * time.Hour}} {
		if _, err := store.OpenSQLite(filepath.Join(t.TempDir(), "m.db"), r); apierr.Violations(err) == nil {
			t.Errorf("retention %+v: %v, want invalid", r, err)
		}
	}
	if _, err := store.OpenSQLite("x?mode=memory", store.Retention{}); apierr.Violations(err) == nil {
		t.Errorf("a path with ?: %v", err)
	}
	path := filepath.Join(t.TempDir(), "with space%20.db")
	s, err := store.OpenSQLite(path, store.Retention{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the database is not at %s: %v", path, err)
	}
}

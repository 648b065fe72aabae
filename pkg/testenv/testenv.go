// Package testenv gives tests the real services of the machine they run on.
// A test that needs one skips with a message on a developer machine without it,
// but fails in CI (CI=true), where a skip would hide an untested path.
package testenv

import (
	"os"
	"testing"
)

// PostgresEnv names the variable holding the test database URL, e.g.
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable (set by .ci/run).
const PostgresEnv = "STRATA_TEST_POSTGRES"

// PostgresDSN returns the test database URL, or skips (fails in CI) without one.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(PostgresEnv)
	if dsn == "" {
		Missing(t, PostgresEnv+" is not set (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)")
	}
	return dsn
}

// Missing skips the test with why, or fails it when running in CI.
func Missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI must run this test: %s", why)
	}
	t.Skip(why)
}

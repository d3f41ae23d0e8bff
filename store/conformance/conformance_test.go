package conformance_test

import (
	"testing"

	"latchkey/internal/testkit"
	"latchkey/store"
	"latchkey/store/conformance"
)

// TestSQLite runs the suite on a new SQLite file per subtest.
func TestSQLite(t *testing.T) {
	conformance.Run(t, func(t *testing.T) *store.Store {
		return testkit.OpenStore(t, testkit.SQLiteDSN(t), store.Options{Now: conformance.ClockFor(t).Now})
	})
	conformance.RunMigrations(t, testkit.SQLiteDSN)
}

// TestPostgres runs the suite on a new PostgreSQL schema per subtest; it
// skips without LATCHKEY_TEST_POSTGRES_DSN, except in CI where it fails.
func TestPostgres(t *testing.T) {
	conformance.Run(t, func(t *testing.T) *store.Store {
		return testkit.OpenStore(t, testkit.PostgresDSN(t), store.Options{Now: conformance.ClockFor(t).Now})
	})
	conformance.RunMigrations(t, testkit.PostgresDSN)
}

package testkit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"latchkey/store"
)

// PostgresEnv names the variable holding the DSN of a PostgreSQL server the
// tests may create schemas in.
const PostgresEnv = "LATCHKEY_TEST_POSTGRES_DSN"

// DefaultPostgresDSN is tried when PostgresEnv is unset: the local server a
// development machine usually runs.
const DefaultPostgresDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable&connect_timeout=2"

// Backend is a database engine to run a test against.
type Backend struct {
	Name string
	// DSN makes a fresh, empty database for one test and returns its DSN.
	DSN func(t testing.TB) string
}

// Backends lists SQLite and PostgreSQL; PostgreSQL only when PostgresEnv is
// set (CI sets it, so CI never skips).
func Backends() []Backend {
	return []Backend{{Name: "sqlite", DSN: SQLiteDSN}, {Name: "postgres", DSN: PostgresDSN}}
}

// SQLiteDSN is a new database file in the test's temporary directory.
func SQLiteDSN(t testing.TB) string {
	return "sqlite://" + filepath.Join(t.TempDir(), "latchkey.db")
}

// PostgresDSN creates a schema of its own for this test and returns a DSN
// whose search_path points at it; the schema is dropped after the test.
func PostgresDSN(t testing.TB) string {
	base, explicit := os.LookupEnv(PostgresEnv)
	if !explicit {
		base = DefaultPostgresDSN
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "lk_test_" + hex.EncodeToString(b[:])
	admin, err := gorm.Open(postgres.Open(base), &gorm.Config{Logger: logger.Discard})
	if err == nil {
		err = admin.Exec("CREATE SCHEMA " + schema).Error
	}
	if err != nil {
		if explicit || os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL at %s: %v", PostgresEnv, err)
		}
		t.Skipf("no PostgreSQL at %s (%v); set %s to run these tests", DefaultPostgresDSN, err, PostgresEnv)
	}
	t.Cleanup(func() {
		admin.Exec("DROP SCHEMA " + schema + " CASCADE")
		if db, err := admin.DB(); err == nil {
			db.Close()
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", PostgresEnv, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// OpenStore opens and migrates a store on dsn, closed after the test.
func OpenStore(t testing.TB, dsn string, opts store.Options) *store.Store {
	t.Helper()
	st, err := store.Open(dsn, opts)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return st
}

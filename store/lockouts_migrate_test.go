package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"latchkey/internal/testkit"
	"latchkey/store"
)

// rawDB opens dsn's database beside the store, to build the schema of an
// older release.
func rawDB(t *testing.T, dsn string) *gorm.DB {
	t.Helper()
	var d gorm.Dialector
	if strings.HasPrefix(dsn, "sqlite://") {
		d = sqlite.Open("file:" + store.SQLitePath(dsn) + "?_busy_timeout=10000")
	} else {
		d = postgres.Open(dsn)
	}
	db, err := gorm.Open(d, &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if s, err := db.DB(); err == nil {
			s.Close()
		}
	})
	return db
}

// TestMigrateOneAttemptsStore: step 11 on a database of step 10 (TOTP's own
// failure columns, lockout rows without expires_at) drops the columns,
// keeps the credential and fills expires_at so that a running lock is
// neither lost nor purged early, on both engines.
func TestMigrateOneAttemptsStore(t *testing.T) {
	for _, be := range testkit.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			ctx := context.Background()
			clock := testkit.NewClock()
			dsn := be.DSN(t)
			st := testkit.OpenStore(t, dsn, store.Options{Now: clock.Now})
			if err := st.PutPendingTOTP(ctx, "u1", []byte("s")); err != nil {
				t.Fatal(err)
			}
			if err := st.ConfirmTOTP(ctx, "u1", []byte("s"), 7); err != nil {
				t.Fatal(err)
			}
			// Back to step 10's schema and rows.
			db := rawDB(t, dsn)
			ts := "TIMESTAMP"
			if strings.HasPrefix(dsn, "sqlite://") {
				ts = "datetime"
			}
			now := clock.Now().UTC()
			for _, q := range []string{
				"ALTER TABLE totp_credentials ADD COLUMN failures integer NOT NULL DEFAULT 0",
				"ALTER TABLE totp_credentials ADD COLUMN failures_since " + ts,
				"ALTER TABLE totp_credentials ADD COLUMN locked_until " + ts,
				"DELETE FROM schema_migrations WHERE version >= 11",
			} {
				if err := db.Exec(q).Error; err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			lockEnd := now.Add(20 * time.Hour)
			if err := db.Exec("INSERT INTO attempt_locks (key, window_start, failures, locked_until) VALUES (?, ?, 0, ?), (?, ?, 2, NULL)",
				"account:locked", now, lockEnd, "account:counting", now).Error; err != nil {
				t.Fatal(err)
			}
			if err := db.Exec("UPDATE totp_credentials SET failures = 2, locked_until = ?", now).Error; err != nil {
				t.Fatal(err)
			}

			if err := st.Migrate(ctx); err != nil {
				t.Fatalf("migrate from step 10: %v", err)
			}
			for _, col := range []string{"failures", "failures_since", "locked_until"} {
				if db.Migrator().HasColumn("totp_credentials", col) {
					t.Errorf("totp_credentials.%s still there", col)
				}
			}
			if c, err := st.TOTPCredential(ctx, "u1"); err != nil || c.LastStep != 7 || c.ConfirmedAt == nil {
				t.Fatalf("credential after the migration: %+v, %v", c, err)
			}
			if ok, err := st.UseTOTPStep(ctx, "u1", 8); !ok || err != nil {
				t.Fatalf("UseTOTPStep after the migration: %v %v", ok, err)
			}
			var nulls int64
			if err := db.Table("attempt_locks").Where("expires_at IS NULL").Count(&nulls).Error; err != nil || nulls != 0 {
				t.Fatalf("%d rows without expires_at (%v)", nulls, err)
			}
			// The lock outlives the window cap: a purge before its end keeps it.
			clock.Advance(19 * time.Hour)
			if err := st.PurgeExpired(ctx); err != nil {
				t.Fatal(err)
			}
			if until, err := st.LockedUntil(ctx, "account:locked"); err != nil || !until.Equal(lockEnd) {
				t.Fatalf("lock after the migration and a purge: until %v, %v; want %v", until, err, lockEnd)
			}
			if n, _, err := st.Attempts(ctx, "account:counting", 24*time.Hour); err != nil || n != 2 {
				t.Fatalf("counter after the migration and a purge: %d, %v", n, err)
			}
			clock.Advance(6 * time.Hour)
			if err := st.PurgeExpired(ctx); err != nil {
				t.Fatal(err)
			}
			var left int64
			if err := db.Table("attempt_locks").Count(&left).Error; err != nil || left != 0 {
				t.Fatalf("%d old rows left after their time (%v)", left, err)
			}
			if v, _ := st.SchemaVersion(ctx); v != store.LatestSchemaVersion() {
				t.Fatalf("schema version %d", v)
			}
		})
	}
}

package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// migration is one schema step. Steps are append-only: a released step is
// never edited, a change is a new step.
type migration struct {
	Version int
	Name    string
	Up      func(tx *gorm.DB) error
}

// migrations lists every schema step in order.
var migrations = []migration{
	{1, "core tables", func(tx *gorm.DB) error {
		return tx.AutoMigrate(&User{}, &flowRow{}, &Session{}, &SigningKey{},
			&OAuthToken{}, &ConsentGrant{}, &AuditEvent{}, &Setting{}, &SessionClient{})
	}},
	{2, "totp and recovery codes", func(tx *gorm.DB) error {
		return tx.AutoMigrate(&TOTPCredential{}, &RecoveryCode{})
	}},
	// Keep the list sorted by version: LatestSchemaVersion reads the last step.
	{3, "passkeys", func(tx *gorm.DB) error {
		return tx.AutoMigrate(&PasskeyUser{}, &Passkey{})
	}},
	{4, "remembered browsers", func(tx *gorm.DB) error {
		return tx.AutoMigrate(&RememberedBrowser{})
	}},
	{5, "audit events name the browser", func(tx *gorm.DB) error {
		// Step 1 creates the table from today's struct, which has the column.
		if tx.Migrator().HasColumn(&AuditEvent{}, "UserAgent") {
			return nil
		}
		return tx.Migrator().AddColumn(&AuditEvent{}, "UserAgent")
	}},
	{6, "email tokens and rate counters", func(tx *gorm.DB) error {
		return tx.AutoMigrate(&EmailToken{}, &RateCounter{})
	}},
	{7, "refresh token rotation time", func(tx *gorm.DB) error {
		// Step 1 migrates the current model, so a new database has it.
		if tx.Migrator().HasColumn(&OAuthToken{}, "RotatedAt") {
			return nil
		}
		return tx.Migrator().AddColumn(&OAuthToken{}, "RotatedAt")
	}},
	{8, "factor recovery requests", func(tx *gorm.DB) error {
		return tx.AutoMigrate(&FactorRecovery{})
	}},
	{9, "session cookies rotate apart from the sid", func(tx *gorm.DB) error {
		if !tx.Migrator().HasColumn(&Session{}, "CookieHash") {
			if err := tx.Migrator().AddColumn(&Session{}, "CookieHash"); err != nil {
				return err
			}
		}
		if !tx.Migrator().HasIndex(&Session{}, "CookieHash") {
			if err := tx.Migrator().CreateIndex(&Session{}, "CookieHash"); err != nil {
				return err
			}
		}
		return tx.Exec("UPDATE sessions SET cookie_hash = id_hash WHERE cookie_hash = '' OR cookie_hash IS NULL").Error
	}},
	{10, "lockouts", func(tx *gorm.DB) error {
		return tx.AutoMigrate(&AttemptLock{})
	}},
	{11, "one attempts store: lockout rows expire, totp failure columns go", migrateOneAttemptsStore},
}

type schemaMigration struct {
	Version   int `gorm:"primaryKey;autoIncrement:false"`
	Name      string
	AppliedAt time.Time
}

func (schemaMigration) TableName() string { return "schema_migrations" }

// migrationLock is an arbitrary constant naming Latchkey's advisory lock.
const migrationLock = 0x6c61746368

// Migrate creates or upgrades the schema; it is safe to run from several
// replicas at once (PostgreSQL: an advisory lock; SQLite: one writer).
func (s *Store) Migrate(ctx context.Context) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if s.postgres {
			if err := tx.Exec("SELECT pg_advisory_xact_lock(?)", migrationLock).Error; err != nil {
				return fmt.Errorf("migrate: lock: %w", err)
			}
		}
		if err := tx.AutoMigrate(&schemaMigration{}); err != nil {
			return fmt.Errorf("migrate: schema_migrations: %w", err)
		}
		var applied []int
		if err := tx.Model(&schemaMigration{}).Pluck("version", &applied).Error; err != nil {
			return fmt.Errorf("migrate: read applied versions: %w", err)
		}
		done := map[int]bool{}
		for _, v := range applied {
			done[v] = true
		}
		for _, m := range migrations {
			if done[m.Version] {
				continue
			}
			if err := m.Up(tx); err != nil {
				return fmt.Errorf("migrate: step %d (%s): %w", m.Version, m.Name, err)
			}
			if err := tx.Create(&schemaMigration{Version: m.Version, Name: m.Name, AppliedAt: s.Now()}).Error; err != nil {
				return fmt.Errorf("migrate: record step %d: %w", m.Version, err)
			}
		}
		return nil
	})
}

// SchemaVersion returns the newest applied migration, 0 for an empty database.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	if !s.db.Migrator().HasTable(&schemaMigration{}) {
		return 0, nil
	}
	var v *int
	if err := s.db.WithContext(ctx).Model(&schemaMigration{}).Select("MAX(version)").Scan(&v).Error; err != nil {
		return 0, fmt.Errorf("schema version: %w", err)
	}
	if v == nil {
		return 0, nil
	}
	return *v, nil
}

// LatestSchemaVersion is the version Migrate brings a database to.
func LatestSchemaVersion() int { return migrations[len(migrations)-1].Version }

// migrateOneAttemptsStore is step 11. Wrong TOTP codes now count in
// attempt_locks with the account's other guessable factors, so TOTP's own
// counter columns go (a TOTP lock in flight at the upgrade is forgotten; the
// account counter starts from zero for it). attempt_locks gets expires_at
// for the purge; rows from before it get the latest time their window or
// lock can matter: config.Check caps lockout.window at 24h.
func migrateOneAttemptsStore(tx *gorm.DB) error {
	m := tx.Migrator()
	for _, col := range []string{"failures", "failures_since", "locked_until"} {
		if m.HasColumn(&TOTPCredential{}, col) {
			// Plain DROP COLUMN (SQLite 3.35+ and PostgreSQL): gorm's SQLite
			// migrator rebuilds the table from the struct and drops only
			// columns it can parse.
			if err := tx.Exec("ALTER TABLE totp_credentials DROP COLUMN " + col).Error; err != nil {
				return fmt.Errorf("drop totp_credentials.%s: %w", col, err)
			}
		}
	}
	if !m.HasColumn(&AttemptLock{}, "ExpiresAt") {
		if err := m.AddColumn(&AttemptLock{}, "ExpiresAt"); err != nil {
			return err
		}
	}
	if !m.HasIndex(&AttemptLock{}, "ExpiresAt") {
		if err := m.CreateIndex(&AttemptLock{}, "ExpiresAt"); err != nil {
			return err
		}
	}
	var old []AttemptLock
	if err := tx.Model(&AttemptLock{}).Select("key", "window_start", "locked_until").Where("expires_at IS NULL").Find(&old).Error; err != nil {
		return err
	}
	for _, l := range old {
		exp := l.WindowStart.Add(24 * time.Hour)
		if l.LockedUntil != nil && l.LockedUntil.After(exp) {
			exp = *l.LockedUntil
		}
		if err := tx.Model(&AttemptLock{}).Where("key = ?", l.Key).Update("expires_at", exp.UTC()).Error; err != nil {
			return err
		}
	}
	return nil
}

package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// DeleteUser removes a user and everything that belongs to them: sessions
// (and their client lists), tokens, consents, TOTP, recovery codes,
// passkeys, remembered browsers and pending email tokens, in one
// transaction, so the address can be used again at once. Audit events stay:
// they are the admin's record, including of this deletion. A table added
// later that holds a user_id must be added here too (the conformance test
// DeleteUser counts every user-keyed table).
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	return s.inTx(ctx, func(tx *gorm.DB) error {
		var u User
		if err := tx.Where("id = ?", id).Take(&u).Error; err != nil {
			return notFound(err)
		}
		sessions := tx.Model(&Session{}).Select("id_hash").Where("user_id = ?", id)
		steps := []struct {
			what string
			del  func() error
		}{
			{"session clients", func() error { return tx.Where("session_hash IN (?)", sessions).Delete(&SessionClient{}).Error }},
			{"sessions", func() error { return tx.Where("user_id = ?", id).Delete(&Session{}).Error }},
			{"tokens", func() error { return tx.Where("subject = ?", id).Delete(&OAuthToken{}).Error }},
			{"consents", func() error { return tx.Where("user_id = ?", id).Delete(&ConsentGrant{}).Error }},
			{"totp", func() error { return tx.Where("user_id = ?", id).Delete(&TOTPCredential{}).Error }},
			{"recovery codes", func() error { return tx.Where("user_id = ?", id).Delete(&RecoveryCode{}).Error }},
			{"passkeys", func() error { return tx.Where("user_id = ?", id).Delete(&Passkey{}).Error }},
			{"passkey handle", func() error { return tx.Where("user_id = ?", id).Delete(&PasskeyUser{}).Error }},
			{"remembered browsers", func() error { return tx.Where("user_id = ?", id).Delete(&RememberedBrowser{}).Error }},
			{"email tokens", func() error { return tx.Where("email = ?", u.Email).Delete(&EmailToken{}).Error }},
			{"user", func() error { return tx.Where("id = ?", id).Delete(&User{}).Error }},
		}
		for _, st := range steps {
			if err := st.del(); err != nil {
				return fmt.Errorf("delete user: %s: %w", st.what, err)
			}
		}
		return nil
	})
}

// EventFilter selects audit events; zero fields select everything.
type EventFilter struct {
	UserID string
	Since  time.Time
	Limit  int
}

// Events returns audit events matching f, newest first.
func (s *Store) Events(ctx context.Context, f EventFilter) ([]AuditEvent, error) {
	q := s.conn(ctx).Order("at DESC, id DESC")
	if f.UserID != "" {
		q = q.Where("user_id = ?", f.UserID)
	}
	if !f.Since.IsZero() {
		q = q.Where("at >= ?", f.Since.UTC())
	}
	if f.Limit > 0 {
		q = q.Limit(f.Limit)
	}
	var out []AuditEvent
	if err := q.Find(&out).Error; err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	return out, nil
}

// Tables lists the schema's tables (for checks that must cover all).
func (s *Store) Tables(ctx context.Context) ([]string, error) {
	return s.db.WithContext(ctx).Migrator().GetTables()
}

// HasColumn reports whether table has column.
func (s *Store) HasColumn(table, column string) bool {
	return s.db.Migrator().HasColumn(table, column)
}

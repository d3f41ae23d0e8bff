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
// they are the admin's record, including of this deletion. Tables are
// found by their user_id column, so one added later is covered too.
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
			{"tokens", func() error { return tx.Where("subject = ?", id).Delete(&OAuthToken{}).Error }},
			{"email tokens", func() error { return tx.Where("email = ?", u.Email).Delete(&EmailToken{}).Error }},
		}
		// Every table with a user_id column, so a table added later is
		// covered without a change here; audit events stay.
		tables, err := tx.Migrator().GetTables()
		if err != nil {
			return fmt.Errorf("delete user: list tables: %w", err)
		}
		for _, table := range tables {
			if table == "audit_events" || table == "users" || !tx.Migrator().HasColumn(table, "user_id") {
				continue
			}
			table := table
			steps = append(steps, struct {
				what string
				del  func() error
			}{table, func() error { return tx.Exec("DELETE FROM "+table+" WHERE user_id = ?", id).Error }})
		}
		steps = append(steps, struct {
			what string
			del  func() error
		}{"user", func() error { return tx.Where("id = ?", id).Delete(&User{}).Error }})
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

package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm/clause"
)

// CreateFlow stores a new flow document.
func (s *Store) CreateFlow(ctx context.Context, id string, data []byte, expiresAt time.Time) error {
	now := s.Now()
	row := flowRow{ID: id, Data: data, ExpiresAt: expiresAt.UTC(), CreatedAt: now, UpdatedAt: now}
	if err := s.conn(ctx).Create(&row).Error; err != nil {
		return fmt.Errorf("create flow: %w", err)
	}
	return nil
}

// GetFlow returns a live flow: not expired, not consumed.
func (s *Store) GetFlow(ctx context.Context, id string) ([]byte, error) {
	var row flowRow
	err := s.conn(ctx).Where("id = ? AND consumed_at IS NULL AND expires_at > ?", id, s.Now()).Take(&row).Error
	if err != nil {
		return nil, notFound(err)
	}
	return row.Data, nil
}

// UpdateFlow reads a live flow, lets fn change it, and writes it back, all in
// one transaction holding the row, so concurrent steps of one flow serialize.
// fn receives the transaction's context: store calls made with it join the
// update and commit or roll back with it (a call made with any other
// context would wait for the row's lock: on SQLite, for the whole
// busy_timeout). fn's error aborts the update and is returned as is.
func (s *Store) UpdateFlow(ctx context.Context, id string, fn func(ctx context.Context, data []byte) ([]byte, error)) error {
	return s.Transaction(ctx, func(ctx context.Context) error {
		tx := s.conn(ctx)
		q := tx.Where("id = ? AND consumed_at IS NULL AND expires_at > ?", id, s.Now())
		if s.postgres {
			q = q.Clauses(clause.Locking{Strength: "UPDATE"})
		}
		var row flowRow
		if err := q.Take(&row).Error; err != nil {
			return notFound(err)
		}
		data, err := fn(ctx, row.Data)
		if err != nil {
			return err
		}
		res := s.conn(ctx).Model(&flowRow{}).Where("id = ? AND consumed_at IS NULL", id).
			Updates(map[string]any{"data": data, "updated_at": s.Now()})
		if res.Error != nil {
			return fmt.Errorf("update flow: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// ConsumeFlow marks a live flow used; only the first caller succeeds, the
// others get ErrNotFound.
func (s *Store) ConsumeFlow(ctx context.Context, id string) error {
	now := s.Now()
	res := s.conn(ctx).Model(&flowRow{}).
		Where("id = ? AND consumed_at IS NULL AND expires_at > ?", id, now).
		Update("consumed_at", now)
	if res.Error != nil {
		return fmt.Errorf("consume flow: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// PurgeExpired deletes flows, sessions and tokens past their expiry, and
// lockout counters whose window and lock are both over.
func (s *Store) PurgeExpired(ctx context.Context) error {
	now := s.Now()
	var errs []error
	for _, m := range []any{&flowRow{}, &Session{}, &OAuthToken{}, &RememberedBrowser{}, &EmailToken{}, &AttemptLock{}} {
		if err := s.conn(ctx).Where("expires_at < ?", now).Delete(m).Error; err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("purge expired: %w", err)
	}
	return nil
}

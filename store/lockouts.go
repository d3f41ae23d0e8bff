package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// AttemptLock counts wrong answers to guessable factors for one key (an
// account, or a client IP) and the lock they lead to. One row per key,
// changed only by conditional updates, so every replica shares it and a
// restart forgets nothing.
type AttemptLock struct {
	Key         string    `gorm:"primaryKey;size:200"`
	WindowStart time.Time `gorm:"not null"`
	Failures    int       `gorm:"not null"`
	LockedUntil *time.Time
	// ExpiresAt is when neither the window nor the lock can matter any
	// more: PurgeExpired deletes the row then. Every failure moves it to
	// the end of its window (or of the lock it starts).
	ExpiresAt time.Time `gorm:"index"`
}

// LockedUntil returns when key's lock ends, or the zero time when it is not
// locked.
func (s *Store) LockedUntil(ctx context.Context, key string) (time.Time, error) {
	var l AttemptLock
	err := s.conn(ctx).Where("key = ? AND locked_until > ?", key, s.Now()).Take(&l).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("lockout %s: %w", key, err)
	}
	return *l.LockedUntil, nil
}

// Attempts reads key's counter: the failures within window (0 once the
// window is over) and when its lock ends (the zero time when not locked).
// The lockout's IP throttle slows a client by the first and refuses it by
// the second.
func (s *Store) Attempts(ctx context.Context, key string, window time.Duration) (failures int, lockedUntil time.Time, err error) {
	var l AttemptLock
	err = s.conn(ctx).Where("key = ?", key).Take(&l).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return 0, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("lockout %s: %w", key, err)
	}
	now := s.Now()
	if l.LockedUntil != nil && l.LockedUntil.After(now) {
		lockedUntil = *l.LockedUntil
	}
	// The same boundary as RecordFailure: a window that started at or
	// before the cutoff is over.
	if l.WindowStart.After(now.Add(-window)) {
		failures = l.Failures
	}
	return failures, lockedUntil, nil
}

// RecordFailure counts one wrong answer for key. Failures older than window
// are forgotten; the limit-th within it locks key for duration. locked is
// true for exactly one caller per lock (the one whose failure locked it),
// so the owner is told once.
func (s *Store) RecordFailure(ctx context.Context, key string, limit int, window, duration time.Duration) (locked bool, err error) {
	now := s.Now()
	cutoff := now.Add(-window)
	err = s.inTx(ctx, func(tx *gorm.DB) error {
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).
			Create(&AttemptLock{Key: key, WindowStart: now, ExpiresAt: now.Add(window)}).Error; err != nil {
			return err
		}
		if err := tx.Model(&AttemptLock{}).Where("key = ?", key).Updates(map[string]any{
			"failures":     gorm.Expr("CASE WHEN window_start <= ? THEN 1 ELSE failures + 1 END", cutoff),
			"window_start": gorm.Expr("CASE WHEN window_start <= ? THEN ? ELSE window_start END", cutoff, now),
			// The window ends at window_start+window <= now+window; a lock
			// may run past that, so expires_at never moves earlier.
			"expires_at": gorm.Expr("CASE WHEN expires_at > ? THEN expires_at ELSE ? END", now.Add(window), now.Add(window)),
		}).Error; err != nil {
			return err
		}
		res := tx.Model(&AttemptLock{}).
			Where("key = ? AND failures >= ? AND (locked_until IS NULL OR locked_until <= ?)", key, limit, now).
			Updates(map[string]any{"locked_until": now.Add(duration), "failures": 0, "window_start": now,
				"expires_at": now.Add(max(duration, window))})
		if res.Error != nil {
			return res.Error
		}
		locked = res.RowsAffected == 1
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("lockout %s: %w", key, err)
	}
	return locked, nil
}

// ClearFailures forgets key's failures unless it is locked: a completed
// sign-in of the account's owner (a lock runs its course; a passkey or magic
// link sign-in during it does not lift it).
func (s *Store) ClearFailures(ctx context.Context, key string) error {
	if err := s.conn(ctx).Where("key = ? AND (locked_until IS NULL OR locked_until <= ?)", key, s.Now()).
		Delete(&AttemptLock{}).Error; err != nil {
		return fmt.Errorf("clear failures %s: %w", key, err)
	}
	return nil
}

// ClearLockout forgets key's failures and lifts its lock (latchkey user
// unlock).
func (s *Store) ClearLockout(ctx context.Context, key string) error {
	if err := s.conn(ctx).Where("key = ?", key).Delete(&AttemptLock{}).Error; err != nil {
		return fmt.Errorf("clear lockout %s: %w", key, err)
	}
	return nil
}

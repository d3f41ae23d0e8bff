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
	err = s.inTx(ctx, func(tx *gorm.DB) error {
		if err := createAttemptLock(tx, key, now, window); err != nil {
			return err
		}
		if err := tx.Model(&AttemptLock{}).Where("key = ?", key).Updates(countOne(now, window)).Error; err != nil {
			return err
		}
		locked, err = lockSpent(tx, key, limit, now, window, duration)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("lockout %s: %w", key, err)
	}
	return locked, nil
}

// ReserveAttempt counts one attempt on key before its answer is checked.
// reserved is false, and the answer must be refused unchecked, when key is
// locked or limit attempts within window are counted already. Counting
// before checking is what bounds parallel guesses: requests that arrive
// together each take a slot in one conditional update, so no more than
// limit of them have their answer checked (read-then-count let all of
// them through). A wrong answer keeps its slot and may lock the key
// (LockIfSpent); a right one, or one never judged, gives it back
// (RefundAttempt).
func (s *Store) ReserveAttempt(ctx context.Context, key string, limit int, window time.Duration) (reserved bool, err error) {
	now := s.Now()
	err = s.inTx(ctx, func(tx *gorm.DB) error {
		if err := createAttemptLock(tx, key, now, window); err != nil {
			return err
		}
		res := tx.Model(&AttemptLock{}).
			Where("key = ? AND (locked_until IS NULL OR locked_until <= ?) AND (window_start <= ? OR failures < ?)",
				key, now, now.Add(-window), limit).
			Updates(countOne(now, window))
		reserved = res.RowsAffected == 1
		return res.Error
	})
	if err != nil {
		return false, fmt.Errorf("lockout %s: %w", key, err)
	}
	return reserved, nil
}

// LockIfSpent locks key for duration when its reserved attempts reached
// limit within window: the wrong answer that used the last slot. locked is
// true for exactly one caller per lock, so the owner is told once.
func (s *Store) LockIfSpent(ctx context.Context, key string, limit int, window, duration time.Duration) (locked bool, err error) {
	locked, err = lockSpent(s.conn(ctx), key, limit, s.Now(), window, duration)
	if err != nil {
		return false, fmt.Errorf("lockout %s: %w", key, err)
	}
	return locked, nil
}

// RefundAttempt gives back a slot ReserveAttempt took, for an answer that
// was right or never judged (a database error, a busy hash). A lock that
// started meanwhile keeps its count.
func (s *Store) RefundAttempt(ctx context.Context, key string) error {
	err := s.conn(ctx).Model(&AttemptLock{}).
		Where("key = ? AND failures > 0 AND (locked_until IS NULL OR locked_until <= ?)", key, s.Now()).
		Update("failures", gorm.Expr("failures - 1")).Error
	if err != nil {
		return fmt.Errorf("lockout %s: refund: %w", key, err)
	}
	return nil
}

func createAttemptLock(tx *gorm.DB, key string, now time.Time, window time.Duration) error {
	return tx.Clauses(clause.OnConflict{DoNothing: true}).
		Create(&AttemptLock{Key: key, WindowStart: now, ExpiresAt: now.Add(window)}).Error
}

// countOne is the update that counts one more within the window, or starts
// a new window at one when the old one is over.
func countOne(now time.Time, window time.Duration) map[string]any {
	cutoff := now.Add(-window)
	return map[string]any{
		"failures":     gorm.Expr("CASE WHEN window_start <= ? THEN 1 ELSE failures + 1 END", cutoff),
		"window_start": gorm.Expr("CASE WHEN window_start <= ? THEN ? ELSE window_start END", cutoff, now),
		// The window ends at window_start+window <= now+window; a lock
		// may run past that, so expires_at never moves earlier.
		"expires_at": gorm.Expr("CASE WHEN expires_at > ? THEN expires_at ELSE ? END", now.Add(window), now.Add(window)),
	}
}

// lockSpent locks key when limit are counted within window and it is not
// locked yet; it reports whether this call locked it.
func lockSpent(db *gorm.DB, key string, limit int, now time.Time, window, duration time.Duration) (bool, error) {
	res := db.Model(&AttemptLock{}).
		Where("key = ? AND failures >= ? AND window_start > ? AND (locked_until IS NULL OR locked_until <= ?)",
			key, limit, now.Add(-window), now).
		Updates(map[string]any{"locked_until": now.Add(duration), "failures": 0, "window_start": now,
			"expires_at": now.Add(max(duration, window))})
	return res.RowsAffected == 1, res.Error
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

package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// SigningKeys returns the keys still published (not past RetireAfter), the
// active one (never retired) first, then newest first. The active key is
// told by its missing RetireAfter, not its timestamp, so two keys made in
// the same instant cannot swap roles.
func (s *Store) SigningKeys(ctx context.Context) ([]SigningKey, error) {
	var ks []SigningKey
	err := s.conn(ctx).Where("retire_after IS NULL OR retire_after > ?", s.Now()).
		Order("CASE WHEN retire_after IS NULL THEN 0 ELSE 1 END, created_at DESC, id DESC").Find(&ks).Error
	if err != nil {
		return nil, fmt.Errorf("load signing keys: %w", err)
	}
	return ks, nil
}

// AddSigningKey makes k the newest key and schedules every older live key to
// retire after grace (the longest lifetime of a token those keys signed).
func (s *Store) AddSigningKey(ctx context.Context, k *SigningKey, grace time.Duration) error {
	return s.inTx(ctx, func(tx *gorm.DB) error {
		retire := s.Now().Add(grace)
		if err := tx.Model(&SigningKey{}).Where("retire_after IS NULL").Update("retire_after", retire).Error; err != nil {
			return fmt.Errorf("retire old signing keys: %w", err)
		}
		if k.CreatedAt.IsZero() {
			k.CreatedAt = s.Now()
		}
		k.CreatedAt = k.CreatedAt.UTC() // SQLite orders times as text
		if err := tx.Create(k).Error; err != nil {
			return fmt.Errorf("add signing key: %w", err)
		}
		return nil
	})
}

// SwitchSigningKey makes k the active key unless the active key already has
// k's algorithm: with no live key it stores k, and after a change of
// signing.alg it retires the old active key after grace (so both stay
// published during the switch). Checked under a lock, so replicas starting
// together with the same config add one key. It reports whether k was
// stored.
func (s *Store) SwitchSigningKey(ctx context.Context, k *SigningKey, grace time.Duration) (bool, error) {
	created := false
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		if s.postgres {
			if err := tx.Exec("SELECT pg_advisory_xact_lock(?)", migrationLock+1).Error; err != nil {
				return err
			}
		}
		var n int64
		if err := tx.Model(&SigningKey{}).Where("retire_after IS NULL AND algorithm = ?", k.Algorithm).Count(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		retire := s.Now().Add(grace)
		if err := tx.Model(&SigningKey{}).Where("retire_after IS NULL").Update("retire_after", retire).Error; err != nil {
			return err
		}
		k.CreatedAt = s.Now()
		created = true
		return tx.Create(k).Error
	})
	if err != nil {
		return false, fmt.Errorf("switch signing key: %w", err)
	}
	return created, nil
}

package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// TOTPCredential is a user's authenticator-app secret. The secret is sealed
// with the configured secrets (seal.Keyring, bound to the user ID); the row
// is pending until the user proves the app works (ConfirmedAt set), and only
// then does it count as a second factor.
type TOTPCredential struct {
	UserID string `gorm:"primaryKey;size:64"`
	Secret []byte `gorm:"not null"`
	// ConfirmedAt is nil while the enrollment is pending.
	ConfirmedAt *time.Time
	// LastStep is the newest RFC 6238 time step accepted: a code of that
	// step or an older one is refused, so a code works once.
	LastStep   int64 `gorm:"not null;default:0"`
	LastUsedAt *time.Time
	// Wrong codes count in the lockout's attempts store (AttemptLock),
	// with the account's other guessable factors.
	CreatedAt time.Time
	UpdatedAt time.Time
}

func (TOTPCredential) TableName() string { return "totp_credentials" }

// RecoveryCode is one single-use recovery code, stored only as a hash.
type RecoveryCode struct {
	ID        uint64 `gorm:"primaryKey;autoIncrement"`
	UserID    string `gorm:"size:64;not null;uniqueIndex:idx_recovery_user_hash,priority:1"`
	CodeHash  string `gorm:"size:64;not null;uniqueIndex:idx_recovery_user_hash,priority:2"`
	UsedAt    *time.Time
	CreatedAt time.Time
}

func (RecoveryCode) TableName() string { return "recovery_codes" }

// TOTPCredential returns a user's credential, pending or confirmed.
func (s *Store) TOTPCredential(ctx context.Context, userID string) (*TOTPCredential, error) {
	var c TOTPCredential
	if err := s.conn(ctx).Where("user_id = ?", userID).Take(&c).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("load totp credential: %w", err)
	}
	return &c, nil
}

// PutPendingTOTP stores a new pending secret for a user, replacing a pending
// one; a confirmed credential is never replaced (ErrConflict): turning 2FA
// off comes first.
func (s *Store) PutPendingTOTP(ctx context.Context, userID string, sealed []byte) error {
	now := s.Now()
	row := TOTPCredential{UserID: userID, Secret: sealed, CreatedAt: now, UpdatedAt: now}
	res := s.conn(ctx).Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "user_id"}},
		DoUpdates: clause.Assignments(map[string]any{
			"secret": sealed, "created_at": now, "updated_at": now, "last_step": 0, "last_used_at": nil,
		}),
		Where: clause.Where{Exprs: []clause.Expression{clause.Expr{SQL: "totp_credentials.confirmed_at IS NULL"}}},
	}).Create(&row)
	if res.Error != nil {
		return fmt.Errorf("store pending totp secret: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrConflict
	}
	return nil
}

// ConfirmTOTP turns a pending credential on, provided it still holds sealed
// (the secret the code was checked against), and records step as used. It
// returns ErrNotFound when there is no such pending credential.
func (s *Store) ConfirmTOTP(ctx context.Context, userID string, sealed []byte, step int64) error {
	now := s.Now()
	res := s.conn(ctx).Model(&TOTPCredential{}).
		Where("user_id = ? AND confirmed_at IS NULL AND secret = ?", userID, sealed).
		Updates(map[string]any{"confirmed_at": now, "last_step": step, "updated_at": now})
	if res.Error != nil {
		return fmt.Errorf("confirm totp: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// UseTOTPStep records that a code of time step was accepted. It is one
// conditional update: it succeeds only for a confirmed credential whose
// last used step is older, so of concurrent callers with the same code (on
// any replica) exactly one wins. (The lockout is the caller's: it asks the
// attempts store before it checks a code.)
func (s *Store) UseTOTPStep(ctx context.Context, userID string, step int64) (bool, error) {
	now := s.Now()
	res := s.conn(ctx).Model(&TOTPCredential{}).
		Where("user_id = ? AND confirmed_at IS NOT NULL AND last_step < ?", userID, step).
		Updates(map[string]any{"last_step": step, "last_used_at": now, "updated_at": now})
	if res.Error != nil {
		return false, fmt.Errorf("use totp step: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// DeleteTOTP removes a user's TOTP credential and recovery codes together
// (turning 2FA off, or an admin's reset-factors); it reports whether a
// credential existed.
func (s *Store) DeleteTOTP(ctx context.Context, userID string) (bool, error) {
	existed := false
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		if err := tx.Where("user_id = ?", userID).Delete(&RecoveryCode{}).Error; err != nil {
			return err
		}
		res := tx.Where("user_id = ?", userID).Delete(&TOTPCredential{})
		existed = res.RowsAffected > 0
		return res.Error
	})
	if err != nil {
		return false, fmt.Errorf("delete totp: %w", err)
	}
	return existed, nil
}

// ReplaceRecoveryCodes stores a new set of code hashes for a user and
// deletes the old set in the same transaction, so the old codes stop
// working the moment the new ones exist.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, userID string, hashes []string) error {
	now := s.Now()
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		if err := tx.Where("user_id = ?", userID).Delete(&RecoveryCode{}).Error; err != nil {
			return err
		}
		rows := make([]RecoveryCode, len(hashes))
		for i, h := range hashes {
			rows[i] = RecoveryCode{UserID: userID, CodeHash: h, CreatedAt: now}
		}
		if len(rows) == 0 {
			return nil
		}
		return tx.Create(&rows).Error
	})
	if err != nil {
		return fmt.Errorf("replace recovery codes: %w", err)
	}
	return nil
}

// UseRecoveryCode consumes the unused code with that hash in one
// conditional update; it reports whether this call consumed it.
func (s *Store) UseRecoveryCode(ctx context.Context, userID, hash string) (bool, error) {
	res := s.conn(ctx).Model(&RecoveryCode{}).
		Where("user_id = ? AND code_hash = ? AND used_at IS NULL", userID, hash).
		Update("used_at", s.Now())
	if res.Error != nil {
		return false, fmt.Errorf("use recovery code: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// RecoveryCodeStats tells how many unused codes a user has and when a code
// was last used (nil if never).
func (s *Store) RecoveryCodeStats(ctx context.Context, userID string) (int, *time.Time, error) {
	var n int64
	if err := s.conn(ctx).Model(&RecoveryCode{}).Where("user_id = ? AND used_at IS NULL", userID).Count(&n).Error; err != nil {
		return 0, nil, fmt.Errorf("count recovery codes: %w", err)
	}
	var last RecoveryCode
	err := s.conn(ctx).Where("user_id = ? AND used_at IS NOT NULL", userID).Order("used_at DESC").Take(&last).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return int(n), nil, nil
	}
	if err != nil {
		return 0, nil, fmt.Errorf("last recovery code use: %w", err)
	}
	return int(n), last.UsedAt, nil
}

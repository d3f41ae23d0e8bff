package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// EmailToken is one mailed proof of an address (a sign-in link and code,
// a sign-up confirmation, a password reset): the link's token and the code
// are stored only as hashes (MACs). It is bound to the flow of the browser
// that asked, lives until ExpiresAt, and is used once.
type EmailToken struct {
	ID      string `gorm:"primaryKey;size:64"`
	Purpose string `gorm:"size:16;not null;index:idx_email_tokens_purpose_email,priority:1"`
	// Email is normalized; a token is stored whether or not an account has
	// it, so the work (and timing) of a request does not depend on that.
	Email     string `gorm:"size:320;not null;index:idx_email_tokens_purpose_email,priority:2"`
	FlowID    string `gorm:"size:64;not null;index"`
	TokenHash string `gorm:"size:64;not null;uniqueIndex"`
	CodeHash  string `gorm:"size:64;not null"`
	// Data is the purpose's payload (e.g. the name given at sign-up).
	Data      []byte    `gorm:"not null"`
	Attempts  int       `gorm:"not null;default:0"`
	ExpiresAt time.Time `gorm:"not null;index"`
	UsedAt    *time.Time
	CreatedAt time.Time
}

// IssueEmailToken stores t and voids every older unused token of the same
// purpose and address: only the newest mail works.
func (s *Store) IssueEmailToken(ctx context.Context, t *EmailToken) error {
	t.Email = NormalizeEmail(t.Email)
	if t.Data == nil {
		t.Data = []byte{}
	}
	return s.inTx(ctx, func(tx *gorm.DB) error {
		now := s.Now()
		if err := tx.Model(&EmailToken{}).Where("purpose = ? AND email = ? AND used_at IS NULL", t.Purpose, t.Email).
			Update("used_at", now).Error; err != nil {
			return fmt.Errorf("void older email tokens: %w", err)
		}
		if err := tx.Create(t).Error; err != nil {
			return fmt.Errorf("issue email token: %w", err)
		}
		return nil
	})
}

// EmailTokenByLink returns the live (unused, unexpired) token of a link,
// without using it: the confirmation page tells apart "open it in the
// browser that asked" from "this link is no longer valid".
func (s *Store) EmailTokenByLink(ctx context.Context, purpose, tokenHash string) (*EmailToken, error) {
	var t EmailToken
	err := s.conn(ctx).Where("purpose = ? AND token_hash = ? AND used_at IS NULL AND expires_at > ?", purpose, tokenHash, s.Now()).
		Take(&t).Error
	if err != nil {
		return nil, notFound(err)
	}
	return &t, nil
}

// UseEmailTokenByLink uses a live token of a link if it belongs to flowID,
// in one conditional update: of concurrent callers one wins, the others
// (and a wrong flow, a used or an expired token) get ErrNotFound.
func (s *Store) UseEmailTokenByLink(ctx context.Context, purpose, tokenHash, flowID string) (*EmailToken, error) {
	return s.useEmailToken(ctx, "purpose = ? AND token_hash = ? AND flow_id = ?", purpose, tokenHash, flowID)
}

// UseEmailTokenByCode uses the live token of flowID whose code hash
// matches, if fewer than maxAttempts wrong codes were tried on it; a wrong
// code counts an attempt. Returns ErrNotFound when nothing was used.
func (s *Store) UseEmailTokenByCode(ctx context.Context, purpose, flowID, codeHash string, maxAttempts int) (*EmailToken, error) {
	t, err := s.useEmailToken(ctx, "purpose = ? AND flow_id = ? AND code_hash = ? AND attempts < ?", purpose, flowID, codeHash, maxAttempts)
	if err != ErrNotFound {
		return t, err
	}
	if err := s.conn(ctx).Model(&EmailToken{}).
		Where("purpose = ? AND flow_id = ? AND used_at IS NULL AND expires_at > ?", purpose, flowID, s.Now()).
		Update("attempts", gorm.Expr("attempts + 1")).Error; err != nil {
		return nil, fmt.Errorf("count email code attempt: %w", err)
	}
	return nil, ErrNotFound
}

func (s *Store) useEmailToken(ctx context.Context, where string, args ...any) (*EmailToken, error) {
	now := s.Now()
	var out *EmailToken
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		var rows []EmailToken
		res := tx.Model(&rows).Clauses(clause.Returning{}).
			Where(where, args...).Where("used_at IS NULL AND expires_at > ?", now).
			Update("used_at", now)
		if res.Error != nil {
			return fmt.Errorf("use email token: %w", res.Error)
		}
		if res.RowsAffected != 1 || len(rows) != 1 {
			return ErrNotFound
		}
		out = &rows[0]
		return nil
	})
	return out, err
}

// PurgeEmailTokens deletes tokens expired before cutoff.
func (s *Store) PurgeEmailTokens(ctx context.Context, cutoff time.Time) error {
	return s.conn(ctx).Where("expires_at < ?", cutoff).Delete(&EmailToken{}).Error
}

// RateCounter counts events per key in a fixed window (requests for mails
// per address and per client IP), held in the database so every replica
// shares it.
type RateCounter struct {
	Bucket      string    `gorm:"primaryKey;size:200"`
	WindowStart time.Time `gorm:"not null"`
	Hits        int       `gorm:"not null"`
}

// Hit counts one event for key and reports whether it is within limit per
// window. It is one conditional update after an insert-if-absent, so
// concurrent requests on any replica cannot overshoot the limit.
func (s *Store) Hit(ctx context.Context, key string, limit int, window time.Duration) (bool, error) {
	now := s.Now()
	cutoff := now.Add(-window)
	db := s.conn(ctx)
	if err := db.Clauses(clause.OnConflict{DoNothing: true}).
		Create(&RateCounter{Bucket: key, WindowStart: now, Hits: 0}).Error; err != nil {
		return false, fmt.Errorf("rate %s: %w", key, err)
	}
	res := db.Model(&RateCounter{}).
		Where("bucket = ? AND (window_start <= ? OR hits < ?)", key, cutoff, limit).
		Updates(map[string]any{
			"hits":         gorm.Expr("CASE WHEN window_start <= ? THEN 1 ELSE hits + 1 END", cutoff),
			"window_start": gorm.Expr("CASE WHEN window_start <= ? THEN ? ELSE window_start END", cutoff, now),
		})
	if res.Error != nil {
		return false, fmt.Errorf("rate %s: %w", key, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// FactorRecovery is a request, made after proving the address, to remove
// every second factor of an account whose owner lost them all. It waits
// until DueAt (recovery.delay) so the owner, mailed at once, can cancel it;
// then one replica's job claims and carries it out.
type FactorRecovery struct {
	ID          string    `gorm:"primaryKey;size:64"`
	UserID      string    `gorm:"size:64;not null;index"`
	IP          string    `gorm:"size:64;not null;default:''"`
	RequestedAt time.Time `gorm:"not null"`
	DueAt       time.Time `gorm:"not null;index"`
	CancelledAt *time.Time
	DoneAt      *time.Time
}

// RequestFactorRecovery stores r unless the user already has one pending,
// in which case that one is returned (its clock keeps running).
func (s *Store) RequestFactorRecovery(ctx context.Context, r *FactorRecovery) (*FactorRecovery, bool, error) {
	var out *FactorRecovery
	created := false
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		var cur FactorRecovery
		q := tx.Where("user_id = ? AND cancelled_at IS NULL AND done_at IS NULL", r.UserID)
		if s.postgres {
			q = q.Clauses(clause.Locking{Strength: "UPDATE"})
		}
		err := q.Take(&cur).Error
		if err == nil {
			out = &cur
			return nil
		}
		if err != gorm.ErrRecordNotFound {
			return fmt.Errorf("factor recovery: %w", err)
		}
		if err := tx.Create(r).Error; err != nil {
			return fmt.Errorf("factor recovery: %w", err)
		}
		out, created = r, true
		return nil
	})
	return out, created, err
}

// PendingFactorRecovery returns the user's pending request, ErrNotFound if none.
func (s *Store) PendingFactorRecovery(ctx context.Context, userID string) (*FactorRecovery, error) {
	var r FactorRecovery
	err := s.conn(ctx).Where("user_id = ? AND cancelled_at IS NULL AND done_at IS NULL", userID).Take(&r).Error
	return &r, notFound(err)
}

// CancelFactorRecovery cancels the user's pending request; false when there
// was none (or the job took it first).
func (s *Store) CancelFactorRecovery(ctx context.Context, userID string) (bool, error) {
	res := s.conn(ctx).Model(&FactorRecovery{}).
		Where("user_id = ? AND cancelled_at IS NULL AND done_at IS NULL", userID).
		Update("cancelled_at", s.Now())
	if res.Error != nil {
		return false, fmt.Errorf("cancel factor recovery: %w", res.Error)
	}
	return res.RowsAffected > 0, nil
}

// DueFactorRecoveries lists requests whose delay has passed, oldest first,
// at most limit.
func (s *Store) DueFactorRecoveries(ctx context.Context, limit int) ([]FactorRecovery, error) {
	var rs []FactorRecovery
	err := s.conn(ctx).Where("cancelled_at IS NULL AND done_at IS NULL AND due_at <= ?", s.Now()).
		Order("due_at").Limit(limit).Find(&rs).Error
	return rs, err
}

// ClaimFactorRecovery marks a due request done, in one conditional update:
// of replicas racing for it exactly one gets true. Called inside the
// transaction that removes the factors, so a failure un-claims it.
func (s *Store) ClaimFactorRecovery(ctx context.Context, id string) (bool, error) {
	now := s.Now()
	res := s.conn(ctx).Model(&FactorRecovery{}).
		Where("id = ? AND cancelled_at IS NULL AND done_at IS NULL AND due_at <= ?", id, now).
		Update("done_at", now)
	if res.Error != nil {
		return false, fmt.Errorf("claim factor recovery: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

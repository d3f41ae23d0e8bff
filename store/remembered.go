package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm/clause"
)

// RememberedBrowser is a browser a user asked to remember after a second
// factor: for a while it stands in for that factor at the mfa level. The
// browser holds a random token in a cookie; only its SHA-256 is stored. One
// browser may be remembered for several users (one row each).
type RememberedBrowser struct {
	// ID names the row on /account, where it can be revoked; it is not the
	// token and proves nothing.
	ID         string    `gorm:"primaryKey;size:64"`
	TokenHash  string    `gorm:"size:64;not null;uniqueIndex:idx_remembered_token_user,priority:1"`
	UserID     string    `gorm:"size:64;not null;uniqueIndex:idx_remembered_token_user,priority:2;index"`
	UserAgent  string    `gorm:"size:300;not null;default:''"`
	IP         string    `gorm:"size:64;not null;default:''"`
	ExpiresAt  time.Time `gorm:"not null;index"`
	RevokedAt  *time.Time
	LastUsedAt time.Time `gorm:"not null"`
	CreatedAt  time.Time
}

// RememberBrowser records b (ID, TokenHash, UserID, ExpiresAt and the
// description set by the caller). Remembering the same token for the same
// user again renews the row: new expiry, no longer revoked.
func (s *Store) RememberBrowser(ctx context.Context, b *RememberedBrowser) error {
	now := s.Now()
	b.CreatedAt, b.LastUsedAt, b.RevokedAt = now, now, nil
	b.ExpiresAt = b.ExpiresAt.UTC()
	err := s.conn(ctx).Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "token_hash"}, {Name: "user_id"}},
		DoUpdates: clause.Assignments(map[string]any{"expires_at": b.ExpiresAt, "revoked_at": nil,
			"created_at": now, "last_used_at": now, "user_agent": b.UserAgent, "ip": b.IP}),
	}).Create(b).Error
	if err != nil {
		return fmt.Errorf("remember browser: %w", err)
	}
	return nil
}

// UseRememberedBrowser tells whether the browser holding the token whose
// hash is tokenHash is remembered for userID (live: not revoked, not
// expired), and marks it used.
func (s *Store) UseRememberedBrowser(ctx context.Context, tokenHash, userID string) (bool, error) {
	now := s.Now()
	res := s.conn(ctx).Model(&RememberedBrowser{}).
		Where("token_hash = ? AND user_id = ? AND revoked_at IS NULL AND expires_at > ?", tokenHash, userID, now).
		Update("last_used_at", now)
	if res.Error != nil {
		return false, fmt.Errorf("remembered browser: %w", res.Error)
	}
	return res.RowsAffected > 0, nil
}

// ListRememberedBrowsers returns a user's live remembered browsers, most
// recently used first.
func (s *Store) ListRememberedBrowsers(ctx context.Context, userID string) ([]RememberedBrowser, error) {
	var out []RememberedBrowser
	err := s.conn(ctx).Where("user_id = ? AND revoked_at IS NULL AND expires_at > ?", userID, s.Now()).
		Order("last_used_at DESC, id").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("list remembered browsers: %w", err)
	}
	return out, nil
}

// RevokeRememberedBrowser forgets one of userID's browsers; it reports
// whether a live one was revoked (another user's ID revokes nothing).
func (s *Store) RevokeRememberedBrowser(ctx context.Context, userID, id string) (bool, error) {
	res := s.conn(ctx).Model(&RememberedBrowser{}).
		Where("id = ? AND user_id = ? AND revoked_at IS NULL", id, userID).Update("revoked_at", s.Now())
	if res.Error != nil {
		return false, fmt.Errorf("revoke remembered browser: %w", res.Error)
	}
	return res.RowsAffected > 0, nil
}

// RevokeUserRememberedBrowsers forgets every browser of a user (password
// change, factor reset, disable); it returns how many were live.
func (s *Store) RevokeUserRememberedBrowsers(ctx context.Context, userID string) (int64, error) {
	res := s.conn(ctx).Model(&RememberedBrowser{}).
		Where("user_id = ? AND revoked_at IS NULL", userID).Update("revoked_at", s.Now())
	if res.Error != nil {
		return 0, fmt.Errorf("revoke remembered browsers: %w", res.Error)
	}
	return res.RowsAffected, nil
}

package store

import (
	"context"
	"fmt"
	"time"
)

// CreateSession stores a new browser session.
func (s *Store) CreateSession(ctx context.Context, sess *Session) error {
	now := s.Now()
	sess.CreatedAt, sess.UpdatedAt, sess.LastSeenAt = now, now, now
	// SQLite compares times as text, so every stored time must be UTC.
	sess.AuthTime, sess.ExpiresAt = sess.AuthTime.UTC(), sess.ExpiresAt.UTC()
	if err := s.conn(ctx).Create(sess).Error; err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

// GetSession returns a live session by the hash of its cookie value.
func (s *Store) GetSession(ctx context.Context, idHash string) (*Session, error) {
	var sess Session
	err := s.conn(ctx).Where("id_hash = ? AND revoked_at IS NULL AND expires_at > ?", idHash, s.Now()).Take(&sess).Error
	if err != nil {
		return nil, notFound(err)
	}
	return &sess, nil
}

// UpdateSessionAuth records a step-up or re-authentication on a live session.
func (s *Store) UpdateSessionAuth(ctx context.Context, idHash string, data []byte, authTime, expiresAt time.Time) error {
	now := s.Now()
	res := s.conn(ctx).Model(&Session{}).Where("id_hash = ? AND revoked_at IS NULL AND expires_at > ?", idHash, now).
		Updates(map[string]any{"data": data, "auth_time": authTime.UTC(), "expires_at": expiresAt.UTC(),
			"last_seen_at": now, "updated_at": now})
	if res.Error != nil {
		return fmt.Errorf("update session: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// RevokeSession ends one session; it reports whether it was live.
func (s *Store) RevokeSession(ctx context.Context, idHash string) (bool, error) {
	res := s.conn(ctx).Model(&Session{}).Where("id_hash = ? AND revoked_at IS NULL", idHash).Update("revoked_at", s.Now())
	if res.Error != nil {
		return false, fmt.Errorf("revoke session: %w", res.Error)
	}
	return res.RowsAffected > 0, nil
}

// RevokeUserSessions ends every session of a user.
func (s *Store) RevokeUserSessions(ctx context.Context, userID string) error {
	err := s.conn(ctx).Model(&Session{}).Where("user_id = ? AND revoked_at IS NULL", userID).Update("revoked_at", s.Now()).Error
	if err != nil {
		return fmt.Errorf("revoke sessions: %w", err)
	}
	return nil
}

// ListUserSessions returns a user's live sessions, newest first.
func (s *Store) ListUserSessions(ctx context.Context, userID string) ([]Session, error) {
	var out []Session
	err := s.conn(ctx).Where("user_id = ? AND revoked_at IS NULL AND expires_at > ?", userID, s.Now()).
		Order("created_at DESC").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	return out, nil
}

// TouchSession records that a live session was used now, unless that was
// already recorded after olderThan (so a busy session is not written on
// every request).
func (s *Store) TouchSession(ctx context.Context, idHash string, olderThan time.Time) error {
	err := s.conn(ctx).Model(&Session{}).
		Where("id_hash = ? AND revoked_at IS NULL AND last_seen_at < ?", idHash, olderThan.UTC()).
		Update("last_seen_at", s.Now()).Error
	if err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

// RotateSession replaces the live session oldHash with next (a new ID for
// the same user, after its level changed) in one transaction: the old row
// is revoked, the new one created, and the clients that received tokens in
// the old one move to the new one, so logging out still notifies them. It
// returns ErrNotFound when the old session is no longer live.
func (s *Store) RotateSession(ctx context.Context, oldHash string, next *Session) error {
	return s.Transaction(ctx, func(ctx context.Context) error {
		ok, err := s.RevokeSession(ctx, oldHash)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		if err := s.CreateSession(ctx, next); err != nil {
			return err
		}
		err = s.conn(ctx).Model(&SessionClient{}).Where("session_hash = ?", oldHash).
			Update("session_hash", next.IDHash).Error
		if err != nil {
			return fmt.Errorf("rotate session: move clients: %w", err)
		}
		return nil
	})
}

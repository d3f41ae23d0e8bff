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
	if sess.CookieHash == "" {
		sess.CookieHash = sess.IDHash
	}
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

// RevokeSession ends one session; it reports whether it was live.
func (s *Store) RevokeSession(ctx context.Context, idHash string) (bool, error) {
	res := s.conn(ctx).Model(&Session{}).Where("id_hash = ? AND revoked_at IS NULL", idHash).Update("revoked_at", s.Now())
	if res.Error != nil {
		return false, fmt.Errorf("revoke session: %w", res.Error)
	}
	return res.RowsAffected > 0, nil
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

// RotateSession gives the live session idHash a new cookie: the one whose
// hash is oldCookie stops working, newCookie takes over, and the session
// records its new factors. The session's identity (IDHash, the sid) and the
// clients signed in through it stay. Of two rotations from the same cookie
// only one succeeds; the other gets ErrNotFound.
func (s *Store) RotateSession(ctx context.Context, idHash, oldCookie, newCookie string, data []byte, authTime, expiresAt time.Time) error {
	now := s.Now()
	res := s.conn(ctx).Model(&Session{}).
		Where("id_hash = ? AND cookie_hash = ? AND revoked_at IS NULL AND expires_at > ?", idHash, oldCookie, now).
		Updates(map[string]any{"cookie_hash": newCookie, "data": data, "auth_time": authTime.UTC(),
			"expires_at": expiresAt.UTC(), "last_seen_at": now, "updated_at": now})
	if res.Error != nil {
		return fmt.Errorf("rotate session: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// SessionByCookie returns the live session whose current cookie hashes to
// cookieHash.
func (s *Store) SessionByCookie(ctx context.Context, cookieHash string) (*Session, error) {
	var sess Session
	err := s.conn(ctx).Where("cookie_hash = ? AND revoked_at IS NULL AND expires_at > ?", cookieHash, s.Now()).Take(&sess).Error
	if err != nil {
		return nil, notFound(err)
	}
	return &sess, nil
}

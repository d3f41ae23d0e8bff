package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"gorm.io/gorm"
)

// Token kinds.
const (
	KindAuthorizeCode = "code"
	KindAccessToken   = "access"
	KindRefreshToken  = "refresh"
	KindPKCE          = "pkce"
	KindOIDC          = "oidc"
)

// The token insert and the lookup by signature are the hottest
// statements (every grant, every introspection): they are written by hand
// and run on the connection pool or transaction directly, which saves gorm's
// statement building and reflection on each (see BenchmarkStorageCreate
// and BenchmarkStorageGet in provider).
const (
	tokenColumns  = "kind, signature, request_id, client_id, subject, active, data, expires_at, rotated_at, created_at"
	insertTokenQ  = "INSERT INTO oauth_tokens (" + tokenColumns + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	insertTokenPG = "INSERT INTO oauth_tokens (" + tokenColumns + ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
	getTokenQ     = "SELECT " + tokenColumns + " FROM oauth_tokens WHERE kind = ? AND signature = ?"
	getTokenPG    = "SELECT " + tokenColumns + " FROM oauth_tokens WHERE kind = $1 AND signature = $2"
)

// CreateToken stores a token record.
func (s *Store) CreateToken(ctx context.Context, t *OAuthToken) error {
	t.CreatedAt = s.Now()
	t.ExpiresAt = t.ExpiresAt.UTC() // SQLite compares times as text
	q := insertTokenQ
	if s.postgres {
		q = insertTokenPG
	}
	_, err := s.exec(ctx, q, t.Kind, t.Signature, t.RequestID, t.ClientID, t.Subject, t.Active, t.Data, t.ExpiresAt, t.RotatedAt, t.CreatedAt)
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return ErrConflict
	}
	if err != nil {
		return fmt.Errorf("create %s token: %w", t.Kind, err)
	}
	return nil
}

// GetToken returns a token record, active or not; the caller decides what an
// inactive one means (a reused code or refresh token).
func (s *Store) GetToken(ctx context.Context, kind, signature string) (*OAuthToken, error) {
	q := getTokenQ
	if s.postgres {
		q = getTokenPG
	}
	var t OAuthToken
	var rotated sql.NullTime
	err := s.queryRow(ctx, q, kind, signature).Scan(&t.Kind, &t.Signature, &t.RequestID, &t.ClientID, &t.Subject,
		&t.Active, &t.Data, &t.ExpiresAt, &rotated, &t.CreatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get %s token: %w", kind, err)
	}
	if rotated.Valid {
		t.RotatedAt = &rotated.Time
	}
	return &t, nil
}

// DeactivateToken flips an active token to inactive in one conditional
// update; it returns ErrNotFound when the token was not active, so of two
// concurrent callers exactly one succeeds.
func (s *Store) DeactivateToken(ctx context.Context, kind, signature string) error {
	res := s.conn(ctx).Model(&OAuthToken{}).
		Where("kind = ? AND signature = ? AND active = ?", kind, signature, true).
		Update("active", false)
	if res.Error != nil {
		return fmt.Errorf("deactivate %s token: %w", kind, res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// RotateToken retires an active refresh token because its successor is
// being issued: like DeactivateToken (one conditional update, ErrNotFound
// when it was not active), and it records when, which the reuse grace reads.
func (s *Store) RotateToken(ctx context.Context, kind, signature string) error {
	now := s.Now().UTC()
	res := s.conn(ctx).Model(&OAuthToken{}).
		Where("kind = ? AND signature = ? AND active = ?", kind, signature, true).
		Updates(map[string]any{"active": false, "rotated_at": now})
	if res.Error != nil {
		return fmt.Errorf("rotate %s token: %w", kind, res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// RequestHasActive reports whether any unexpired token of kind issued for
// one authorization is still active: for a refresh family, whether it has
// been revoked as a whole.
func (s *Store) RequestHasActive(ctx context.Context, kind, requestID string) (bool, error) {
	var n int64
	err := s.conn(ctx).Model(&OAuthToken{}).
		Where("kind = ? AND request_id = ? AND active = ? AND expires_at > ?", kind, requestID, true, s.Now().UTC()).
		Limit(1).Count(&n).Error
	if err != nil {
		return false, fmt.Errorf("look up %s tokens: %w", kind, err)
	}
	return n > 0, nil
}

// DeactivateRequestTokens deactivates every token of kind issued for one
// authorization (a refresh family, or the access tokens of a reused code).
// Only active rows are touched: fosite keeps one request ID for a whole
// refresh chain, so without the condition the k-th refresh would rewrite
// the k-1 rows the earlier ones already retired.
func (s *Store) DeactivateRequestTokens(ctx context.Context, kind, requestID string) error {
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		if err := s.lockRequest(tx, requestID); err != nil {
			return err
		}
		return tx.Model(&OAuthToken{}).Where("kind = ? AND request_id = ? AND active = ?", kind, requestID, true).
			Update("active", false).Error
	})
	if err != nil {
		return fmt.Errorf("revoke %s tokens: %w", kind, err)
	}
	return nil
}

// LockRequest serializes, until the transaction in ctx ends, every change
// to the tokens of one authorization. On PostgreSQL a refresh, a replay's
// revocation and a racing refresh would otherwise lock the same rows in
// different orders and deadlock; taking this lock before any row lock
// gives them one order. SQLite serializes writers already.
func (s *Store) LockRequest(ctx context.Context, requestID string) error {
	if err := s.lockRequest(s.conn(ctx), requestID); err != nil {
		return fmt.Errorf("lock token family: %w", err)
	}
	return nil
}

func (s *Store) lockRequest(tx *gorm.DB, requestID string) error {
	if !s.postgres {
		return nil
	}
	return tx.Exec("SELECT pg_advisory_xact_lock(hashtext(?))", "latchkey-request:"+requestID).Error
}

// DeleteToken removes a token record.
func (s *Store) DeleteToken(ctx context.Context, kind, signature string) error {
	err := s.conn(ctx).Where("kind = ? AND signature = ?", kind, signature).Delete(&OAuthToken{}).Error
	if err != nil {
		return fmt.Errorf("delete %s token: %w", kind, err)
	}
	return nil
}

// DeactivateSubjectTokens deactivates everything issued to a user (codes
// not yet exchanged included), for account disabling and factor resets.
func (s *Store) DeactivateSubjectTokens(ctx context.Context, subject string) error {
	err := s.conn(ctx).Model(&OAuthToken{}).
		Where("subject = ? AND kind IN ? AND active = ?", subject, []string{KindAuthorizeCode, KindAccessToken, KindRefreshToken}, true).
		Update("active", false).Error
	if err != nil {
		return fmt.Errorf("revoke user tokens: %w", err)
	}
	return nil
}

// DeactivateClientTokens deactivates what one client holds for a user
// (codes, access and refresh tokens), when the user withdraws consent.
func (s *Store) DeactivateClientTokens(ctx context.Context, subject, clientID string) error {
	err := s.conn(ctx).Model(&OAuthToken{}).
		Where("subject = ? AND client_id = ? AND kind IN ?", subject, clientID, []string{KindAuthorizeCode, KindAccessToken, KindRefreshToken}).
		Update("active", false).Error
	if err != nil {
		return fmt.Errorf("revoke client tokens: %w", err)
	}
	return nil
}

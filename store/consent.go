package store

import (
	"context"
	"fmt"
	"strings"

	"gorm.io/gorm/clause"
)

// GrantedScopes returns the scopes a user has remembered granting a client.
func (s *Store) GrantedScopes(ctx context.Context, userID, clientID string) ([]string, error) {
	var g ConsentGrant
	err := s.conn(ctx).Where("user_id = ? AND client_id = ?", userID, clientID).Take(&g).Error
	if err != nil {
		if notFound(err) == ErrNotFound {
			return nil, nil
		}
		return nil, fmt.Errorf("load consent: %w", err)
	}
	return strings.Fields(g.Scopes), nil
}

// RememberConsent records (replacing) the scopes a user granted a client.
func (s *Store) RememberConsent(ctx context.Context, userID, clientID string, scopes []string) error {
	now := s.Now()
	g := ConsentGrant{UserID: userID, ClientID: clientID, Scopes: strings.Join(scopes, " "), CreatedAt: now, UpdatedAt: now}
	err := s.conn(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "user_id"}, {Name: "client_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"scopes", "updated_at"}),
	}).Create(&g).Error
	if err != nil {
		return fmt.Errorf("remember consent: %w", err)
	}
	return nil
}

// ForgetConsent removes a remembered grant.
func (s *Store) ForgetConsent(ctx context.Context, userID, clientID string) error {
	err := s.conn(ctx).Where("user_id = ? AND client_id = ?", userID, clientID).Delete(&ConsentGrant{}).Error
	if err != nil {
		return fmt.Errorf("forget consent: %w", err)
	}
	return nil
}

// ListConsents returns the grants a user has given, by client.
func (s *Store) ListConsents(ctx context.Context, userID string) ([]ConsentGrant, error) {
	var out []ConsentGrant
	if err := s.conn(ctx).Where("user_id = ?", userID).Order("client_id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list consents: %w", err)
	}
	return out, nil
}

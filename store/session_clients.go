package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm/clause"
)

// SessionClient records that a client received tokens within an SSO
// session, so logging out of the session can notify it (back-channel
// logout).
type SessionClient struct {
	SessionHash string `gorm:"primaryKey;size:64"`
	ClientID    string `gorm:"primaryKey;size:128"`
	CreatedAt   time.Time
}

// AddSessionClient records a client for a session; repeats are no-ops.
func (s *Store) AddSessionClient(ctx context.Context, sessionHash, clientID string) error {
	err := s.conn(ctx).Clauses(clause.OnConflict{DoNothing: true}).
		Create(&SessionClient{SessionHash: sessionHash, ClientID: clientID, CreatedAt: s.Now()}).Error
	if err != nil {
		return fmt.Errorf("add session client: %w", err)
	}
	return nil
}

// SessionClients lists the clients that received tokens in a session.
func (s *Store) SessionClients(ctx context.Context, sessionHash string) ([]string, error) {
	var ids []string
	err := s.conn(ctx).Model(&SessionClient{}).Where("session_hash = ?", sessionHash).Order("created_at, client_id").Pluck("client_id", &ids).Error
	if err != nil {
		return nil, fmt.Errorf("session clients: %w", err)
	}
	return ids, nil
}

package store

import (
	"context"
	"fmt"
)

// Audit appends an event.
func (s *Store) Audit(ctx context.Context, e AuditEvent) error {
	if e.At.IsZero() {
		e.At = s.Now()
	}
	e.At = e.At.UTC() // SQLite orders times as text
	if err := s.conn(ctx).Create(&e).Error; err != nil {
		return fmt.Errorf("audit %s: %w", e.Event, err)
	}
	return nil
}

// RecentEvents returns a user's newest events, at most limit.
func (s *Store) RecentEvents(ctx context.Context, userID string, limit int) ([]AuditEvent, error) {
	var out []AuditEvent
	err := s.conn(ctx).Where("user_id = ?", userID).Order("at DESC, id DESC").Limit(limit).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("recent events: %w", err)
	}
	return out, nil
}

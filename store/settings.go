package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm/clause"
)

// GetSetting returns a setting's value, ErrNotFound when unset.
func (s *Store) GetSetting(ctx context.Context, key string) ([]byte, error) {
	var st Setting
	if err := s.conn(ctx).Where("key = ?", key).Take(&st).Error; err != nil {
		return nil, notFound(err)
	}
	return st.Value, nil
}

// SetSettingIfAbsent stores value under key unless one is there, and returns
// the value that won, so replicas racing to initialise agree.
func (s *Store) SetSettingIfAbsent(ctx context.Context, key string, value []byte) ([]byte, error) {
	err := s.conn(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&Setting{Key: key, Value: value}).Error
	if err != nil {
		return nil, fmt.Errorf("set %s: %w", key, err)
	}
	return s.GetSetting(ctx, key)
}

// readyKey is the one row the readiness check rewrites.
const readyKey = "readyz"

// Ready checks that the database answers a read and takes a write: an
// upsert of a single row, so it never grows the database. A SQLite file
// that cannot be written or a PostgreSQL standby fails it.
func (s *Store) Ready(ctx context.Context) error {
	if _, err := s.GetSetting(ctx, readyKey); err != nil && err != ErrNotFound {
		return fmt.Errorf("read: %w", err)
	}
	err := s.conn(ctx).Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "key"}}, DoUpdates: clause.AssignmentColumns([]string{"value"})}).
		Create(&Setting{Key: readyKey, Value: []byte(s.Now().Format(time.RFC3339Nano))}).Error
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

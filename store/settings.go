package store

import (
	"context"
	"fmt"

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

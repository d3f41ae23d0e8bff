package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"gorm.io/gorm"
)

// NormalizeEmail is the one canonical form of an email used as identifier.
func NormalizeEmail(email string) string {
	return strings.ToLower(strings.TrimSpace(email))
}

// CreateUser inserts u; a taken email yields ErrConflict.
func (s *Store) CreateUser(ctx context.Context, u *User) error {
	u.Email = NormalizeEmail(u.Email)
	err := s.conn(ctx).Create(u).Error
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return ErrConflict
	}
	if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	return nil
}

// UserByID returns the user with that ID.
func (s *Store) UserByID(ctx context.Context, id string) (*User, error) {
	var u User
	if err := s.conn(ctx).Where("id = ?", id).Take(&u).Error; err != nil {
		return nil, notFound(err)
	}
	return &u, nil
}

// UserByEmail returns the user with that email (case-insensitively).
func (s *Store) UserByEmail(ctx context.Context, email string) (*User, error) {
	var u User
	if err := s.conn(ctx).Where("email = ?", NormalizeEmail(email)).Take(&u).Error; err != nil {
		return nil, notFound(err)
	}
	return &u, nil
}

// ListUsers returns every user, oldest first.
func (s *Store) ListUsers(ctx context.Context) ([]User, error) {
	var us []User
	if err := s.conn(ctx).Order("created_at, id").Find(&us).Error; err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return us, nil
}

// SetUserDisabled disables or enables a user; disabling also revokes the
// user's sessions in the same transaction.
func (s *Store) SetUserDisabled(ctx context.Context, id string, disabled bool) error {
	return s.inTx(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&User{}).Where("id = ?", id).Updates(map[string]any{"disabled": disabled, "updated_at": s.Now()})
		if res.Error != nil {
			return fmt.Errorf("disable user: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		if disabled {
			return tx.Model(&Session{}).Where("user_id = ? AND revoked_at IS NULL", id).
				Update("revoked_at", s.Now()).Error
		}
		return nil
	})
}

// SetPasswordHash replaces a user's password hash (a rehash on parameter
// change, or a new password).
func (s *Store) SetPasswordHash(ctx context.Context, id, hash string) error {
	res := s.conn(ctx).Model(&User{}).Where("id = ?", id).Updates(map[string]any{"password_hash": hash, "updated_at": s.Now()})
	if res.Error != nil {
		return fmt.Errorf("set password: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

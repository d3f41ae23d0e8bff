package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

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

// SetUserName replaces a user's display name ("" removes it); scope profile
// gives it to relying parties as the name claim.
func (s *Store) SetUserName(ctx context.Context, id, name string) error {
	return s.updateUser(ctx, id, "set name", map[string]any{"name": name})
}

// MarkEmailVerified records that the user proved their address by a mail
// round trip (or that an admin vouched for it). Nothing sets it back to
// false: a verified address stays verified until the email changes.
func (s *Store) MarkEmailVerified(ctx context.Context, id string) error {
	return s.updateUser(ctx, id, "mark email verified", map[string]any{"email_verified": true})
}

// updateUser sets fields of one user; an unknown ID is ErrNotFound.
func (s *Store) updateUser(ctx context.Context, id, what string, fields map[string]any) error {
	fields["updated_at"] = s.Now()
	res := s.conn(ctx).Model(&User{}).Where("id = ?", id).Updates(fields)
	if res.Error != nil {
		return fmt.Errorf("%s: %w", what, res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// MaxNameLen bounds a display name, in characters.
const MaxNameLen = 200

// CleanName trims a display name and refuses one that is too long or holds
// control characters (it goes into ID tokens and mail headers).
func CleanName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if utf8.RuneCountInString(name) > MaxNameLen {
		return "", fmt.Errorf("longer than %d characters", MaxNameLen)
	}
	if !utf8.ValidString(name) {
		return "", errors.New("not valid UTF-8")
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return "", errors.New("contains a control character")
		}
	}
	return name, nil
}

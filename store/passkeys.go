package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Passkey is one registered WebAuthn credential. A user may have several.
type Passkey struct {
	// ID is Latchkey's own random identifier, used in URLs; the
	// credential's ID (often long and binary) never appears in them.
	ID     string `gorm:"primaryKey;size:64"`
	UserID string `gorm:"size:64;not null;index"`
	// CredentialID is the authenticator's credential ID, base64url-encoded
	// without padding (at most 1023 bytes, so 1364 characters).
	CredentialID string `gorm:"size:1400;not null;uniqueIndex"`
	// PublicKey is the COSE-encoded credential public key.
	PublicKey         []byte `gorm:"not null"`
	AttestationFormat string `gorm:"size:32;not null;default:''"`
	SignCount         int64  `gorm:"not null;default:0"`
	// Transports is the space-separated list the browser reported
	// (internal, hybrid, usb, nfc, ble).
	Transports string `gorm:"size:200;not null;default:''"`
	// AAGUID identifies the authenticator model, 16 bytes, zero for none.
	AAGUID []byte
	// BackupEligible is the BE flag: the credential can be synced to other
	// devices. Clear means device-bound (amr "hwk").
	BackupEligible bool `gorm:"not null;default:false"`
	// BackupState is the BS flag as last seen: the credential is synced now.
	BackupState bool `gorm:"not null;default:false"`
	// UserVerified records whether the authenticator verified the user
	// (PIN, biometrics) when the passkey was registered.
	UserVerified bool   `gorm:"not null;default:false"`
	Name         string `gorm:"size:100;not null;default:''"`
	// LastChallenge is the hash of the challenge of the last accepted
	// assertion, so an assertion is accepted once even from an authenticator
	// whose counter stays at 0.
	LastChallenge string `gorm:"size:64;not null;default:''"`
	CreatedAt     time.Time
	LastUsedAt    *time.Time
}

// PasskeyUser holds a user's WebAuthn user handle: random bytes the
// authenticator stores with every discoverable credential and returns on
// sign-in, so the account is found without the email ever reaching the
// authenticator.
type PasskeyUser struct {
	UserID string `gorm:"primaryKey;size:64"`
	// Handle is the user handle, base64url-encoded (at most 64 bytes).
	Handle    string `gorm:"size:88;not null;uniqueIndex"`
	CreatedAt time.Time
}

// EnsurePasskeyHandle returns the user's WebAuthn user handle, storing
// candidate as the handle when the user has none yet. Concurrent callers
// agree on one handle.
func (s *Store) EnsurePasskeyHandle(ctx context.Context, userID, candidate string) (string, error) {
	row := PasskeyUser{UserID: userID, Handle: candidate, CreatedAt: s.Now()}
	if err := s.conn(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error; err != nil {
		return "", fmt.Errorf("passkey user handle: %w", err)
	}
	return s.PasskeyHandle(ctx, userID)
}

// PasskeyHandle returns the user's WebAuthn user handle, ErrNotFound when
// the user never registered a passkey.
func (s *Store) PasskeyHandle(ctx context.Context, userID string) (string, error) {
	var row PasskeyUser
	if err := s.conn(ctx).Where("user_id = ?", userID).Take(&row).Error; err != nil {
		if err = notFound(err); err == ErrNotFound {
			return "", err
		}
		return "", fmt.Errorf("passkey user handle: %w", err)
	}
	return row.Handle, nil
}

// UserIDByPasskeyHandle finds the user a WebAuthn user handle belongs to.
func (s *Store) UserIDByPasskeyHandle(ctx context.Context, handle string) (string, error) {
	var row PasskeyUser
	if err := s.conn(ctx).Where("handle = ?", handle).Take(&row).Error; err != nil {
		if err = notFound(err); err == ErrNotFound {
			return "", err
		}
		return "", fmt.Errorf("passkey user by handle: %w", err)
	}
	return row.UserID, nil
}

// CreatePasskey stores a new passkey; a credential ID already registered
// (to anyone) yields ErrConflict.
func (s *Store) CreatePasskey(ctx context.Context, p *Passkey) error {
	if p.CreatedAt.IsZero() {
		p.CreatedAt = s.Now()
	}
	err := s.conn(ctx).Create(p).Error
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return ErrConflict
	}
	if err != nil {
		return fmt.Errorf("create passkey: %w", err)
	}
	return nil
}

// ListPasskeys returns a user's passkeys, oldest first.
func (s *Store) ListPasskeys(ctx context.Context, userID string) ([]Passkey, error) {
	var out []Passkey
	if err := s.conn(ctx).Where("user_id = ?", userID).Order("created_at, id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list passkeys: %w", err)
	}
	return out, nil
}

// CountPasskeys tells how many passkeys a user has.
func (s *Store) CountPasskeys(ctx context.Context, userID string) (int, error) {
	var n int64
	if err := s.conn(ctx).Model(&Passkey{}).Where("user_id = ?", userID).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("count passkeys: %w", err)
	}
	return int(n), nil
}

// PasskeyByCredentialID returns the passkey with that credential ID
// (base64url, unpadded).
func (s *Store) PasskeyByCredentialID(ctx context.Context, credentialID string) (*Passkey, error) {
	var p Passkey
	if err := s.conn(ctx).Where("credential_id = ?", credentialID).Take(&p).Error; err != nil {
		if err = notFound(err); err == ErrNotFound {
			return nil, err
		}
		return nil, fmt.Errorf("load passkey: %w", err)
	}
	return &p, nil
}

// RenamePasskey changes the name of one of the user's passkeys;
// ErrNotFound when the user has no passkey with that ID.
func (s *Store) RenamePasskey(ctx context.Context, userID, id, name string) error {
	res := s.conn(ctx).Model(&Passkey{}).Where("id = ? AND user_id = ?", id, userID).Update("name", name)
	if res.Error != nil {
		return fmt.Errorf("rename passkey: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// DeletePasskey removes one of the user's passkeys; ErrNotFound when the
// user has no passkey with that ID.
func (s *Store) DeletePasskey(ctx context.Context, userID, id string) error {
	res := s.conn(ctx).Where("id = ? AND user_id = ?", id, userID).Delete(&Passkey{})
	if res.Error != nil {
		return fmt.Errorf("delete passkey: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// DeleteUserPasskeys removes every passkey of a user (the admin's
// reset-factors); it returns how many there were.
func (s *Store) DeleteUserPasskeys(ctx context.Context, userID string) (int, error) {
	res := s.conn(ctx).Where("user_id = ?", userID).Delete(&Passkey{})
	if res.Error != nil {
		return 0, fmt.Errorf("delete passkeys: %w", res.Error)
	}
	return int(res.RowsAffected), nil
}

// PasskeyUse is an accepted assertion to record.
type PasskeyUse struct {
	ID string
	// SignCount is the counter the authenticator reported.
	SignCount uint32
	// ChallengeHash is the hash of the assertion's challenge.
	ChallengeHash string
	BackupState   bool
	At            time.Time
}

// RecordPasskeyUse stores an assertion's counter and time in one
// conditional update: the counter must go up (or stay at 0 for
// authenticators that do not count), and the challenge must differ from
// the last one accepted. ErrConflict means the update lost: the counter did
// not advance (a cloned authenticator, or a replay) or the assertion was
// already used, possibly by another replica a moment ago.
func (s *Store) RecordPasskeyUse(ctx context.Context, u PasskeyUse) error {
	count := int64(u.SignCount)
	res := s.conn(ctx).Model(&Passkey{}).
		Where("id = ? AND last_challenge <> ? AND (sign_count < ? OR (sign_count = 0 AND ? = 0))",
			u.ID, u.ChallengeHash, count, count).
		Updates(map[string]any{"sign_count": count, "last_challenge": u.ChallengeHash,
			"backup_state": u.BackupState, "last_used_at": u.At.UTC()})
	if res.Error != nil {
		return fmt.Errorf("record passkey use: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrConflict
	}
	return nil
}

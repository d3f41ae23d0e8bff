package password

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"latchkey/account"
	"latchkey/login"
	"latchkey/store"
)

// Users is what the factor needs from the store.
type Users interface {
	UserByEmail(ctx context.Context, email string) (*store.User, error)
	UserByID(ctx context.Context, id string) (*store.User, error)
	SetPasswordHash(ctx context.Context, id, hash string) error
}

// Factor checks passwords.
type Factor struct {
	Users  Users
	Hasher *Hasher
	Log    *slog.Logger
	// dummy is checked when no real hash exists, so an unknown email costs
	// one argon2id run like a known one.
	dummy string
}

var (
	_ login.Factor     = (*Factor)(nil)
	_ login.Identifier = (*Factor)(nil)
	_ login.Enrollable = (*Factor)(nil)
)

// New builds the factor. The dummy hash is random bytes in the hash format,
// so making it costs no argon2 run at start-up.
func New(users Users, h *Hasher, log *slog.Logger) (*Factor, error) {
	dummy, err := h.Dummy()
	if err != nil {
		return nil, err
	}
	return &Factor{Users: users, Hasher: h, Log: log, dummy: dummy}, nil
}

// Method implements login.Factor.
func (f *Factor) Method() login.Method { return login.MethodPassword }

// Identifies implements login.Identifier.
func (f *Factor) Identifies() {}

// Enrolled implements login.Enrollable: accounts made by passkey or magic
// link may have no password.
func (f *Factor) Enrolled(ctx context.Context, userID string) (bool, error) {
	u, err := f.Users.UserByID(ctx, userID)
	if err != nil {
		return false, err
	}
	return u.PasswordHash != "", nil
}

// MaxLength bounds what is hashed; argon2 would take longer, not fail.
const MaxLength = 1024

// Verify implements login.Factor. In a flow whose user is known it checks
// that user's password whatever identifier was posted.
func (f *Factor) Verify(ctx context.Context, a login.Attempt) (login.Result, error) {
	pw := a.Form.Get("password")
	var u *store.User
	var err error
	if a.Flow.UserID != "" {
		u, err = f.Users.UserByID(ctx, a.Flow.UserID)
	} else {
		ident := strings.TrimSpace(a.Form.Get("identifier"))
		if ident == "" {
			return login.Result{}, fmt.Errorf("%w: enter your email", login.ErrInvalid)
		}
		u, err = f.Users.UserByEmail(ctx, ident)
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return login.Result{}, err
	}
	if pw == "" || len(pw) > MaxLength {
		return login.Result{}, login.ErrInvalid
	}
	encoded := f.dummy
	if u != nil && u.PasswordHash != "" {
		encoded = u.PasswordHash
	}
	ok, rehash, err := f.Hasher.Check(pw, encoded)
	if err != nil {
		return login.Result{}, fmt.Errorf("check password: %w", err)
	}
	if !ok || u == nil || u.PasswordHash == "" || u.Disabled {
		return login.Result{}, login.ErrInvalid
	}
	if rehash {
		if h, err := f.Hasher.Hash(pw); err == nil {
			if err := f.Users.SetPasswordHash(ctx, u.ID, h); err != nil {
				f.Log.WarnContext(ctx, "rehash password", "user", u.ID, "err", err)
			}
		}
	}
	return login.Result{Method: login.MethodPassword, UserID: u.ID, At: a.Now}, nil
}

// Overview is the password's line on /account.
func (f *Factor) Overview(ctx context.Context, userID string) (account.Status, error) {
	on, err := f.Enrolled(ctx, userID)
	if err != nil {
		return account.Status{}, err
	}
	st := account.Status{Title: "Password", Status: "Set", Link: account.PasswordPath, LinkText: "Change"}
	if !on {
		st.Status, st.LinkText = "Not set", "Set a password"
	}
	return st, nil
}

var _ account.PasswordChanger = (*Factor)(nil)

// Change replaces a user's password after checking the current one (unless
// the account has none yet) and the new one against the rules of CheckNew.
// It writes with ctx, so inside a transaction it joins it. A wrong current
// password yields account.ErrWrongPassword, a refused new one wraps
// account.ErrNewPassword with the reason in words; either changes nothing.
func (f *Factor) Change(ctx context.Context, userID, current, next string) error {
	u, err := f.Users.UserByID(ctx, userID)
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	if u.PasswordHash != "" {
		if current == "" || len(current) > MaxLength {
			return account.ErrWrongPassword
		}
		ok, _, err := f.Hasher.Check(current, u.PasswordHash)
		if err != nil {
			return fmt.Errorf("change password: %w", err)
		}
		if !ok {
			return account.ErrWrongPassword
		}
	}
	if err := CheckNew(next, u.Email); err != nil {
		return fmt.Errorf("%w: %s", account.ErrNewPassword, Reason(err))
	}
	hash, err := f.Hasher.Hash(next)
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	return f.Users.SetPasswordHash(ctx, u.ID, hash)
}

package totp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"latchkey/login"
	"latchkey/seal"
	"latchkey/store"
)

// Store is what the factor keeps in the database; store.Store implements it.
type Store interface {
	TOTPCredential(ctx context.Context, userID string) (*store.TOTPCredential, error)
	PutPendingTOTP(ctx context.Context, userID string, sealed []byte) error
	ConfirmTOTP(ctx context.Context, userID string, sealed []byte, step int64) error
	UseTOTPStep(ctx context.Context, userID string, step int64) (bool, error)
	DeleteTOTP(ctx context.Context, userID string) (bool, error)
}

// PendingTTL is how long a shown, unconfirmed secret stays valid; Begin
// then shows a new one.
const PendingTTL = 30 * time.Minute

// Factor checks authenticator-app codes and enrolls authenticator apps.
type Factor struct {
	Store Store
	// Keys seal the secrets at rest.
	Keys *seal.Keyring
	// Issuer labels the account in authenticator apps (totp.issuer_label).
	Issuer string
	Params Params
	// Audit records totp.used and totp.failed; may be nil.
	Audit login.Auditor
	// Rand makes secrets; nil means crypto/rand.
	Rand io.Reader
	Log  *slog.Logger
}

var (
	_ login.Factor       = (*Factor)(nil)
	_ login.Enrollable   = (*Factor)(nil)
	_ login.SecondFactor = (*Factor)(nil)
)

// Method implements login.Factor.
func (f *Factor) Method() login.Method { return login.MethodTOTP }

// SecondFactor implements login.SecondFactor.
func (f *Factor) SecondFactor() {}

// State is a user's TOTP enrollment.
type State struct {
	// On is true once the user confirmed the app; Pending while a secret
	// was shown but not yet confirmed.
	On, Pending bool
	ConfirmedAt time.Time
	LastUsedAt  *time.Time
}

// State reads a user's enrollment.
func (f *Factor) State(ctx context.Context, userID string) (State, error) {
	c, err := f.Store.TOTPCredential(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return State{}, nil
	}
	if err != nil {
		return State{}, err
	}
	if c.ConfirmedAt == nil {
		return State{Pending: true}, nil
	}
	return State{On: true, ConfirmedAt: *c.ConfirmedAt, LastUsedAt: c.LastUsedAt}, nil
}

// Enrolled implements login.Enrollable: only a confirmed app counts.
func (f *Factor) Enrolled(ctx context.Context, userID string) (bool, error) {
	st, err := f.State(ctx, userID)
	return st.On, err
}

// Verify implements login.Factor for the user the flow identified. The
// guess limit is the login's lockout (login/lockout), asked before Verify
// and told its outcome after: a wrong code counts on the account's counter
// with wrong passwords, recovery codes and emailed codes.
func (f *Factor) Verify(ctx context.Context, a login.Attempt) (login.Result, error) {
	userID := a.Flow.UserID
	if userID == "" {
		return login.Result{}, login.ErrUnavailable
	}
	c, err := f.Store.TOTPCredential(ctx, userID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && c.ConfirmedAt == nil) {
		return login.Result{}, login.ErrUnavailable
	}
	if err != nil {
		return login.Result{}, err
	}
	secret, err := f.open(userID, c.Secret)
	if err != nil {
		return login.Result{}, err
	}
	if step, ok := f.Params.Match(secret, a.Form.Get("code"), a.Now); ok {
		won, err := f.Store.UseTOTPStep(ctx, userID, step)
		if err != nil {
			return login.Result{}, err
		}
		if won {
			f.audit(ctx, a, userID, "totp.used", "")
			return login.Result{Method: login.MethodTOTP, UserID: userID, At: a.Now}, nil
		}
		// A step already used (a replay, or a second tab): counted like a
		// wrong code.
	}
	f.audit(ctx, a, userID, "totp.failed", "wrong code")
	return login.Result{}, login.ErrInvalid
}

func (f *Factor) audit(ctx context.Context, a login.Attempt, userID, event, detail string) {
	login.Record(ctx, f.Audit, f.Log, a.Request, a.Now, userID, event, detail)
}

// aad binds a sealed secret to its user, so it cannot be moved to another
// account's row.
func aad(userID string) []byte { return []byte("totp secret\x00" + userID) }

func (f *Factor) seal(userID string, secret []byte) ([]byte, error) {
	b, err := f.Keys.Seal(secret, aad(userID))
	if err != nil {
		return nil, fmt.Errorf("seal totp secret: %w", err)
	}
	return b, nil
}

func (f *Factor) open(userID string, sealed []byte) ([]byte, error) {
	b, err := f.Keys.Open(sealed, aad(userID))
	if err != nil {
		return nil, fmt.Errorf("open totp secret of user %s: %w", userID, err)
	}
	return b, nil
}

package recovery

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"

	"latchkey/login"
	"latchkey/mail"
	"latchkey/store"
	"latchkey/web"
)

// Count is how many codes a set has; FewLeft is when the account pages
// start warning.
const (
	Count   = 10
	FewLeft = 3
)

// Store keeps the code hashes; store.Store implements it.
type Store interface {
	ReplaceRecoveryCodes(ctx context.Context, userID string, hashes []string) error
	UseRecoveryCode(ctx context.Context, userID, hash string) (bool, error)
	RecoveryCodeStats(ctx context.Context, userID string) (left int, lastUsed *time.Time, err error)
}

// Users finds the address the use notice goes to.
type Users interface {
	UserByID(ctx context.Context, id string) (*store.User, error)
}

// Factor checks and issues recovery codes.
type Factor struct {
	Store Store
	// TOTP is the factor the codes stand in for: they work only while it
	// is enrolled.
	TOTP login.Enrollable
	// Audit records recovery_code.used and recovery_code.failed; may be nil.
	Audit login.Auditor
	// Users and Mailer send the "a recovery code was used" notice; either
	// may be nil to send none.
	Users  Users
	Mailer mail.Mailer
	// Rand makes codes; nil means crypto/rand.
	Rand io.Reader
	Log  *slog.Logger
}

var (
	_ login.Factor     = (*Factor)(nil)
	_ login.Enrollable = (*Factor)(nil)
)

// Method implements login.Factor.
func (f *Factor) Method() login.Method { return login.MethodRecoveryCode }

// Enrolled implements login.Enrollable: TOTP is on and unused codes remain.
func (f *Factor) Enrolled(ctx context.Context, userID string) (bool, error) {
	on, err := f.TOTP.Enrolled(ctx, userID)
	if err != nil || !on {
		return false, err
	}
	left, _, err := f.Store.RecoveryCodeStats(ctx, userID)
	return left > 0, err
}

// Stats tells how many codes a user has left and when one was last used.
func (f *Factor) Stats(ctx context.Context, userID string) (int, *time.Time, error) {
	return f.Store.RecoveryCodeStats(ctx, userID)
}

// Generate makes a new set of Count codes for the user, replacing (and so
// invalidating) the old set, and returns them formatted for display: this
// is the only time they exist outside the user's hands.
func (f *Factor) Generate(ctx context.Context, userID string) ([]string, error) {
	codes := make([]string, 0, Count)
	hashes := make([]string, 0, Count)
	seen := map[string]bool{}
	for len(codes) < Count {
		c, err := NewCode(f.Rand)
		if err != nil {
			return nil, err
		}
		n, _ := Normalize(c)
		if seen[n] {
			continue
		}
		seen[n] = true
		codes = append(codes, c)
		hashes = append(hashes, Hash(userID, n))
	}
	if err := f.Store.ReplaceRecoveryCodes(ctx, userID, hashes); err != nil {
		return nil, err
	}
	return codes, nil
}

// Verify implements login.Factor for the user the flow identified.
func (f *Factor) Verify(ctx context.Context, a login.Attempt) (login.Result, error) {
	userID := a.Flow.UserID
	if userID == "" {
		return login.Result{}, login.ErrUnavailable
	}
	on, err := f.Enrolled(ctx, userID)
	if err != nil {
		return login.Result{}, err
	}
	if !on {
		return login.Result{}, login.ErrUnavailable
	}
	code, ok := Normalize(a.Form.Get("code"))
	if ok {
		ok, err = f.Store.UseRecoveryCode(ctx, userID, Hash(userID, code))
		if err != nil {
			return login.Result{}, err
		}
	}
	if !ok {
		f.audit(ctx, a, userID, "recovery_code.failed", "")
		return login.Result{}, login.ErrInvalid
	}
	left, _, err := f.Store.RecoveryCodeStats(ctx, userID)
	if err != nil {
		return login.Result{}, err
	}
	f.audit(ctx, a, userID, "recovery_code.used", strconv.Itoa(left)+" left")
	f.notify(ctx, a, userID, left)
	return login.Result{Method: login.MethodRecoveryCode, UserID: userID, At: a.Now}, nil
}

func (f *Factor) audit(ctx context.Context, a login.Attempt, userID, event, detail string) {
	login.Record(ctx, f.Audit, f.Log, a.Request, a.Now, userID, event, detail)
}

// notify emails the user that a code was used: if it was not them, they
// learn that both their password and a recovery code are known. A failed
// mail does not fail the sign-in (the audit log has the event).
func (f *Factor) notify(ctx context.Context, a login.Attempt, userID string, left int) {
	if f.Users == nil || f.Mailer == nil {
		return
	}
	u, err := f.Users.UserByID(ctx, userID)
	if err != nil {
		f.logError(ctx, "recovery code notice", err)
		return
	}
	ip := ""
	if a.Request != nil {
		ip = " from " + web.ClientIP(a.Request)
	}
	text := fmt.Sprintf("A recovery code was used instead of your authenticator app to sign in to your account %s on %s%s.\n\n"+
		"You have %d unused recovery codes left. If you no longer have your authenticator app, "+
		"turn two-factor authentication off and on again on your account page to set up a new one, "+
		"and make new recovery codes.\n\n"+
		"If this was not you, someone knows your password and one of your recovery codes: "+
		"change your password and make new recovery codes now.\n",
		u.Email, a.Now.UTC().Format("2006-01-02 15:04 MST"), ip, left)
	if err := f.Mailer.Send(ctx, mail.Message{To: u.Email, Subject: "A recovery code was used to sign in", Text: text}); err != nil {
		f.logError(ctx, "recovery code notice", err)
	}
}

func (f *Factor) logError(ctx context.Context, msg string, err error) {
	if f.Log != nil {
		f.Log.ErrorContext(ctx, msg, "err", err)
	}
}

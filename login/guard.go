package login

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"latchkey/login/lockout"
	"latchkey/store"
	"latchkey/web"
)

// Guessable tells whether a method's answer posted to the sign-in step can
// be guessed, so that the lockout counts it. Passkeys cannot: they keep
// working while an account is locked. The magic link's answer there is the
// emailed code, typed, which is guessable; the clicked link has a route of
// its own that never asks the lockout, so it keeps working during a lock.
func Guessable(m Method) bool {
	switch m {
	case MethodPassword, MethodTOTP, MethodRecoveryCode, MethodMagicLink:
		return true
	}
	return false
}

// GuessTarget is a factor whose answer is for an address the flow holds
// before it knows the user (the emailed code asked for at /login): the
// lockout counts it against that address's account.
type GuessTarget interface {
	GuessTarget(fl *Flow) (email string)
}

// guarded is the lockout's view of one attempt.
type guarded struct {
	on      bool
	target  string // the account tried, "" when unknown
	ip      string
	verdict lockout.Verdict
}

// guard looks up the account an attempt targets (the flow's user, or the
// identifier typed) and asks the lockout about it.
func (p *Pages) guard(ctx context.Context, r *http.Request, fl *Flow, m Method) (guarded, error) {
	if p.Lockout == nil || !Guessable(m) {
		return guarded{}, nil
	}
	g := guarded{on: true, target: fl.UserID, ip: web.ClientIP(r)}
	if g.target == "" && p.Accounts != nil {
		id := strings.TrimSpace(r.PostForm.Get("identifier"))
		if f, ok := p.Factor(m); ok {
			if gt, ok := f.(GuessTarget); ok {
				id = gt.GuessTarget(fl)
			}
		}
		if id != "" && len(id) <= 254 {
			u, err := p.Accounts.UserByEmail(ctx, id)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return g, err
			}
			if u != nil {
				g.target = u.ID
			}
		}
	}
	v, err := p.Lockout.Check(ctx, g.target, g.ip)
	g.verdict = v
	return g, err
}

// settle reports the outcome of an attempt guard counted. A wrong answer
// keeps its count; during a lock it counts only against the IP, the
// account being locked already. A right answer, or one never judged,
// gives the attempt back, and clears nothing else: the count is cleared
// when the sign-in is complete (Finish), since a right password must not
// clear the count of wrong TOTP codes that follow it. It runs to the end
// when the client has left: the count must not depend on staying.
func (p *Pages) settle(ctx context.Context, g guarded, verr error) error {
	if !g.on {
		return nil
	}
	ctx = context.WithoutCancel(ctx)
	switch {
	case verr == nil, !errors.Is(verr, ErrInvalid):
		return p.Lockout.Unused(ctx, g.target, g.verdict)
	case g.verdict.AccountLocked:
		return p.Lockout.Failed(ctx, "", g.ip)
	default:
		return p.Lockout.Failed(ctx, g.target, g.ip)
	}
}

// AccountFinder finds the account an identifier names.
type AccountFinder interface {
	UserByEmail(ctx context.Context, email string) (*store.User, error)
}

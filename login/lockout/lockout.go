// Package lockout holds the guess limits of the guessable factors
// (password, TOTP, recovery codes, emailed codes) in the database: wrong
// answers for one account within lockout.window lock that account's
// guessable factors for lockout.duration, and a client IP failing across
// accounts is refused with 429. Passkeys and magic links are not guessable
// and never consult it. The counters live in store.Lockout, so they hold
// across replicas and restarts.
package lockout

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"latchkey/config"
	"latchkey/mail"
)

// Store is the database side; store.Store implements it.
type Store interface {
	LockedUntil(ctx context.Context, key string) (time.Time, error)
	RecordFailure(ctx context.Context, key string, max int, window, duration time.Duration) (bool, error)
	ClearLockout(ctx context.Context, key string) error
}

// IPFactor is how many more failures than one account's limit a client
// IP may make across accounts before it is refused: a shared NAT's users
// mistype too, one guesser tries many accounts.
const IPFactor = 5

// Guard applies the limits. Callers ask Check before they verify a
// guessable answer and report the outcome with Failed or Succeeded.
type Guard struct {
	Store  Store
	Config config.Lockout
	Mailer mail.Mailer
	// Email finds the address to tell about a lock ("" when unknown).
	Email func(ctx context.Context, userID string) string
	Log   *slog.Logger
	// OnLock is called once per lock (the latchkey_lockouts_total metric).
	OnLock func(ctx context.Context)
}

// AccountKey and IPKey name the two kinds of counters.
func AccountKey(userID string) string { return "account:" + userID }
func IPKey(ip string) string          { return "ip:" + ip }

// Verdict is what Check found.
type Verdict struct {
	// AccountLocked: the answer must be refused whatever it is, with the
	// page a wrong answer gets.
	AccountLocked bool
	// IPRefused: the client is answered 429.
	IPRefused bool
}

func (g *Guard) on() bool { return g != nil && g.Config.MaxFailures > 0 }

// Check tells whether an attempt on userID ("" for an unknown account)
// from ip may count.
func (g *Guard) Check(ctx context.Context, userID, ip string) (Verdict, error) {
	var v Verdict
	if !g.on() {
		return v, nil
	}
	if ip != "" {
		until, err := g.Store.LockedUntil(ctx, IPKey(ip))
		if err != nil {
			return v, err
		}
		v.IPRefused = !until.IsZero()
	}
	if userID != "" {
		until, err := g.Store.LockedUntil(ctx, AccountKey(userID))
		if err != nil {
			return v, err
		}
		v.AccountLocked = !until.IsZero()
	}
	return v, nil
}

// Failed counts a wrong answer against the account (when it exists) and
// the IP. The failure that locks the account mails its owner, once.
func (g *Guard) Failed(ctx context.Context, userID, ip string) error {
	if !g.on() {
		return nil
	}
	window, duration := g.Config.Window.Duration, g.Config.Duration.Duration
	if ip != "" {
		if _, err := g.Store.RecordFailure(ctx, IPKey(ip), g.Config.MaxFailures*IPFactor, window, duration); err != nil {
			return err
		}
	}
	if userID == "" {
		return nil
	}
	locked, err := g.Store.RecordFailure(ctx, AccountKey(userID), g.Config.MaxFailures, window, duration)
	if err != nil || !locked {
		return err
	}
	if g.OnLock != nil {
		g.OnLock(ctx)
	}
	if g.Log != nil {
		g.Log.WarnContext(ctx, "account locked", "user", userID, "ip", ip, "for", duration.String())
	}
	if to := g.email(ctx, userID); to != "" && g.Mailer != nil {
		msg := mail.Message{To: to, Subject: "Sign-in to your account is paused",
			Text: fmt.Sprintf("There were %d wrong sign-in attempts on your account, the last from %s.\n\n"+
				"Passwords and codes are not accepted for the next %s. A passkey or an emailed sign-in link still works.\n"+
				"If this was not you, nothing else is needed: the guesses were stopped.\n", g.Config.MaxFailures, ip, duration)}
		if err := g.Mailer.Send(ctx, msg); err != nil && g.Log != nil {
			// The lock holds whether or not the mail went out.
			g.Log.WarnContext(ctx, "lockout mail", "user", userID, "err", err)
		}
	}
	return nil
}

func (g *Guard) email(ctx context.Context, userID string) string {
	if g.Email == nil {
		return ""
	}
	return g.Email(ctx, userID)
}

// Succeeded forgets the account's failures after a right answer that was
// accepted (never during a lock).
func (g *Guard) Succeeded(ctx context.Context, userID string) error {
	if !g.on() || userID == "" {
		return nil
	}
	return g.Store.ClearLockout(ctx, AccountKey(userID))
}

// Package lockout holds the guess limits of the guessable factors
// (password, TOTP, recovery codes, emailed codes) in the database, in one
// attempts store (store.AttemptLock, one counter per key) that holds across
// replicas and restarts. Passkeys and magic links (clicked) are not
// guessable and never consult it.
//
// Per account (key "account:<user id>"): lockout.max_failures wrong answers
// to any of the guessable factors within lockout.window lock them all for
// lockout.duration; the owner is mailed once per lock. Check counts the
// attempt before its answer is checked, so requests sent together cannot
// all find the account unlocked: at most max_failures answers per window
// are checked, however many arrive at once. A right answer gives its count
// back (Unused). A completed sign-in (every factor it needs) clears the
// count, never a running lock, and a right first factor alone clears
// nothing.
//
// Per client IP (key "ip:<address>"), across accounts, known or not: the
// SPEC says such an IP "is slowed and then refused (429)" and has no keys
// of its own for it, so both thresholds derive from lockout.max_failures
// (N) and lockout.window:
//   - from the N-th failure within the window on, every guessable attempt
//     from the IP waits before it is answered: SlowBase at N failures,
//     doubling with each further one, at most SlowMax;
//   - the N*IPFactor-th failure refuses the IP with 429 for
//     lockout.duration.
//
// The wait is a timer, taken after Check's reads and before the answer is
// checked, so it holds no database connection and no argon2 slot; it ends
// early when the request does. It slows a client that guesses one attempt
// after another; the 429 bounds what parallel requests can try.
package lockout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"latchkey/config"
	"latchkey/internal/sleep"
	"latchkey/mail"
)

// Store is the database side; store.Store implements it.
type Store interface {
	Attempts(ctx context.Context, key string, window time.Duration) (failures int, lockedUntil time.Time, err error)
	RecordFailure(ctx context.Context, key string, limit int, window, duration time.Duration) (bool, error)
	ReserveAttempt(ctx context.Context, key string, limit int, window time.Duration) (bool, error)
	LockIfSpent(ctx context.Context, key string, limit int, window, duration time.Duration) (bool, error)
	RefundAttempt(ctx context.Context, key string) error
	ClearFailures(ctx context.Context, key string) error
}

// IPFactor is how many more failures than one account's limit a client
// IP may make across accounts before it is refused: a shared NAT's users
// mistype too, one guesser tries many accounts.
const IPFactor = 5

// SlowBase and SlowMax bound the IP throttle's wait: SlowBase at
// lockout.max_failures failures from the IP, doubling per further failure,
// capped at SlowMax (reached at the 5th).
const (
	SlowBase = 250 * time.Millisecond
	SlowMax  = 4 * time.Second
)

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
	// Sleep waits d, or less when ctx ends (then it returns ctx's error);
	// nil is a timer. Tests record the wait instead.
	Sleep func(ctx context.Context, d time.Duration) error
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
	// Delay is how long Check waited because the IP fails a lot (0 for
	// an IP below the throttle, and for a refused one).
	Delay time.Duration
	// Reserved: Check counted this attempt against the account; the caller
	// reports a wrong answer with Failed and any other outcome with Unused.
	Reserved bool
}

func (g *Guard) on() bool { return g != nil && g.Config.MaxFailures > 0 }

// Check tells whether an attempt on userID ("" for an unknown account)
// from ip may count. An IP past the throttle's threshold waits here
// (Verdict.Delay) before Check returns; when the request ends meanwhile,
// Check returns its error and the caller answers nothing more.
func (g *Guard) Check(ctx context.Context, userID, ip string) (Verdict, error) {
	var v Verdict
	if !g.on() {
		return v, nil
	}
	window := g.Config.Window.Duration
	ipFailures := 0
	if ip != "" {
		n, until, err := g.Store.Attempts(ctx, IPKey(ip), window)
		if err != nil {
			return v, err
		}
		v.IPRefused = !until.IsZero()
		ipFailures = n
	}
	if v.IPRefused {
		return v, nil
	}
	if userID != "" {
		reserved, err := g.Store.ReserveAttempt(ctx, AccountKey(userID), g.Config.MaxFailures, window)
		if err != nil {
			return v, err
		}
		v.Reserved, v.AccountLocked = reserved, !reserved
	}
	// The wait comes after the reads, whether or not the account is locked
	// or known, so it tells nothing about the account either.
	v.Delay = Delay(g.Config.MaxFailures, ipFailures)
	if v.Delay > 0 {
		if err := g.sleep(ctx, v.Delay); err != nil {
			// Nobody will answer: the attempt was never made. The refund
			// must outlive the ended request.
			if rerr := g.Unused(context.WithoutCancel(ctx), userID, v); rerr != nil {
				err = errors.Join(err, rerr)
			}
			return v, fmt.Errorf("lockout: throttled request ended: %w", err)
		}
	}
	return v, nil
}

// Delay is the IP throttle's wait for an IP with failures wrong answers
// within the window, under lockout.max_failures = maxFailures.
func Delay(maxFailures, failures int) time.Duration {
	if maxFailures <= 0 || failures < maxFailures {
		return 0
	}
	d := SlowBase
	for range failures - maxFailures {
		if d >= SlowMax {
			break
		}
		d *= 2
	}
	return min(d, SlowMax)
}

func (g *Guard) sleep(ctx context.Context, d time.Duration) error {
	if g.Sleep != nil {
		return g.Sleep(ctx, d)
	}
	return sleep.For(ctx, d)
}

// Failed reports a wrong answer: it counts against the IP, and against the
// account (when it exists and Check reserved the attempt; "" otherwise) it
// keeps the attempt Check counted. The failure that spends the account's
// last attempt locks it and mails its owner, once.
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
	locked, err := g.Store.LockIfSpent(ctx, AccountKey(userID), g.Config.MaxFailures, window, duration)
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

// Unused gives back the attempt Check reserved when the answer was right,
// or was never judged (a database error, a busy hash): only wrong answers
// use up the account's attempts.
func (g *Guard) Unused(ctx context.Context, userID string, v Verdict) error {
	if !g.on() || userID == "" || !v.Reserved {
		return nil
	}
	return g.Store.RefundAttempt(ctx, AccountKey(userID))
}

// Succeeded forgets the account's failures once a sign-in is complete
// (every factor it needs), unless the account is locked: a lock runs its
// course, and a passkey or magic link sign-in during it does not lift it.
// Not after a first factor: a guesser who has the password must not reset
// the count of wrong TOTP codes with it.
func (g *Guard) Succeeded(ctx context.Context, userID string) error {
	if !g.on() || userID == "" {
		return nil
	}
	return g.Store.ClearFailures(ctx, AccountKey(userID))
}

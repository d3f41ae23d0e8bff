// Package factorrecovery is account recovery when every second factor is
// lost: after proving the address on /recover, the user asks to have their
// TOTP, recovery codes and passkeys removed. The request waits
// recovery.delay; the user is mailed at once, and /account (every signed-in
// session) shows it with a button that cancels it. When the delay has
// passed, a background job on whichever replica claims it first (one
// conditional update) removes the factors in one transaction, ends every
// session, audits and mails. `latchkey user reset-factors` is the admin's
// immediate path and shares Remove.
//
//	GET  /account/factor-recovery         the pending request and its cancel button
//	POST /account/factor-recovery/cancel  cancel it
package factorrecovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"latchkey/account"
	"latchkey/login"
	lkmail "latchkey/mail"
	"latchkey/store"
	"latchkey/templates"
	"latchkey/web"
)

// Store is what recovery reads and changes; store.Store implements it.
type Store interface {
	RequestFactorRecovery(ctx context.Context, r *store.FactorRecovery) (*store.FactorRecovery, bool, error)
	PendingFactorRecovery(ctx context.Context, userID string) (*store.FactorRecovery, error)
	CancelFactorRecovery(ctx context.Context, userID string) (bool, error)
	DueFactorRecoveries(ctx context.Context, limit int) ([]store.FactorRecovery, error)
	ClaimFactorRecovery(ctx context.Context, id string) (bool, error)
	UserByID(ctx context.Context, id string) (*store.User, error)
	Transaction(ctx context.Context, fn func(ctx context.Context) error) error
	Remover
}

// Remover is what Remove changes.
type Remover interface {
	DeleteTOTP(ctx context.Context, userID string) (bool, error)
	DeleteUserPasskeys(ctx context.Context, userID string) (int, error)
	DeactivateSubjectTokens(ctx context.Context, subject string) error
	RevokeUserRememberedBrowsers(ctx context.Context, userID string) (int64, error)
	Audit(ctx context.Context, e store.AuditEvent) error
}

// Removed says what Remove took away.
type Removed struct {
	TOTP     bool // the authenticator app and its recovery codes
	Passkeys int
	Sessions int
}

// Remove takes every second factor of the user away, ends their sessions
// (reason factors_reset), revokes their tokens and remembered browsers and
// audits why. Run it inside a transaction: it is all or nothing.
func Remove(ctx context.Context, st Remover, sessions *login.Sessions, userID, why string) (Removed, error) {
	var out Removed
	var err error
	if out.TOTP, err = st.DeleteTOTP(ctx, userID); err != nil {
		return out, err
	}
	if out.Passkeys, err = st.DeleteUserPasskeys(ctx, userID); err != nil {
		return out, err
	}
	if out.Sessions, err = sessions.EndUser(ctx, userID, login.EndFactorsReset, ""); err != nil {
		return out, err
	}
	if err = st.DeactivateSubjectTokens(ctx, userID); err != nil {
		return out, err
	}
	if _, err = st.RevokeUserRememberedBrowsers(ctx, userID); err != nil {
		return out, err
	}
	detail := fmt.Sprintf("%s: totp=%t passkeys=%d", why, out.TOTP, out.Passkeys)
	err = st.Audit(ctx, store.AuditEvent{UserID: userID, Event: "user.factors_reset", Detail: detail})
	return out, err
}

// Service runs requests, cancellations and the due job.
type Service struct {
	Store    Store
	Sessions *login.Sessions
	Postman  *lkmail.Postman
	Delay    time.Duration // recovery.delay
	Issuer   string        // absolute base URL for the cancel link
	Now      func() time.Time
	Log      *slog.Logger
	Account  *account.Service // for the /account pages
}

// Request asks for the user's second factors to be removed after Delay;
// an existing pending request is kept (and its time returned).
func (s *Service) Request(ctx context.Context, userID, ip string) (*store.FactorRecovery, error) {
	now := s.Now().UTC()
	r, created, err := s.Store.RequestFactorRecovery(ctx, &store.FactorRecovery{
		ID: web.RandomString(nil, 16), UserID: userID, IP: ip, RequestedAt: now, DueAt: now.Add(s.Delay)})
	if err != nil || !created {
		return r, err
	}
	login.Record(ctx, s.Store, s.Log, nil, now, userID, "factor_recovery.requested",
		"due "+r.DueAt.Format(time.RFC3339)+" from "+ip)
	if u, err := s.Store.UserByID(ctx, userID); err == nil {
		_ = s.Postman.Send(ctx, lkmail.FactorRecoveryRequested, u.Email, lkmail.Vars{
			When: now, Until: r.DueAt, IP: ip, Link: s.Issuer + "/account/factor-recovery"})
	}
	return r, nil
}

// Cancel cancels the user's pending request; false when there was none.
func (s *Service) Cancel(ctx context.Context, userID, ip string) (bool, error) {
	ok, err := s.Store.CancelFactorRecovery(ctx, userID)
	if err != nil || !ok {
		return ok, err
	}
	now := s.Now().UTC()
	login.Record(ctx, s.Store, s.Log, nil, now, userID, "factor_recovery.cancelled", "from "+ip)
	if u, err := s.Store.UserByID(ctx, userID); err == nil {
		_ = s.Postman.Send(ctx, lkmail.FactorRecoveryCancelled, u.Email, lkmail.Vars{When: now, IP: ip})
	}
	return true, nil
}

// RunDue carries out the requests whose delay has passed and returns how
// many this call did. Each is claimed by a conditional update inside the
// transaction that removes the factors: with several replicas running it at
// once, each request is carried out exactly once.
func (s *Service) RunDue(ctx context.Context) (int, error) {
	due, err := s.Store.DueFactorRecoveries(ctx, 50)
	if err != nil {
		return 0, err
	}
	done := 0
	for _, r := range due {
		claimed := false
		err := s.Store.Transaction(ctx, func(ctx context.Context) error {
			ok, err := s.Store.ClaimFactorRecovery(ctx, r.ID)
			if err != nil || !ok {
				return err
			}
			claimed = true
			_, err = Remove(ctx, s.Store, s.Sessions, r.UserID,
				"factor recovery requested "+r.RequestedAt.UTC().Format(time.RFC3339)+" after proving the email, delay passed")
			return err
		})
		if err != nil {
			s.log().ErrorContext(ctx, "factor recovery", "request", r.ID, "err", err)
			continue
		}
		if !claimed {
			continue // another replica did it, or it was cancelled
		}
		done++
		if u, err := s.Store.UserByID(ctx, r.UserID); err == nil {
			_ = s.Postman.Send(ctx, lkmail.FactorRecoveryDone, u.Email, lkmail.Vars{When: s.Now().UTC(),
				Detail: "on " + r.RequestedAt.UTC().Format("2006-01-02 15:04 MST")})
		}
	}
	return done, nil
}

// Loop runs RunDue every interval until ctx ends (serve starts it).
func (s *Service) Loop(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := s.RunDue(ctx); err != nil && ctx.Err() == nil {
			s.log().ErrorContext(ctx, "factor recovery job", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

var _ account.Section = (*Service)(nil)

// Overview implements account.Section: the pending request, as a warning
// on /account in every signed-in session.
func (s *Service) Overview(ctx context.Context, userID string) (account.Status, error) {
	r, err := s.Store.PendingFactorRecovery(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return account.Status{}, nil
	}
	if err != nil {
		return account.Status{}, err
	}
	return account.Status{Title: "Second-factor removal",
		Status:  "Requested " + r.RequestedAt.UTC().Format("2006-01-02 15:04 MST"),
		Warning: "Your second factors will be removed on " + r.DueAt.UTC().Format("2006-01-02 15:04 MST") + ". If you did not ask for this, cancel it now.",
		Link:    "/account/factor-recovery", LinkText: "Details",
		Action: "/account/factor-recovery/cancel", ActionText: "Cancel the removal"}, nil
}

// Mount registers the /account routes.
func (s *Service) Mount(r *mux.Router) {
	r.HandleFunc("/account/factor-recovery", s.show).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/account/factor-recovery/cancel", s.cancel).Methods(http.MethodPost)
}

type view struct {
	Pending   bool
	Due       string
	Cancelled bool
}

func (s *Service) show(w http.ResponseWriter, r *http.Request) {
	v, ok := s.Account.RequireUser(w, r)
	if !ok {
		return
	}
	p, err := s.Store.PendingFactorRecovery(r.Context(), v.User.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.Account.Fail(w, r, err)
		return
	}
	data := view{}
	if err == nil {
		data = view{Pending: true, Due: p.DueAt.UTC().Format("2006-01-02 15:04 MST")}
	}
	s.Account.Page(w, http.StatusOK, "account_factor_recovery", v, templates.Page{Title: "Second-factor removal", Data: data})
}

// cancel needs only a signed-in session (any factor): the owner must be
// able to stop a removal they did not ask for from any session they hold.
func (s *Service) cancel(w http.ResponseWriter, r *http.Request) {
	v, ok := s.Account.PostedForm(w, r)
	if !ok {
		return
	}
	if _, err := s.Cancel(r.Context(), v.User.ID, web.ClientIP(r)); err != nil {
		s.Account.Fail(w, r, err)
		return
	}
	s.Account.Page(w, http.StatusOK, "account_factor_recovery", v, templates.Page{Title: "Second-factor removal",
		Notice: "The removal was cancelled. Your second factors stay as they are.", Data: view{Cancelled: true}})
}

package account

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"latchkey/login"
	"latchkey/login/recovery"
	"latchkey/login/totp"
	"latchkey/mail"
	"latchkey/store"
	"latchkey/templates"
	"latchkey/web"
)

// Transactional runs several store calls as one change: calls made with
// the context fn receives join the transaction. store.Store implements it.
type Transactional interface {
	Transaction(ctx context.Context, fn func(ctx context.Context) error) error
}

// TOTPPages are /account/totp, where a user sets up an authenticator app
// (which turns 2FA on) or turns 2FA off, and the app's line on the
// overview.
//
//	GET  /account/totp          off: (recent sign-in) QR code, secret, confirm form; on: status, turn-off form
//	POST /account/totp          confirm the code: 2FA on, first recovery codes shown once
//	POST /account/totp/disable  (recent sign-in with 2FA) remove app and codes, email the user
type TOTPPages struct {
	Account  *Service
	TOTP     *totp.Factor
	Recovery *recovery.Factor
	// TurnOn is the rule for turning 2FA on, shared with the sign-in's
	// enrollment.
	TurnOn  *totp.TurnOn
	Postman *mail.Postman
}

var _ Section = (*TOTPPages)(nil)

// Mount registers the routes.
func (p *TOTPPages) Mount(r *mux.Router) {
	r.HandleFunc("/account/totp", p.show).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/account/totp", p.confirm).Methods(http.MethodPost)
	r.HandleFunc("/account/totp/disable", p.disable).Methods(http.MethodPost)
}

type totpView struct {
	Setup    *totp.SetupView
	Codes    []string
	On       bool
	Since    time.Time
	LastUsed *time.Time
	Warning  string
}

func (p *TOTPPages) show(w http.ResponseWriter, r *http.Request) {
	v, ok := p.Account.RequireUser(w, r)
	if !ok {
		return
	}
	st, err := p.TOTP.State(r.Context(), v.User.ID)
	if err != nil {
		p.Account.Fail(w, r, err)
		return
	}
	if st.On {
		p.renderOn(w, r, http.StatusOK, v, st, "")
		return
	}
	// Adding a factor is a sensitive change too: a borrowed session must
	// not lock the owner out with an app of its own.
	if !p.Account.RequireRecent(w, r, v, "/account/totp") {
		return
	}
	p.renderSetup(w, r, http.StatusOK, v, "")
}

func (p *TOTPPages) renderSetup(w http.ResponseWriter, r *http.Request, status int, v *Viewer, errMsg string) {
	setup, err := p.TOTP.Begin(r.Context(), v.User.ID, v.User.Email, p.Account.Now().UTC())
	if errors.Is(err, totp.ErrAlreadyOn) {
		http.Redirect(w, r, "/account/totp", http.StatusSeeOther)
		return
	}
	if err != nil {
		p.Account.Fail(w, r, err)
		return
	}
	view := totpView{Setup: setup.View()}
	p.Account.Page(w, status, "account_totp", v, templates.Page{Title: "Set up an authenticator app", Error: errMsg, Data: view})
}

func (p *TOTPPages) renderOn(w http.ResponseWriter, r *http.Request, status int, v *Viewer, st totp.State, errMsg string) {
	warning, err := p.checkAppWarning(r.Context(), v.User.ID, st)
	if err != nil {
		p.Account.Fail(w, r, err)
		return
	}
	view := totpView{On: true, Since: st.ConfirmedAt, LastUsed: st.LastUsedAt, Warning: warning}
	p.Account.Page(w, status, "account_totp", v, templates.Page{Title: "Authenticator app", Error: errMsg, Data: view})
}

func (p *TOTPPages) confirm(w http.ResponseWriter, r *http.Request) {
	v, ok := p.Account.PostedRecent(w, r, "/account/totp")
	if !ok {
		return
	}
	ctx := r.Context()
	codes, err := p.TurnOn.Confirm(ctx, r, v.User.ID, v.User.Email, r.PostForm.Get("code"), p.Account.Now().UTC())
	switch {
	case errors.Is(err, login.ErrInvalid):
		p.renderSetup(w, r, http.StatusBadRequest, v,
			"That code does not match. Check that your device's clock is right and enter the code the app shows now.")
		return
	case errors.Is(err, totp.ErrNoPending):
		p.renderSetup(w, r, http.StatusBadRequest, v, err.Error()+".")
		return
	case errors.Is(err, totp.ErrAlreadyOn):
		http.Redirect(w, r, "/account/totp", http.StatusSeeOther)
		return
	case err != nil:
		p.Account.Fail(w, r, err)
		return
	}
	p.Account.Page(w, http.StatusOK, "account_totp", v, templates.Page{Title: "Two-factor authentication is on",
		Notice: "Two-factor authentication is on. Save your recovery codes now.", Data: totpView{Codes: codes}})
}

func (p *TOTPPages) disable(w http.ResponseWriter, r *http.Request) {
	// With 2FA on, "recent" means the password and a TOTP or recovery code
	// within RecentWindow.
	v, ok := p.Account.PostedRecent(w, r, "/account/totp")
	if !ok {
		return
	}
	ctx := r.Context()
	existed, err := p.TOTP.Disable(ctx, v.User.ID)
	if err != nil {
		p.Account.Fail(w, r, err)
		return
	}
	if !existed {
		http.Redirect(w, r, "/account/totp", http.StatusSeeOther)
		return
	}
	p.Account.Audit(r, v.User.ID, "totp.disabled", "authenticator app and recovery codes removed")
	p.notify(ctx, r, v.User, "Two-factor authentication turned off",
		"Two-factor authentication was turned off. Your authenticator app and recovery codes were removed: your password alone now signs you in.")
	p.Account.Page(w, http.StatusOK, "account_totp", v, templates.Page{Title: "Two-factor authentication is off",
		Notice: "Two-factor authentication is off. We emailed you about this change.", Data: totpView{}})
}

// Overview implements Section.
func (p *TOTPPages) Overview(ctx context.Context, userID string) (Status, error) {
	st, err := p.TOTP.State(ctx, userID)
	if err != nil {
		return Status{}, err
	}
	if !st.On {
		return Status{Title: "Authenticator app", Status: "Off: your password alone signs you in", Link: "/account/totp", LinkText: "Set up"}, nil
	}
	warning, err := p.checkAppWarning(ctx, userID, st)
	if err != nil {
		return Status{}, err
	}
	return Status{Title: "Authenticator app", Status: "On since " + st.ConfirmedAt.Format("2006-01-02"),
		Warning: warning, Link: "/account/totp", LinkText: "Manage"}, nil
}

// checkAppWarning is the prompt after a sign-in with a recovery code: while
// the newest second-factor use was a recovery code rather than the app, the
// user is asked to check the app still works.
func (p *TOTPPages) checkAppWarning(ctx context.Context, userID string, st totp.State) (string, error) {
	_, lastRecovery, err := p.Recovery.Stats(ctx, userID)
	if err != nil || lastRecovery == nil {
		return "", err
	}
	if st.LastUsedAt != nil && lastRecovery.Before(*st.LastUsedAt) {
		return "", nil
	}
	return "You last signed in with a recovery code (" + lastRecovery.UTC().Format("2006-01-02 15:04 MST") +
		"). Check that your authenticator app still works; if you lost it, turn two-factor authentication off and set it up again.", nil
}

// notify mails the user a security notice about a change of their sign-in
// methods (HTML and text, with the branding). A failed mail does not undo
// the change, which is already in the audit log.
func (p *TOTPPages) notify(ctx context.Context, r *http.Request, u *store.User, title, detail string) {
	if p.Postman == nil {
		return
	}
	_ = p.Postman.Send(ctx, mail.SecurityNotice, u.Email, mail.Vars{Title: title, Detail: detail,
		When: p.Account.Now().UTC(), IP: web.ClientIP(r)})
}

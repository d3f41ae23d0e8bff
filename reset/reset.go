// Package reset serves /recover, "forgot password": the user proves their
// address with a mailed link or code (the magic-link rules: single use,
// magic_link.ttl, bound to the browser that asked, only the newest works)
// and then chooses a new password. Every session ends, refresh tokens are
// revoked and a mail says so. It never signs the user in: they sign in
// afterwards with the new password and, if they have one, their second
// factor, so a reset never bypasses 2FA.
//
//	GET  /recover?flow=ID            ask for the email
//	POST /recover?flow=ID            mail a link and code (same page for any address)
//	POST /recover/code?flow=ID       the code, typed in the tab that asked
//	GET  /recover/link?t=TOKEN       confirmation page (a prefetch uses nothing)
//	POST /recover/link?t=TOKEN       the button: uses the link, this browser only
//	GET|POST /recover/password?flow=ID  the new password
package reset

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/gorilla/mux"

	"latchkey/emailproof"
	"latchkey/login"
	"latchkey/login/magiclink"
	"latchkey/login/password"
	lkmail "latchkey/mail"
	"latchkey/store"
	"latchkey/templates"
	"latchkey/web"
)

// Users is what a reset reads and changes; store.Store implements it.
type Users interface {
	UserByEmail(ctx context.Context, email string) (*store.User, error)
	SetPasswordHash(ctx context.Context, id, hash string) error
	MarkEmailVerified(ctx context.Context, id string) error
	DeactivateSubjectTokens(ctx context.Context, subject string) error
	RevokeUserRememberedBrowsers(ctx context.Context, userID string) (int64, error)
}

// Handler serves /recover.
type Handler struct {
	Pages   *login.Pages
	Users   Users
	Proofs  *magiclink.Proofs
	Postman *lkmail.Postman
	Hasher  *password.Hasher
	// Issuer is the absolute base URL links in mails start with.
	Issuer string
	// EndSessions ends every session of the user (back-channel logout
	// included); it runs after the new password is committed.
	EndSessions func(ctx context.Context, userID string) error
	// TwoFA tells whether the user has a second factor (for the last page).
	TwoFA func(ctx context.Context, userID string) bool
	// Factors takes a request to remove every second factor after the
	// delay (factor recovery); nil turns the offer off.
	Factors interface {
		Request(ctx context.Context, userID, ip string) (*store.FactorRecovery, error)
	}

	steps *emailproof.Steps
}

// askedKey is where the flow keeps the address a code was last mailed for:
// a typed code counts toward that account's lockout.
const askedKey login.Method = "recover-asked"

type view struct {
	Step    string
	FlowID  string
	Email   string
	Expires string
	Token   string
	TwoFA   bool
	// Factors offers factor recovery on the password step.
	Factors bool
}

// Mount registers the routes.
func (h *Handler) Mount(r *mux.Router) {
	// The proven address waits in the flow under "recover" until the new
	// password is set.
	h.steps = &emailproof.Steps{Pages: h.Pages, Proofs: h.Proofs, Purpose: magiclink.PurposeRecover, Name: "recover",
		// A finished flow is not one to reset a password in.
		Usable:       func(fl *login.Flow) bool { return !fl.LoginDone },
		NoLinkAdvice: "Ask for a new one on the sign-in page (\"Forgot password?\").",
		Show: func(w http.ResponseWriter, browser, scope, step, token string) {
			title := map[string]string{"confirm": "Choose a new password", "elsewhere": "Open the link where you asked"}[step]
			h.render(w, http.StatusOK, browser, scope, title, "", view{Step: step, Token: token})
		}}
	r.HandleFunc("/recover", h.show).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/recover", h.request).Methods(http.MethodPost)
	r.HandleFunc("/recover/code", h.code).Methods(http.MethodPost)
	r.HandleFunc("/recover/link", h.steps.LinkPage).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/recover/link", h.steps.Link).Methods(http.MethodPost)
	r.HandleFunc("/recover/password", h.passwordPage).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/recover/password", h.setPassword).Methods(http.MethodPost)
	r.HandleFunc("/recover/factors", h.factors).Methods(http.MethodPost)
}

// factors asks, with the address proven, for every second factor to be
// removed after recovery.delay. The proof stays for setting the password.
func (h *Handler) factors(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	fl, browser, ok := h.steps.PostedFlow(w, r)
	if !ok {
		return
	}
	p, ok := h.steps.ProvenOf(fl)
	email := p.Email
	if !ok || h.Factors == nil || !h.Pages.Kit.CheckCSRF(r, fl.ID) {
		h.Pages.Expired(w, r, login.ErrFlowNotFound)
		return
	}
	u, err := h.Users.UserByEmail(ctx, email)
	if err != nil || u.Disabled {
		h.Pages.Expired(w, r, login.ErrFlowNotFound)
		return
	}
	req, err := h.Factors.Request(ctx, u.ID, web.ClientIP(r))
	if err != nil {
		h.steps.Unavailable(w, r, err)
		return
	}
	h.Pages.Render.Render(w, http.StatusOK, "recover", templates.Page{Title: "Second-factor removal requested",
		Notice: "Your second factors will be removed on " + req.DueAt.UTC().Format("2006-01-02 15:04 MST") +
			" unless you cancel. We emailed you; any signed-in session can cancel it on the account page.",
		CSRF: h.Pages.Kit.CSRFToken(browser, fl.ID), Data: view{Step: "password", FlowID: fl.ID, Email: email, Factors: true}})
}

func (h *Handler) render(w http.ResponseWriter, status int, browser, scope, title, msg string, v view) {
	h.Pages.Render.Render(w, status, "recover", templates.Page{Title: title, Error: msg,
		CSRF: h.Pages.Kit.CSRFToken(browser, scope), Data: v})
}

func (h *Handler) show(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("flow") == "" {
		h.Pages.StartLocal(w, r, "/recover")
		return
	}
	fl, browser, ok := h.steps.Flow(w, r)
	if !ok {
		return
	}
	h.render(w, http.StatusOK, browser, fl.ID, "Forgot password", "", view{Step: "ask", FlowID: fl.ID, Email: fl.LoginHint})
}

// request mails a link and code. The answer is the same page whether or not
// the address has an account, and the work is the same too (a token is
// stored either way; the mail goes out in the background).
func (h *Handler) request(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	fl, browser, ok := h.steps.PostedFlow(w, r)
	if !ok {
		return
	}
	email := strings.TrimSpace(r.PostForm.Get("identifier"))
	ask := view{Step: "ask", FlowID: fl.ID, Email: email}
	if !h.Pages.Kit.CheckCSRF(r, fl.ID) {
		h.render(w, http.StatusForbidden, browser, fl.ID, "Forgot password", "This form expired. Please try again.", ask)
		return
	}
	if !emailproof.ValidAddress(email) {
		h.render(w, http.StatusBadRequest, browser, fl.ID, "Forgot password", "Enter a valid email address.", ask)
		return
	}
	sent := view{Step: "sent", FlowID: fl.ID, Email: email, Expires: magiclink.Human(h.Proofs.TTL)}
	if !h.steps.Allow(w, r, email, func(msg string) {
		h.render(w, http.StatusTooManyRequests, browser, fl.ID, "Forgot password", msg, ask)
	}, func() {
		h.render(w, http.StatusOK, browser, fl.ID, "Check your email", "", sent)
	}) {
		return
	}
	now := h.Pages.Now().UTC()
	iss, err := h.Proofs.Issue(ctx, magiclink.PurposeRecover, email, fl.ID, nil, now)
	if err != nil {
		h.steps.Unavailable(w, r, err)
		return
	}
	// Kept for every address, known or not: the same write on both paths.
	if _, err := h.Pages.Flows.Apply(ctx, fl.ID, browser, func(fl *login.Flow) error {
		return fl.SetState(askedKey, email)
	}); err != nil {
		h.Pages.Expired(w, r, err)
		return
	}
	u, err := h.Users.UserByEmail(ctx, email)
	userID := ""
	switch {
	case err == nil && !u.Disabled:
		userID = u.ID
		// Background sending: the response does not wait for the mail
		// server, so its timing tells nothing either.
		_ = h.Postman.Send(ctx, lkmail.Recover, u.Email, lkmail.Vars{
			Link: h.Issuer + "/recover/link?t=" + url.QueryEscape(iss.Token), Code: iss.Code,
			Expires: magiclink.Human(h.Proofs.TTL), IP: web.ClientIP(r), When: now})
	case err != nil && !errors.Is(err, store.ErrNotFound):
		h.steps.Unavailable(w, r, err)
		return
	}
	// Audited for unknown addresses too (without a user): the same writes
	// on both paths.
	login.Record(ctx, h.Pages.Audit, h.Pages.Log, r, now, userID, "password.reset_requested", "")
	h.render(w, http.StatusOK, browser, fl.ID, "Check your email", "", sent)
}

// code takes the code typed in the tab that asked.
func (h *Handler) code(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	fl, browser, ok := h.steps.PostedFlow(w, r)
	if !ok {
		return
	}
	sent := view{Step: "sent", FlowID: fl.ID, Expires: magiclink.Human(h.Proofs.TTL)}
	if !h.Pages.Kit.CheckCSRF(r, fl.ID) {
		h.render(w, http.StatusForbidden, browser, fl.ID, "Check your email", "This form expired. Please try again.", sent)
		return
	}
	// The code is a guessable answer for the account it was mailed to: it
	// counts toward that account's lockout and its IP's throttle like a
	// wrong password (the link, clicked, does not).
	target, ip := "", web.ClientIP(r)
	var asked string
	if ok, err := fl.GetState(askedKey, &asked); err == nil && ok && asked != "" {
		u, err := h.Users.UserByEmail(ctx, asked)
		switch {
		case err == nil:
			target = u.ID
		case !errors.Is(err, store.ErrNotFound):
			h.steps.Unavailable(w, r, err)
			return
		}
	}
	guard := h.Pages.Lockout
	v, err := guard.Check(ctx, target, ip)
	if err != nil {
		if ctx.Err() == nil {
			h.steps.Unavailable(w, r, err)
		}
		return
	}
	if v.IPRefused {
		h.Pages.Render.Error(w, http.StatusTooManyRequests, "Too many attempts",
			"There were too many wrong attempts from your network. Please try again later.")
		return
	}
	t, err := h.Proofs.UseCode(ctx, magiclink.PurposeRecover, fl.ID, r.PostForm.Get("code"))
	if err == nil && v.AccountLocked {
		// Right, but the account's guessable factors are locked: the page
		// of a wrong code (the emailed link still works).
		err = magiclink.ErrNoProof
	}
	if errors.Is(err, magiclink.ErrNoProof) {
		failTarget := target
		if v.AccountLocked {
			failTarget = "" // locked already: the IP alone counts
		}
		if err := guard.Failed(context.WithoutCancel(ctx), failTarget, ip); err != nil {
			h.steps.Unavailable(w, r, err)
			return
		}
		login.Record(ctx, h.Pages.Audit, h.Pages.Log, r, h.Pages.Now(), target, "password.reset_code_failed", "")
		h.render(w, http.StatusUnauthorized, browser, fl.ID, "Check your email", magiclink.ErrNoProof.Error(), sent)
		return
	}
	// A right code, or one the database could not judge, gives back the
	// attempt Check counted, and clears nothing else: the sign-in that
	// completes after the new password does (login.Pages.Finish).
	if uerr := guard.Unused(context.WithoutCancel(ctx), target, v); uerr != nil && err == nil {
		err = uerr
	}
	if err != nil {
		h.steps.Unavailable(w, r, err)
		return
	}
	h.steps.Prove(w, r, fl.ID, browser, t)
}

func (h *Handler) passwordPage(w http.ResponseWriter, r *http.Request) {
	fl, browser, p, ok := h.steps.ProvenFlow(w, r)
	if !ok {
		return
	}
	email := p.Email
	h.render(w, http.StatusOK, browser, fl.ID, "Choose a new password", "", view{Step: "password", FlowID: fl.ID, Email: email, Factors: h.Factors != nil})
}

func (h *Handler) setPassword(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if !h.steps.Form(w, r) {
		return
	}
	fl, browser, p, ok := h.steps.ProvenFlow(w, r)
	if !ok {
		return
	}
	email := p.Email
	v := view{Step: "password", FlowID: fl.ID, Email: email}
	if !h.Pages.Kit.CheckCSRF(r, fl.ID) {
		h.render(w, http.StatusForbidden, browser, fl.ID, "Choose a new password", "This form expired. Please try again.", v)
		return
	}
	pw := r.PostForm.Get("password")
	if err := password.CheckNew(pw, email); err != nil {
		h.render(w, http.StatusBadRequest, browser, fl.ID, "Choose a new password",
			"Choose another password: "+password.Reason(err)+".", v)
		return
	}
	u, err := h.Users.UserByEmail(ctx, email)
	if err != nil || u.Disabled {
		// Only a mail to an existing account carries a code, so this is a
		// deleted or disabled account.
		h.Pages.Expired(w, r, login.ErrFlowNotFound)
		return
	}
	hash, err := h.Hasher.Hash(pw)
	if err != nil {
		h.Pages.Fail(w, r, err)
		return
	}
	now := h.Pages.Now().UTC()
	ip := web.ClientIP(r)
	// One transaction: the proof leaves the flow (so it is single-use: a
	// second submission finds none) as the password changes and the
	// refresh tokens die. Ending sessions (back-channel calls) and the mail
	// run after the commit.
	_, err = h.Pages.Flows.Update(ctx, fl.ID, browser, func(tx context.Context, fl *login.Flow) ([]login.AfterCommit, error) {
		if _, ok := h.steps.ProvenOf(fl); !ok {
			return nil, login.ErrFlowNotFound
		}
		delete(fl.State, h.steps.StateKey())
		if err := h.Users.SetPasswordHash(tx, u.ID, hash); err != nil {
			return nil, err
		}
		if err := h.Users.MarkEmailVerified(tx, u.ID); err != nil {
			return nil, err
		}
		if err := h.Users.DeactivateSubjectTokens(tx, u.ID); err != nil {
			return nil, err
		}
		// A remembered browser must not stand in for 2FA after a reset.
		if _, err := h.Users.RevokeUserRememberedBrowsers(tx, u.ID); err != nil {
			return nil, err
		}
		return []login.AfterCommit{
			func(ctx context.Context) {
				if h.EndSessions == nil {
					return
				}
				if err := h.EndSessions(ctx, u.ID); err != nil {
					h.Pages.Log.ErrorContext(ctx, "password reset: end sessions", "err", err)
				}
			},
			func(ctx context.Context) {
				_ = h.Postman.Send(ctx, lkmail.PasswordChanged, u.Email, lkmail.Vars{When: now, IP: ip,
					Detail: "It was reset through a link or code sent to this address; every session was signed out."})
			},
		}, nil
	})
	if errors.Is(err, login.ErrFlowNotFound) {
		h.Pages.Expired(w, r, err)
		return
	}
	if err != nil {
		h.steps.Unavailable(w, r, err)
		return
	}
	login.Record(ctx, h.Pages.Audit, h.Pages.Log, r, now, u.ID, "password.reset", "by email; sessions ended, refresh tokens revoked")
	twoFA := h.TwoFA != nil && h.TwoFA(ctx, u.ID)
	h.render(w, http.StatusOK, browser, fl.ID, "Password changed", "", view{Step: "done", FlowID: fl.ID, TwoFA: twoFA})
}

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
	"net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/mux"

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
}

// stateKey is where the flow keeps a proven address until the new password
// is set.
const stateKey login.Method = "recover"

// askedKey is where the flow keeps the address a code was last mailed for:
// a typed code counts toward that account's lockout.
const askedKey login.Method = "recover-asked"

type proven struct {
	Email string    `json:"email"`
	At    time.Time `json:"at"`
}

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
	r.HandleFunc("/recover", h.show).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/recover", h.request).Methods(http.MethodPost)
	r.HandleFunc("/recover/code", h.code).Methods(http.MethodPost)
	r.HandleFunc("/recover/link", h.linkPage).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/recover/link", h.link).Methods(http.MethodPost)
	r.HandleFunc("/recover/password", h.passwordPage).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/recover/password", h.setPassword).Methods(http.MethodPost)
	r.HandleFunc("/recover/factors", h.factors).Methods(http.MethodPost)
}

// factors asks, with the address proven, for every second factor to be
// removed after recovery.delay. The proof stays for setting the password.
func (h *Handler) factors(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := r.ParseForm(); err != nil {
		h.Pages.Render.Error(w, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	fl, browser, ok := h.flow(w, r)
	if !ok {
		return
	}
	email, ok := h.provenEmail(fl)
	if !ok || h.Factors == nil || !h.Pages.Kit.CheckCSRF(r, fl.ID) {
		h.Pages.Expired(w, login.ErrFlowNotFound)
		return
	}
	u, err := h.Users.UserByEmail(ctx, email)
	if err != nil || u.Disabled {
		h.Pages.Expired(w, login.ErrFlowNotFound)
		return
	}
	req, err := h.Factors.Request(ctx, u.ID, web.ClientIP(r))
	if err != nil {
		h.unavailable(w, r, err)
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

// flow loads the browser's flow; a flow already tied to a user (step-up,
// re-authentication) or finished is not one to reset a password in.
func (h *Handler) flow(w http.ResponseWriter, r *http.Request) (*login.Flow, string, bool) {
	browser := h.Pages.Kit.BrowserID(w, r)
	fl, err := h.Pages.Flows.Get(r.Context(), r.URL.Query().Get("flow"), browser)
	if err == nil && (fl.UserID != "" || fl.LoginDone) {
		err = login.ErrFlowNotFound
	}
	if err != nil {
		h.Pages.Expired(w, err)
		return nil, "", false
	}
	return fl, browser, true
}

func (h *Handler) show(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("flow") == "" {
		h.Pages.StartLocal(w, r, "/recover")
		return
	}
	fl, browser, ok := h.flow(w, r)
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
	if err := r.ParseForm(); err != nil {
		h.Pages.Render.Error(w, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	fl, browser, ok := h.flow(w, r)
	if !ok {
		return
	}
	email := strings.TrimSpace(r.PostForm.Get("identifier"))
	ask := view{Step: "ask", FlowID: fl.ID, Email: email}
	if !h.Pages.Kit.CheckCSRF(r, fl.ID) {
		h.render(w, http.StatusForbidden, browser, fl.ID, "Forgot password", "This form expired. Please try again.", ask)
		return
	}
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email || len(email) > 320 {
		h.render(w, http.StatusBadRequest, browser, fl.ID, "Forgot password", "Enter a valid email address.", ask)
		return
	}
	addrOK, ipOK, err := h.Proofs.Allow(ctx, magiclink.PurposeRecover, email, web.ClientIP(r))
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	if !ipOK {
		h.render(w, http.StatusTooManyRequests, browser, fl.ID, "Forgot password", magiclink.ErrTooMany.Error(), ask)
		return
	}
	sent := view{Step: "sent", FlowID: fl.ID, Email: email, Expires: magiclink.Human(h.Proofs.TTL)}
	if !addrOK {
		// Enough mails to this address lately: the same page, no mail.
		h.render(w, http.StatusOK, browser, fl.ID, "Check your email", "", sent)
		return
	}
	now := h.Pages.Now().UTC()
	iss, err := h.Proofs.Issue(ctx, magiclink.PurposeRecover, email, fl.ID, nil, now)
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	// Kept for every address, known or not: the same write on both paths.
	if _, err := h.Pages.Flows.Apply(ctx, fl.ID, browser, func(fl *login.Flow) error {
		return fl.SetState(askedKey, email)
	}); err != nil {
		h.Pages.Expired(w, err)
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
		h.unavailable(w, r, err)
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
	if err := r.ParseForm(); err != nil {
		h.Pages.Render.Error(w, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	fl, browser, ok := h.flow(w, r)
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
			h.unavailable(w, r, err)
			return
		}
	}
	guard := h.Pages.Lockout
	v, err := guard.Check(ctx, target, ip)
	if err != nil {
		if ctx.Err() == nil {
			h.unavailable(w, r, err)
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
		if err := guard.Failed(ctx, failTarget, ip); err != nil {
			h.unavailable(w, r, err)
			return
		}
		login.Record(ctx, h.Pages.Audit, h.Pages.Log, r, h.Pages.Now(), target, "password.reset_code_failed", "")
		h.render(w, http.StatusUnauthorized, browser, fl.ID, "Check your email", magiclink.ErrNoProof.Error(), sent)
		return
	}
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	// A right code does not clear the account's failures: the sign-in
	// that completes after the new password does (login.Pages.Finish).
	h.proven(w, r, fl.ID, browser, t)
}

// linkPage is what opening the mailed link shows: a button, so a mail
// scanner's GET uses nothing. In a browser other than the one that asked,
// it says to type the code there instead.
func (h *Handler) linkPage(w http.ResponseWriter, r *http.Request) {
	browser := h.Pages.Kit.BrowserID(w, r)
	token := r.URL.Query().Get("t")
	t, err := h.Proofs.Peek(r.Context(), magiclink.PurposeRecover, token)
	if err != nil {
		h.noLink(w, r, err)
		return
	}
	if _, err := h.Pages.Flows.Get(r.Context(), t.FlowID, browser); err != nil {
		h.render(w, http.StatusOK, browser, "", "Open the link where you asked", "", view{Step: "elsewhere"})
		return
	}
	h.render(w, http.StatusOK, browser, "recover-link", "Choose a new password", "", view{Step: "confirm", Token: token})
}

// link is the confirmation button: it uses the link, and only for the flow
// of this browser.
func (h *Handler) link(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := r.ParseForm(); err != nil {
		h.Pages.Render.Error(w, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	browser := h.Pages.Kit.BrowserID(w, r)
	token := r.URL.Query().Get("t")
	if !h.Pages.Kit.CheckCSRF(r, "recover-link") {
		h.Pages.Render.Error(w, http.StatusForbidden, "This page expired", "Open the link from the email again.")
		return
	}
	peek, err := h.Proofs.Peek(ctx, magiclink.PurposeRecover, token)
	if err != nil {
		h.noLink(w, r, err)
		return
	}
	if _, err := h.Pages.Flows.Get(ctx, peek.FlowID, browser); err != nil {
		h.render(w, http.StatusOK, browser, "", "Open the link where you asked", "", view{Step: "elsewhere"})
		return
	}
	t, err := h.Proofs.UseLink(ctx, magiclink.PurposeRecover, token, peek.FlowID)
	if err != nil {
		h.noLink(w, r, err)
		return
	}
	h.proven(w, r, t.FlowID, browser, t)
}

// proven records the proven address in the flow and asks for the password.
func (h *Handler) proven(w http.ResponseWriter, r *http.Request, flowID, browser string, t *store.EmailToken) {
	_, err := h.Pages.Flows.Apply(r.Context(), flowID, browser, func(fl *login.Flow) error {
		return fl.SetState(stateKey, proven{Email: t.Email, At: h.Pages.Now().UTC()})
	})
	if err != nil {
		h.Pages.Expired(w, err)
		return
	}
	http.Redirect(w, r, "/recover/password?flow="+url.QueryEscape(flowID), http.StatusSeeOther)
}

// provenEmail returns the address the flow proved, within the proof's TTL.
func (h *Handler) provenEmail(fl *login.Flow) (string, bool) {
	var p proven
	ok, err := fl.GetState(stateKey, &p)
	if err != nil || !ok || p.Email == "" || h.Pages.Now().UTC().Sub(p.At) > h.Proofs.TTL {
		return "", false
	}
	return p.Email, true
}

func (h *Handler) passwordPage(w http.ResponseWriter, r *http.Request) {
	fl, browser, ok := h.flow(w, r)
	if !ok {
		return
	}
	email, ok := h.provenEmail(fl)
	if !ok {
		h.Pages.Expired(w, login.ErrFlowNotFound)
		return
	}
	h.render(w, http.StatusOK, browser, fl.ID, "Choose a new password", "", view{Step: "password", FlowID: fl.ID, Email: email, Factors: h.Factors != nil})
}

func (h *Handler) setPassword(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := r.ParseForm(); err != nil {
		h.Pages.Render.Error(w, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	fl, browser, ok := h.flow(w, r)
	if !ok {
		return
	}
	email, ok := h.provenEmail(fl)
	if !ok {
		h.Pages.Expired(w, login.ErrFlowNotFound)
		return
	}
	v := view{Step: "password", FlowID: fl.ID, Email: email}
	if !h.Pages.Kit.CheckCSRF(r, fl.ID) {
		h.render(w, http.StatusForbidden, browser, fl.ID, "Choose a new password", "This form expired. Please try again.", v)
		return
	}
	pw := r.PostForm.Get("password")
	if err := password.CheckNew(pw, email); err != nil {
		h.render(w, http.StatusBadRequest, browser, fl.ID, "Choose a new password",
			"Choose another password: "+strings.TrimPrefix(err.Error(), password.ErrWeak.Error()+": ")+".", v)
		return
	}
	u, err := h.Users.UserByEmail(ctx, email)
	if err != nil || u.Disabled {
		// Only a mail to an existing account carries a code, so this is a
		// deleted or disabled account.
		h.Pages.Expired(w, login.ErrFlowNotFound)
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
		if _, ok := h.provenEmail(fl); !ok {
			return nil, login.ErrFlowNotFound
		}
		delete(fl.State, stateKey)
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
					h.Pages.Log.Error("password reset: end sessions", "err", err)
				}
			},
			func(ctx context.Context) {
				_ = h.Postman.Send(ctx, lkmail.PasswordChanged, u.Email, lkmail.Vars{When: now, IP: ip,
					Detail: "It was reset through a link or code sent to this address; every session was signed out."})
			},
		}, nil
	})
	if errors.Is(err, login.ErrFlowNotFound) {
		h.Pages.Expired(w, err)
		return
	}
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	login.Record(ctx, h.Pages.Audit, h.Pages.Log, r, now, u.ID, "password.reset", "by email; sessions ended, refresh tokens revoked")
	twoFA := h.TwoFA != nil && h.TwoFA(ctx, u.ID)
	h.render(w, http.StatusOK, browser, fl.ID, "Password changed", "", view{Step: "done", FlowID: fl.ID, TwoFA: twoFA})
}

func (h *Handler) noLink(w http.ResponseWriter, r *http.Request, err error) {
	if !errors.Is(err, magiclink.ErrNoProof) {
		h.unavailable(w, r, err)
		return
	}
	h.Pages.Render.Error(w, http.StatusBadRequest, "This link is not valid",
		"It was already used, expired, or a newer email replaced it. Ask for a new one on the sign-in page (\"Forgot password?\").")
}

// unavailable answers a failing database: 503, never a false success.
func (h *Handler) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	h.Pages.Log.ErrorContext(r.Context(), "recover", "path", r.URL.Path, "err", err)
	h.Pages.Render.Error(w, http.StatusServiceUnavailable, "Temporarily unavailable", "Please try again in a moment.")
}

package magiclink

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	netmail "net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"latchkey/login"
	lkmail "latchkey/mail"
	"latchkey/store"
	"latchkey/templates"
	"latchkey/web"
)

// Users is what the factor reads and marks; store.Store implements it.
type Users interface {
	UserByEmail(ctx context.Context, email string) (*store.User, error)
	UserByID(ctx context.Context, id string) (*store.User, error)
	MarkEmailVerified(ctx context.Context, id string) error
}

// Factor is the magic link: a mail with a link and a code. As a first
// factor it identifies the user (amr email, acr 1fa); with
// magic_link.second_factor it may also follow a password for a user
// without TOTP or passkey (amr pwd email mfa). It never turns 2FA on.
type Factor struct {
	Proofs  *Proofs
	Users   Users
	Postman *lkmail.Postman
	Pages   *login.Pages // for the link's own routes
	Issuer  string       // absolute base URL of links
	// AsSecond is magic_link.second_factor.
	AsSecond bool
	// HasStrong tells whether the user has TOTP or a passkey: such users
	// are asked for those, never an emailed code, as their second factor.
	HasStrong func(ctx context.Context, userID string) (bool, error)
	Log       *slog.Logger
}

var (
	_ login.GuessTarget = (*Factor)(nil)
	_ login.Factor      = (*Factor)(nil)
	_ login.Identifier  = (*Factor)(nil)
	_ login.Enrollable  = (*Factor)(nil)
	_ login.Challenger  = (*Factor)(nil)
	_ login.StepViewer  = (*Factor)(nil)
)

// Method implements login.Factor.
func (f *Factor) Method() login.Method { return login.MethodMagicLink }

// Identifies implements login.Identifier.
func (f *Factor) Identifies() {}

// Enrolled implements login.Enrollable: after the user is known, an emailed
// code is offered only as the second factor the config allows, to users
// without a stronger one.
func (f *Factor) Enrolled(ctx context.Context, userID string) (bool, error) {
	if !f.AsSecond {
		return false, nil
	}
	if f.HasStrong == nil {
		return true, nil
	}
	strong, err := f.HasStrong(ctx, userID)
	return !strong, err
}

// pending is the flow's record of a sent mail, for the page.
type pending struct {
	Email string    `json:"email"`
	At    time.Time `json:"at"`
}

// StepView implements login.StepViewer: once a mail was asked for, the
// page shows the code form.
func (f *Factor) StepView(fl *login.Flow) any {
	var p pending
	if ok, err := fl.GetState(login.MethodMagicLink, &p); err != nil || !ok {
		return nil
	}
	return map[string]string{"Email": p.Email, "Expires": Human(f.Proofs.TTL)}
}

// GuessTarget implements login.GuessTarget: a typed code counts against
// the lockout of the address the flow asked a mail for.
func (f *Factor) GuessTarget(fl *login.Flow) string {
	var p pending
	if ok, err := fl.GetState(login.MethodMagicLink, &p); err != nil || !ok {
		return ""
	}
	return p.Email
}

// WantsChallenge implements login.Challenger: a post without a code asks
// for a mail.
func (f *Factor) WantsChallenge(form url.Values) bool {
	return strings.TrimSpace(form.Get("code")) == ""
}

type formError string

func (e formError) Error() string        { return string(e) }
func (e formError) Is(target error) bool { return target == login.ErrUnavailable }

// tooMany is the per-IP limit's refusal: the page says ErrTooMany, the
// login pages answer it 429 (login.ErrTooManyRequests). It comes before
// the address is looked at, so it is the same for every address.
type tooMany struct{}

func (tooMany) Error() string { return ErrTooMany.Error() }
func (tooMany) Is(target error) bool {
	return target == login.ErrTooManyRequests || target == ErrTooMany
}

// Challenge implements login.Challenger: it stores a new proof for the
// address (whether or not it has an account, so the work is the same) and
// mails it after the commit to an account that exists. The answer is the
// same redirect either way.
func (f *Factor) Challenge(ctx context.Context, fl *login.Flow, r *http.Request) (any, []login.AfterCommit, error) {
	email := strings.TrimSpace(r.PostForm.Get("identifier"))
	if fl.UserID != "" {
		// Second factor: the account's own address, never a typed one.
		u, err := f.Users.UserByID(ctx, fl.UserID)
		if err != nil {
			return nil, nil, err
		}
		email = u.Email
	} else if a, err := netmail.ParseAddress(email); err != nil || a.Address != email || len(email) > 320 {
		return nil, nil, formError("Enter a valid email address.")
	}
	addrOK, ipOK, err := f.Proofs.Allow(ctx, PurposeLogin, email, web.ClientIP(r))
	if err != nil {
		return nil, nil, err
	}
	if !ipOK {
		return nil, nil, tooMany{}
	}
	now := time.Now().UTC()
	if f.Pages != nil && f.Pages.Now != nil {
		now = f.Pages.Now().UTC()
	}
	if err := fl.SetState(login.MethodMagicLink, pending{Email: email, At: now}); err != nil {
		return nil, nil, err
	}
	if !addrOK {
		// Enough mails to this address lately: the same answer, no mail.
		return nil, nil, nil
	}
	iss, err := f.Proofs.Issue(ctx, PurposeLogin, email, fl.ID, nil, now)
	if err != nil {
		return nil, nil, err
	}
	u, err := f.Users.UserByEmail(ctx, email)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, nil, err
	}
	// The letter is written for unknown addresses too (and discarded), so
	// both paths do the same work.
	m, err := f.Postman.Letters.Write(lkmail.MagicLink, email, lkmail.Vars{
		Link: f.Issuer + "/login/email?t=" + url.QueryEscape(iss.Token), Code: iss.Code,
		Expires: Human(f.Proofs.TTL), IP: web.ClientIP(r), When: now})
	if err != nil {
		return nil, nil, err
	}
	if u == nil || u.Disabled {
		return nil, nil, nil
	}
	send := func(ctx context.Context) {
		if err := f.Postman.Mailer.Send(ctx, m); err != nil {
			f.log().ErrorContext(ctx, "magic link mail", "err", err)
		}
	}
	return nil, []login.AfterCommit{send}, nil
}

// Verify implements login.Factor: the code typed in the tab that asked.
func (f *Factor) Verify(ctx context.Context, a login.Attempt) (login.Result, error) {
	t, err := f.Proofs.UseCode(ctx, PurposeLogin, a.Flow.ID, a.Form.Get("code"))
	if errors.Is(err, ErrNoProof) {
		return login.Result{}, wrongCode{}
	}
	if err != nil {
		return login.Result{}, err
	}
	return f.result(ctx, a.Flow, t, a.Now)
}

type wrongCode struct{}

func (wrongCode) Error() string {
	return "That code is not valid: it may be mistyped, used, expired, or replaced by a newer email."
}
func (wrongCode) Is(target error) bool { return target == login.ErrInvalid }

// result turns a used proof into the flow's result: the address's account,
// now verified.
func (f *Factor) result(ctx context.Context, fl *login.Flow, t *store.EmailToken, now time.Time) (login.Result, error) {
	u, err := f.Users.UserByEmail(ctx, t.Email)
	if errors.Is(err, store.ErrNotFound) {
		return login.Result{}, wrongCode{}
	}
	if err != nil {
		return login.Result{}, err
	}
	if u.Disabled || (fl.UserID != "" && fl.UserID != u.ID) {
		return login.Result{}, wrongCode{}
	}
	if !u.EmailVerified {
		if err := f.Users.MarkEmailVerified(ctx, u.ID); err != nil {
			return login.Result{}, err
		}
	}
	return login.Result{Method: login.MethodMagicLink, UserID: u.ID, At: now}, nil
}

// Mount registers the link's routes:
//
//	GET  /login/email?t=TOKEN  a confirmation page (mail scanners' prefetch uses nothing)
//	POST /login/email?t=TOKEN  its button (method=magic_link): signs in this browser's flow only
func (f *Factor) Mount(r *mux.Router) {
	r.HandleFunc("/login/email", f.linkPage).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/login/email", f.link).Methods(http.MethodPost)
}

type linkView struct {
	Step  string // confirm, elsewhere
	Token string
	// client is the flow's client, whose redirect origin the confirming
	// form's redirects end at (CSP form-action).
	client string
}

func (f *Factor) linkPage(w http.ResponseWriter, r *http.Request) {
	browser := f.Pages.Kit.BrowserID(w, r)
	token := r.URL.Query().Get("t")
	t, err := f.Proofs.Peek(r.Context(), PurposeLogin, token)
	if err != nil {
		f.noLink(w, r, err)
		return
	}
	fl, err := f.Pages.Flows.Get(r.Context(), t.FlowID, browser)
	if err != nil {
		f.render(w, browser, linkView{Step: "elsewhere"})
		return
	}
	f.render(w, browser, linkView{Step: "confirm", Token: token, client: fl.ClientID})
}

func (f *Factor) link(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	browser := f.Pages.Kit.BrowserID(w, r)
	if err := r.ParseForm(); err != nil {
		f.Pages.Render.Error(w, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	if !f.Pages.Kit.CheckCSRF(r, "magic-link") || r.PostForm.Get("method") != string(login.MethodMagicLink) {
		f.Pages.Render.Error(w, http.StatusForbidden, "This page expired", "Open the link from the email again.")
		return
	}
	token := r.URL.Query().Get("t")
	peek, err := f.Proofs.Peek(ctx, PurposeLogin, token)
	if err != nil {
		f.noLink(w, r, err)
		return
	}
	fl, err := f.Pages.Flows.Get(ctx, peek.FlowID, browser)
	if err != nil {
		f.render(w, browser, linkView{Step: "elsewhere"})
		return
	}
	if !fl.CanLogin() {
		f.Pages.Expired(w, r, login.ErrFlowNotFound)
		return
	}
	// The conditional update names the flow: only the browser that asked
	// can use the link, once.
	t, err := f.Proofs.UseLink(ctx, PurposeLogin, token, fl.ID)
	if err != nil {
		f.noLink(w, r, err)
		return
	}
	res, err := f.result(ctx, fl, t, f.Pages.Now().UTC())
	if err != nil {
		if errors.Is(err, login.ErrInvalid) {
			f.noLink(w, r, ErrNoProof)
			return
		}
		f.Pages.Fail(w, r, err)
		return
	}
	f.Pages.Complete(w, r, fl.ID, browser, f, res)
}

func (f *Factor) render(w http.ResponseWriter, browser string, v linkView) {
	title := "Sign in"
	if v.Step == "elsewhere" {
		title = "Open the link where you asked"
	}
	f.Pages.Render.Render(w, http.StatusOK, "login_email", templates.Page{Title: title,
		CSRF: f.Pages.Kit.CSRFToken(browser, "magic-link"), Client: v.client, Data: v})
}

func (f *Factor) noLink(w http.ResponseWriter, r *http.Request, err error) {
	if !errors.Is(err, ErrNoProof) {
		f.Pages.Fail(w, r, err)
		return
	}
	f.Pages.Render.Error(w, http.StatusBadRequest, "This sign-in link is not valid",
		"It was already used, expired, or a newer email replaced it. Ask for a new one on the sign-in page.")
}

func (f *Factor) log() *slog.Logger {
	if f.Log != nil {
		return f.Log
	}
	return slog.Default()
}

package signup

import (
	"context"
	"encoding/json"
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

// Users creates accounts; store.Store implements it.
type Users interface {
	CreateUser(ctx context.Context, u *store.User) error
	UserByEmail(ctx context.Context, email string) (*store.User, error)
}

// Handler serves /signup.
type Handler struct {
	Pages   *login.Pages
	Users   Users
	Hasher  *password.Hasher
	Proofs  *magiclink.Proofs
	Postman *lkmail.Postman
	// Issuer is the absolute base URL links in mails start with.
	Issuer string

	steps *emailproof.Steps
}

// Mount registers the routes:
//
//	GET|POST /signup?flow=ID          the email (and a name); POST mails a link and code
//	POST     /signup/code?flow=ID     the code, in the tab that asked
//	GET|POST /signup/link?t=TOKEN     the mailed link: a confirmation page, then its button
//	GET|POST /signup/password?flow=ID the password, once the address is proven
func (h *Handler) Mount(r *mux.Router) {
	// The proven address (and the name given) waits in the flow under
	// "signup" until the password is set.
	h.steps = &emailproof.Steps{Pages: h.Pages, Proofs: h.Proofs, Purpose: magiclink.PurposeSignup, Name: "signup",
		// Step-ups and re-authentications are for an existing account.
		Usable:       (*login.Flow).CanLogin,
		NoLinkAdvice: "Start the sign-up again.",
		Show: func(w http.ResponseWriter, browser, scope, step, token string) {
			h.render(w, http.StatusOK, browser, scope, "", view{Step: step, Token: token})
		}}
	r.HandleFunc("/signup", h.show).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/signup", h.request).Methods(http.MethodPost)
	r.HandleFunc("/signup/code", h.code).Methods(http.MethodPost)
	r.HandleFunc("/signup/link", h.steps.LinkPage).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/signup/link", h.steps.Link).Methods(http.MethodPost)
	r.HandleFunc("/signup/password", h.passwordPage).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/signup/password", h.create).Methods(http.MethodPost)
}

type view struct {
	Step    string // ask, sent, confirm, elsewhere, password
	FlowID  string
	Email   string
	Name    string
	Expires string
	Token   string
	// Passkeys loads the script that tells the server the browser can make
	// a passkey (for the suggestion after sign-up).
	Passkeys bool
	// client is the flow's application on the password step, whose POST
	// may end in a redirect to it: the page's CSP form-action must allow
	// that client's redirect origins (templates.Page.Client).
	client string
}

func (h *Handler) render(w http.ResponseWriter, status int, browser, scope, msg string, v view) {
	_, v.Passkeys = h.Pages.Factor(login.MethodPasskey)
	title := map[string]string{"sent": "Check your email", "elsewhere": "Open the link where you asked",
		"password": "Choose a password"}[v.Step]
	if title == "" {
		title = "Create an account"
	}
	h.Pages.Render.Render(w, status, "signup", templates.Page{Title: title, Error: msg,
		CSRF: h.Pages.Kit.CSRFToken(browser, scope), Client: v.client, Data: v})
}

func (h *Handler) show(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("flow") == "" {
		h.Pages.StartLocal(w, r, "/signup")
		return
	}
	fl, browser, ok := h.steps.Flow(w, r)
	if !ok {
		return
	}
	h.render(w, http.StatusOK, browser, fl.ID, "", view{Step: "ask", FlowID: fl.ID, Email: fl.LoginHint})
}

// request mails a link and a code to a new address, or "you already have
// an account" to a taken one. The page, and the work behind it, are the
// same either way: the mail, not the page, tells an existing user.
func (h *Handler) request(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	fl, browser, ok := h.steps.PostedFlow(w, r)
	if !ok {
		return
	}
	email := strings.TrimSpace(r.PostForm.Get("identifier"))
	ask := view{Step: "ask", FlowID: fl.ID, Email: email, Name: r.PostForm.Get("name")}
	if !h.Pages.Kit.CheckCSRF(r, fl.ID) {
		h.render(w, http.StatusForbidden, browser, fl.ID, "This form expired. Please try again.", ask)
		return
	}
	if !emailproof.ValidAddress(email) {
		h.render(w, http.StatusBadRequest, browser, fl.ID, "Enter a valid email address.", ask)
		return
	}
	name, err := store.CleanName(r.PostForm.Get("name"))
	if err != nil {
		h.render(w, http.StatusBadRequest, browser, fl.ID, "Your name is "+err.Error()+".", ask)
		return
	}
	sent := view{Step: "sent", FlowID: fl.ID, Email: email, Expires: magiclink.Human(h.Proofs.TTL)}
	if !h.steps.Allow(w, r, email, func(msg string) {
		h.render(w, http.StatusTooManyRequests, browser, fl.ID, msg, ask)
	}, func() {
		h.render(w, http.StatusOK, browser, fl.ID, "", sent)
	}) {
		return
	}
	now := h.Pages.Now().UTC()
	data, _ := json.Marshal(emailproof.Proven{Email: email, Name: name})
	iss, err := h.Proofs.Issue(ctx, magiclink.PurposeSignup, email, fl.ID, data, now)
	if err != nil {
		h.steps.Unavailable(w, r, err)
		return
	}
	u, err := h.Users.UserByEmail(ctx, email)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		h.steps.Unavailable(w, r, err)
		return
	}
	vars := lkmail.Vars{Expires: magiclink.Human(h.Proofs.TTL), IP: web.ClientIP(r), When: now}
	kind := lkmail.Signup
	if u != nil {
		// The account exists: its owner is told to sign in; the proof
		// stored above is never sent (so the two paths do the same work).
		kind, vars.Link = lkmail.SignupExisting, h.Issuer+"/login"
	} else {
		vars.Link, vars.Code = h.Issuer+"/signup/link?t="+url.QueryEscape(iss.Token), iss.Code
	}
	_ = h.Postman.Send(ctx, kind, email, vars) // in the background
	h.render(w, http.StatusOK, browser, fl.ID, "", sent)
}

func (h *Handler) code(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	fl, browser, ok := h.steps.PostedFlow(w, r)
	if !ok {
		return
	}
	sent := view{Step: "sent", FlowID: fl.ID, Expires: magiclink.Human(h.Proofs.TTL)}
	if !h.Pages.Kit.CheckCSRF(r, fl.ID) {
		h.render(w, http.StatusForbidden, browser, fl.ID, "This form expired. Please try again.", sent)
		return
	}
	t, err := h.Proofs.UseCode(ctx, magiclink.PurposeSignup, fl.ID, r.PostForm.Get("code"))
	if errors.Is(err, magiclink.ErrNoProof) {
		h.render(w, http.StatusUnauthorized, browser, fl.ID, magiclink.ErrNoProof.Error(), sent)
		return
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
	h.render(w, http.StatusOK, browser, fl.ID, "", view{Step: "password", FlowID: fl.ID, Email: p.Email, client: fl.ClientID})
}

// create makes the account with its proven (verified) address, the name
// given and the password, and signs it in with the password factor.
func (h *Handler) create(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if !h.steps.Form(w, r) {
		return
	}
	fl, browser, p, ok := h.steps.ProvenFlow(w, r)
	if !ok {
		return
	}
	v := view{Step: "password", FlowID: fl.ID, Email: p.Email, client: fl.ClientID}
	if !h.Pages.Kit.CheckCSRF(r, fl.ID) {
		h.render(w, http.StatusForbidden, browser, fl.ID, "This form expired. Please try again.", v)
		return
	}
	pw := r.PostForm.Get("password")
	if err := password.CheckNew(pw, p.Email); err != nil {
		h.render(w, http.StatusBadRequest, browser, fl.ID, "Choose another password: "+password.Reason(err)+".", v)
		return
	}
	hash, err := h.Hasher.Hash(pw)
	if err != nil {
		h.Pages.Fail(w, r, err)
		return
	}
	u := &store.User{ID: web.RandomString(nil, 16), Email: p.Email, Name: p.Name, PasswordHash: hash, EmailVerified: true}
	res := login.Result{Method: login.MethodPassword, UserID: u.ID, At: h.Pages.Now().UTC()}
	flowID := fl.ID
	// The account and the flow change together: the proof leaves the flow
	// (single use) as the account appears and signs in.
	fl, err = h.Pages.Flows.Update(ctx, flowID, browser, func(tx context.Context, fl *login.Flow) ([]login.AfterCommit, error) {
		if _, ok := h.steps.ProvenOf(fl); !ok || fl.UserID != "" || !fl.CanLogin() {
			return nil, login.ErrFlowNotFound
		}
		if err := h.Users.CreateUser(tx, u); err != nil {
			return nil, err
		}
		delete(fl.State, h.steps.StateKey())
		return nil, fl.AddResult(res)
	})
	switch {
	case errors.Is(err, store.ErrConflict):
		h.render(w, http.StatusConflict, browser, flowID, "An account with this email already exists. Sign in instead.", v)
		return
	case errors.Is(err, login.ErrFlowNotFound):
		h.Pages.Expired(w, r, err)
		return
	case err != nil:
		h.steps.Unavailable(w, r, err)
		return
	}
	login.Record(ctx, h.Pages.Audit, h.Pages.Log, r, h.Pages.Now(), u.ID, "user.signup", "address proven by email")
	h.Pages.Continue(w, r, fl, browser)
}

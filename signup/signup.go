package signup

import (
	"context"
	"errors"
	"net/http"
	"net/mail"
	"strings"

	"github.com/gorilla/mux"

	"latchkey/login"
	"latchkey/login/password"
	"latchkey/store"
	"latchkey/templates"
	"latchkey/web"
)

// Users creates accounts; store.Store implements it.
type Users interface {
	CreateUser(ctx context.Context, u *store.User) error
}

// Handler serves /signup.
type Handler struct {
	Pages  *login.Pages
	Users  Users
	Hasher *password.Hasher
}

// Mount registers /signup.
func (h *Handler) Mount(r *mux.Router) {
	r.HandleFunc("/signup", h.show).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/signup", h.submit).Methods(http.MethodPost)
}

type view struct {
	FlowID string
	Email  string
	// Passkeys loads the script that tells the server the browser can make
	// a passkey (for the suggestion after sign-up).
	Passkeys bool
}

func (h *Handler) flow(w http.ResponseWriter, r *http.Request) (*login.Flow, string, bool) {
	browser := h.Pages.Kit.BrowserID(w, r)
	fl, err := h.Pages.Flows.Get(r.Context(), r.URL.Query().Get("flow"), browser)
	if err == nil && (fl.UserID != "" || fl.LoginDone) {
		// Step-ups and re-authentications are for an existing account.
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
		h.Pages.StartLocal(w, r, "/signup")
		return
	}
	fl, browser, ok := h.flow(w, r)
	if !ok {
		return
	}
	h.render(w, http.StatusOK, fl, browser, "", fl.LoginHint)
}

func (h *Handler) render(w http.ResponseWriter, status int, fl *login.Flow, browser, msg, email string) {
	_, passkeys := h.Pages.Factor(login.MethodPasskey)
	h.Pages.Render.Render(w, status, "signup", templates.Page{Title: "Create an account", Error: msg,
		CSRF: h.Pages.Kit.CSRFToken(browser, fl.ID), Data: view{FlowID: fl.ID, Email: email, Passkeys: passkeys}})
}

func (h *Handler) submit(w http.ResponseWriter, r *http.Request) {
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
	if !h.Pages.Kit.CheckCSRF(r, fl.ID) {
		h.render(w, http.StatusForbidden, fl, browser, "This form expired. Please try again.", email)
		return
	}
	if addr, err := mail.ParseAddress(email); err != nil || addr.Address != email {
		h.render(w, http.StatusBadRequest, fl, browser, "Enter a valid email address.", email)
		return
	}
	pw := r.PostForm.Get("password")
	if err := password.CheckNew(pw, email); err != nil {
		h.render(w, http.StatusBadRequest, fl, browser, "Choose another password: "+strings.TrimPrefix(err.Error(), password.ErrWeak.Error()+": ")+".", email)
		return
	}
	hash, err := h.Hasher.Hash(pw)
	if err != nil {
		h.Pages.Fail(w, r, err)
		return
	}
	u := &store.User{ID: web.RandomString(nil, 16), Email: email, PasswordHash: hash}
	if err := h.Users.CreateUser(ctx, u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			h.render(w, http.StatusConflict, fl, browser, "An account with this email already exists. Sign in instead.", email)
			return
		}
		h.Pages.Fail(w, r, err)
		return
	}
	login.Record(ctx, h.Pages.Audit, h.Pages.Log, r, h.Pages.Now(), u.ID, "user.signup", "")
	res := login.Result{Method: login.MethodPassword, UserID: u.ID, At: h.Pages.Now().UTC()}
	fl, err = h.Pages.Flows.Apply(ctx, fl.ID, browser, func(fl *login.Flow) error {
		if fl.UserID != "" || fl.LoginDone {
			return login.ErrFlowNotFound
		}
		fl.UserID, fl.Results = u.ID, []login.Result{res}
		return nil
	})
	if err != nil {
		h.Pages.Expired(w, err)
		return
	}
	h.Pages.Continue(w, r, fl, browser)
}

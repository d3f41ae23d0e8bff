package consent

import (
	"context"
	"net/http"
	"slices"

	"github.com/gorilla/mux"

	"latchkey/login"
	"latchkey/templates"
	"latchkey/web"
)

// Store keeps remembered grants; store.Store implements it.
type Store interface {
	GrantedScopes(ctx context.Context, userID, clientID string) ([]string, error)
	RememberConsent(ctx context.Context, userID, clientID string, scopes []string) error
}

// Service checks and records consent, and serves /consent.
type Service struct {
	Store      Store
	Flows      *login.Flows
	Sessions   *login.Sessions
	Kit        *web.Kit
	Render     *templates.Renderer
	ClientName func(clientID string) string
	Emails     func(ctx context.Context, userID string) string
}

// Granted reports whether every scope was granted before.
func (s *Service) Granted(ctx context.Context, userID, clientID string, scopes []string) (bool, error) {
	have, err := s.Store.GrantedScopes(ctx, userID, clientID)
	if err != nil {
		return false, err
	}
	for _, sc := range scopes {
		if !slices.Contains(have, sc) {
			return false, nil
		}
	}
	return true, nil
}

// Mount registers /consent.
func (s *Service) Mount(r *mux.Router) {
	r.HandleFunc("/consent", s.show).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/consent", s.submit).Methods(http.MethodPost)
}

// scopeText says in words what each scope lets the client do.
var scopeText = map[string]string{
	"openid":         "Know who you are when you sign in",
	"profile":        "See your name",
	"email":          "See your email address",
	"offline_access": "Stay connected when you are not using it",
}

func describe(scopes []string) []string {
	out := make([]string, 0, len(scopes))
	for _, sc := range scopes {
		if t, ok := scopeText[sc]; ok {
			out = append(out, t)
		} else {
			out = append(out, sc)
		}
	}
	return out
}

type view struct {
	FlowID     string
	ClientName string
	Scopes     []string
	Email      string
}

func (s *Service) flow(w http.ResponseWriter, r *http.Request) (*login.Flow, string, bool) {
	browser := s.Kit.BrowserID(w, r)
	fl, err := s.Flows.Get(r.Context(), r.URL.Query().Get("flow"), browser)
	if err == nil {
		// Consent speaks for the session the flow signed in; on a shared
		// browser another user may have signed in since.
		var cur *login.Session
		if cur, err = s.Sessions.Current(r.Context(), r); err == nil && (cur == nil || cur.Hash != fl.SessionHash) {
			err = login.ErrFlowNotFound
		}
	}
	if err != nil || !fl.CanConsent() {
		s.Render.Error(w, http.StatusBadRequest, "This request has expired",
			"The page was open too long, was already used, or was opened in another browser.")
		return nil, "", false
	}
	return fl, browser, true
}

func (s *Service) show(w http.ResponseWriter, r *http.Request) {
	fl, browser, ok := s.flow(w, r)
	if !ok {
		return
	}
	s.render(w, r, http.StatusOK, fl, browser, "")
}

func (s *Service) render(w http.ResponseWriter, r *http.Request, status int, fl *login.Flow, browser, msg string) {
	email := s.Emails(r.Context(), fl.UserID)
	s.Render.Render(w, status, "consent", templates.Page{
		Title: "Allow access", Error: msg, CSRF: s.Kit.CSRFToken(browser, fl.ID), SignedIn: email, Client: fl.ClientID,
		Data: view{FlowID: fl.ID, ClientName: s.ClientName(fl.ClientID), Scopes: describe(fl.Scopes), Email: email},
	})
}

func (s *Service) submit(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.Render.Error(w, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	fl, browser, ok := s.flow(w, r)
	if !ok {
		return
	}
	if !s.Kit.CheckCSRF(r, fl.ID) {
		s.render(w, r, http.StatusForbidden, fl, browser, "This form expired. Please choose again.")
		return
	}
	decision := r.PostForm.Get("decision")
	if decision != "allow" && decision != "deny" {
		s.render(w, r, http.StatusBadRequest, fl, browser, "Choose Allow or Deny.")
		return
	}
	if decision == "allow" {
		if err := s.Store.RememberConsent(r.Context(), fl.UserID, fl.ClientID, fl.Scopes); err != nil {
			s.Render.Error(w, http.StatusServiceUnavailable, "Something went wrong", "Please try again in a moment.")
			return
		}
	}
	fl, err := s.Flows.Apply(r.Context(), fl.ID, browser, func(fl *login.Flow) error {
		if decision == "allow" {
			return fl.Grant()
		}
		return fl.Deny()
	})
	if err != nil {
		s.Render.Error(w, http.StatusBadRequest, "This request has expired", "Go back to the application and try again.")
		return
	}
	http.Redirect(w, r, s.Flows.ReturnURL(fl), http.StatusSeeOther)
}

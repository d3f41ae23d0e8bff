package account

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/gorilla/mux"

	"latchkey/login"
	"latchkey/store"
	"latchkey/templates"
	"latchkey/web"
)

// RecentWindow is how fresh a proof a sensitive change needs.
const RecentWindow = 5 * time.Minute

// Store is what the overview reads and its revocations change.
type Store interface {
	UserByID(ctx context.Context, id string) (*store.User, error)
	RecentEvents(ctx context.Context, userID string, limit int) ([]store.AuditEvent, error)
	ListConsents(ctx context.Context, userID string) ([]store.ConsentGrant, error)
	ForgetConsent(ctx context.Context, userID, clientID string) error
	DeactivateClientTokens(ctx context.Context, subject, clientID string) error
	SetUserName(ctx context.Context, id, name string) error
	Transactional
}

// Section is one factor's line on the overview; factor packages provide
// them.
type Section interface {
	Overview(ctx context.Context, userID string) (Status, error)
}

// Status is what the overview shows for a factor.
type Status struct {
	Title    string
	Status   string
	Warning  string
	Link     string
	LinkText string
	// Action, when set, is a POST button on the overview itself (with the
	// account CSRF token) for what must take one click, such as cancelling
	// a pending factor removal.
	Action     string
	ActionText string
}

// Service serves /account.
type Service struct {
	Login    *login.Service
	Store    Store
	Kit      *web.Kit
	Render   *templates.Renderer
	Sections []Section
	// ClientName names a relying party for the apps list and the activity.
	ClientName func(clientID string) string
	Log        *slog.Logger
	Now        func() time.Time
}

// Mount registers the overview; factor pages mount their own routes with
// the helpers below.
func (s *Service) Mount(r *mux.Router) {
	r.HandleFunc("/account", s.overview).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc(revokeSessionPath, s.revokeSession).Methods(http.MethodPost)
	r.HandleFunc(forgetBrowserPath, s.forgetBrowser).Methods(http.MethodPost)
	r.HandleFunc(revokeAppPath, s.revokeApp).Methods(http.MethodPost)
	r.HandleFunc(namePath, s.setName).Methods(http.MethodPost)
}

// Viewer is the signed-in user of a request.
type Viewer struct {
	Session *login.Session
	User    *store.User
	// CSRF is the token the account forms carry.
	CSRF string
}

// RequireUser returns the signed-in user, or sends the browser through
// /login and back here and returns false.
func (s *Service) RequireUser(w http.ResponseWriter, r *http.Request) (*Viewer, bool) {
	ctx := r.Context()
	browser := s.Kit.BrowserID(w, r)
	sess, err := s.Login.Sessions.Current(ctx, r)
	if err != nil {
		s.Fail(w, r, err)
		return nil, false
	}
	if sess != nil {
		u, err := s.Store.UserByID(ctx, sess.UserID)
		if err == nil && !u.Disabled {
			return &Viewer{Session: sess, User: u, CSRF: s.Kit.CSRFToken(browser, "account:"+sess.Hash)}, true
		}
	}
	http.Redirect(w, r, "/login?return_to="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
	return nil, false
}

// CheckCSRF verifies an account form's token (call after ParseForm).
func (s *Service) CheckCSRF(r *http.Request, v *Viewer) bool {
	return s.Kit.CheckCSRF(r, "account:"+v.Session.Hash)
}

// PostedForm is RequireUser plus the checks of a posted account form: it
// parses the form and verifies its CSRF token, showing an error page when
// the token is wrong.
func (s *Service) PostedForm(w http.ResponseWriter, r *http.Request) (*Viewer, bool) {
	v, ok := s.RequireUser(w, r)
	if !ok {
		return nil, false
	}
	if err := r.ParseForm(); err != nil || !s.CheckCSRF(r, v) {
		s.Render.Error(w, http.StatusForbidden, "This form expired", "Go back, reload the page and try again.")
		return nil, false
	}
	return v, true
}

// level is what a sensitive change must be proved with: the account's
// own sign-in level (two factors once 2FA is on).
func (s *Service) level(ctx context.Context, userID string) (login.Level, error) {
	return s.Login.AccountLevel(ctx, userID)
}

// Recent tells whether the viewer proved, within RecentWindow, factors
// reaching their account's level.
func (s *Service) Recent(ctx context.Context, v *Viewer) (bool, error) {
	level, err := s.level(ctx, v.User.ID)
	if err != nil {
		return false, err
	}
	return login.Recent(v.Session.Results, s.Now().UTC(), RecentWindow, level), nil
}

// PostedRecent is PostedForm for a sensitive change: it also requires a
// recent proof (RequireRecent), sending the browser back to returnTo after
// re-authenticating.
func (s *Service) PostedRecent(w http.ResponseWriter, r *http.Request, returnTo string) (*Viewer, bool) {
	v, ok := s.PostedForm(w, r)
	if !ok || !s.RequireRecent(w, r, v, returnTo) {
		return nil, false
	}
	return v, true
}

// RequireRecent returns true when Recent holds; otherwise it sends the
// browser to re-authenticate and come back to returnTo, and returns false.
func (s *Service) RequireRecent(w http.ResponseWriter, r *http.Request, v *Viewer, returnTo string) bool {
	ctx := r.Context()
	level, err := s.level(ctx, v.User.ID)
	if err != nil {
		s.Fail(w, r, err)
		return false
	}
	if login.Recent(v.Session.Results, s.Now().UTC(), RecentWindow, level) {
		return true
	}
	to, err := s.Login.Reauthenticate(ctx, w, r, v.User.ID, returnTo, level)
	if err != nil {
		s.Fail(w, r, err)
		return false
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return false
}

// Page renders an account page for the viewer.
func (s *Service) Page(w http.ResponseWriter, status int, page string, v *Viewer, p templates.Page) {
	p.SignedIn = v.User.Email
	if p.CSRF == "" {
		p.CSRF = v.CSRF
	}
	s.Render.Render(w, status, page, p)
}

// Audit records a change made on the account pages.
func (s *Service) Audit(r *http.Request, userID, event, detail string) {
	login.Record(r.Context(), s.Login.Audit, s.Log, r, s.Now(), userID, event, detail)
}

// Fail logs err and shows a generic error page.
func (s *Service) Fail(w http.ResponseWriter, r *http.Request, err error) {
	s.Log.ErrorContext(r.Context(), "account", "path", r.URL.Path, "err", err)
	s.Render.Error(w, http.StatusServiceUnavailable, "Something went wrong", "Please try again in a moment.")
}

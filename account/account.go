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

// Store is what the overview reads.
type Store interface {
	UserByID(ctx context.Context, id string) (*store.User, error)
	RecentEvents(ctx context.Context, userID string, limit int) ([]store.AuditEvent, error)
	ListUserSessions(ctx context.Context, userID string) ([]store.Session, error)
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
}

// Service serves /account.
type Service struct {
	Login    *login.Service
	Store    Store
	Kit      *web.Kit
	Render   *templates.Renderer
	Sections []Section
	Log      *slog.Logger
	Now      func() time.Time
}

// Mount registers the overview; factor pages mount their own routes with
// the helpers below.
func (s *Service) Mount(r *mux.Router) {
	r.HandleFunc("/account", s.overview).Methods(http.MethodGet, http.MethodHead)
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

// RequireRecent returns true when the viewer proved, within RecentWindow,
// factors reaching their account's level (two factors once 2FA is on);
// otherwise it sends the browser to re-authenticate and come back to
// returnTo, and returns false.
func (s *Service) RequireRecent(w http.ResponseWriter, r *http.Request, v *Viewer, returnTo string) bool {
	ctx := r.Context()
	_, twoFA, err := s.Login.Enrolled(ctx, v.User.ID)
	if err != nil {
		s.Fail(w, r, err)
		return false
	}
	level := login.RequiredLevel(login.Level1FA, nil, twoFA)
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

// Fail logs err and shows a generic error page.
func (s *Service) Fail(w http.ResponseWriter, r *http.Request, err error) {
	s.Log.Error("account", "path", r.URL.Path, "err", err)
	s.Render.Error(w, http.StatusInternalServerError, "Something went wrong", "Please try again in a moment.")
}

type overviewView struct {
	LogoutCSRF string
	Sections   []Status
	Sessions   []sessionView
	Events     []store.AuditEvent
}

type sessionView struct {
	Current   bool
	UserAgent string
	IP        string
	Created   time.Time
}

func (s *Service) overview(w http.ResponseWriter, r *http.Request) {
	v, ok := s.RequireUser(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	view := overviewView{LogoutCSRF: s.Kit.CSRFToken(s.Kit.BrowserID(w, r), "logout")}
	for _, sec := range s.Sections {
		st, err := sec.Overview(ctx, v.User.ID)
		if err != nil {
			s.Fail(w, r, err)
			return
		}
		view.Sections = append(view.Sections, st)
	}
	sessions, err := s.Store.ListUserSessions(ctx, v.User.ID)
	if err != nil {
		s.Fail(w, r, err)
		return
	}
	for _, se := range sessions {
		view.Sessions = append(view.Sessions, sessionView{Current: se.IDHash == v.Session.Hash, UserAgent: se.UserAgent, IP: se.IP, Created: se.CreatedAt})
	}
	if view.Events, err = s.Store.RecentEvents(ctx, v.User.ID, 20); err != nil {
		s.Fail(w, r, err)
		return
	}
	s.Page(w, http.StatusOK, "account", v, templates.Page{Title: "Your account", Data: view})
}

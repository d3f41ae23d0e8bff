package account

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"latchkey/login"
	"latchkey/store"
	"latchkey/templates"
)

// The overview's revocation forms.
const (
	revokeSessionPath = "/account/sessions/revoke"
	forgetBrowserPath = "/account/browsers/forget"
	revokeAppPath     = "/account/apps/revoke"
	namePath          = "/account/name"
)

// RecentEvents is how much activity the overview shows.
const RecentEvents = 20

type overviewView struct {
	// Name is the display name relying parties get with scope profile.
	Name       string
	LogoutCSRF string
	Sections   []Status
	Sessions   []sessionView
	// Remember is false when remembered browsers are off.
	Remember bool
	Browsers []browserView
	Apps     []appView
	Activity []Activity
}

type sessionView struct {
	// ID is the session's hash (the sid relying parties know), never the
	// cookie value.
	ID       string
	Current  bool
	Device   string
	IP       string
	Since    string
	LastSeen string
}

type browserView struct {
	ID       string
	Current  bool
	Device   string
	IP       string
	Since    string
	LastUsed string
	Until    string
}

type appView struct {
	ClientID string
	Name     string
	Scopes   []string
}

// overviewNotices are what a redirect back to the overview may show; the
// query names one, so no text is reflected from the URL.
var overviewNotices = map[string]string{
	"session": "That browser is signed out. Applications it signed in to were told.",
	"browser": "That browser is forgotten: it will be asked for your second factor again.",
	"app":     "The application's access was removed. It will ask for your permission again next time.",
	"name":    "Your name is saved. Applications see it at your next sign-in.",
}

const timeFormat = "2006-01-02 15:04 MST"

func (s *Service) overview(w http.ResponseWriter, r *http.Request) {
	v, ok := s.RequireUser(w, r)
	if !ok {
		return
	}
	view, err := s.overviewData(w, r, v)
	if err != nil {
		s.Fail(w, r, err)
		return
	}
	s.Page(w, http.StatusOK, "account", v, templates.Page{Title: "Your account",
		Notice: overviewNotices[r.URL.Query().Get("done")], Data: view})
}

func (s *Service) overviewData(w http.ResponseWriter, r *http.Request, v *Viewer) (*overviewView, error) {
	ctx := r.Context()
	view := &overviewView{Name: v.User.Name, LogoutCSRF: s.Kit.CSRFToken(s.Kit.BrowserID(w, r), "logout")}
	for _, sec := range s.Sections {
		st, err := sec.Overview(ctx, v.User.ID)
		if err != nil {
			return nil, err
		}
		view.Sections = append(view.Sections, st)
	}
	sessions, err := s.Login.Sessions.List(ctx, v.User.ID)
	if err != nil {
		return nil, err
	}
	for _, se := range sessions {
		sv := sessionView{ID: se.Hash, Current: se.Hash == v.Session.Hash, Device: Device(se.UserAgent), IP: se.IP,
			Since: se.Created.UTC().Format(timeFormat), LastSeen: se.LastSeen.UTC().Format(timeFormat)}
		if sv.Current {
			// This browser first: it is the one people look for.
			view.Sessions = append([]sessionView{sv}, view.Sessions...)
		} else {
			view.Sessions = append(view.Sessions, sv)
		}
	}
	if rb := s.Login.Remember; rb.On() {
		view.Remember = true
		list, err := rb.List(ctx, r, v.User.ID)
		if err != nil {
			return nil, err
		}
		for _, b := range list {
			view.Browsers = append(view.Browsers, browserView{ID: b.ID, Current: b.Current, Device: Device(b.UserAgent), IP: b.IP,
				Since: b.CreatedAt.UTC().Format(timeFormat), LastUsed: b.LastUsedAt.UTC().Format(timeFormat),
				Until: b.ExpiresAt.UTC().Format(timeFormat)})
		}
	}
	grants, err := s.Store.ListConsents(ctx, v.User.ID)
	if err != nil {
		return nil, err
	}
	for _, g := range grants {
		view.Apps = append(view.Apps, appView{ClientID: g.ClientID, Name: s.clientName(g.ClientID), Scopes: ScopeWords(strings.Fields(g.Scopes))})
	}
	events, err := s.Store.RecentEvents(ctx, v.User.ID, RecentEvents)
	if err != nil {
		return nil, err
	}
	for _, e := range events {
		view.Activity = append(view.Activity, Describe(e, s.clientName))
	}
	return view, nil
}

func (s *Service) clientName(id string) string {
	if s.ClientName != nil {
		if n := s.ClientName(id); n != "" {
			return n
		}
	}
	return id
}

// scopeWords says what a granted scope lets the application do.
var scopeWords = map[string]string{
	"openid":         "Know who you are when you sign in",
	"profile":        "See your name",
	"email":          "See your email address",
	"offline_access": "Stay connected when you are not using it",
}

// ScopeWords describes scopes in words, in order; unknown ones by name.
func ScopeWords(scopes []string) []string {
	out := make([]string, 0, len(scopes))
	for _, sc := range scopes {
		if w, ok := scopeWords[sc]; ok {
			out = append(out, w)
		} else {
			out = append(out, sc)
		}
	}
	return out
}

// setName changes the user's display name (scope profile's name claim); a
// name that store.CleanName refuses changes nothing.
func (s *Service) setName(w http.ResponseWriter, r *http.Request) {
	v, ok := s.PostedForm(w, r)
	if !ok {
		return
	}
	name, err := store.CleanName(r.PostForm.Get("name"))
	if err != nil {
		view, verr := s.overviewData(w, r, v)
		if verr != nil {
			s.Fail(w, r, verr)
			return
		}
		s.Page(w, http.StatusBadRequest, "account", v, templates.Page{Title: "Your account",
			Error: "Your name is " + err.Error() + ".", Data: view})
		return
	}
	if err := s.Store.SetUserName(r.Context(), v.User.ID, name); err != nil {
		s.Fail(w, r, err)
		return
	}
	s.Audit(r, v.User.ID, "profile.name_changed", "")
	http.Redirect(w, r, "/account?done=name", http.StatusSeeOther)
}

// revokeSession signs one of the user's other browsers out, through
// Sessions.End, so the applications it signed in to are told.
func (s *Service) revokeSession(w http.ResponseWriter, r *http.Request) {
	v, ok := s.PostedForm(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	id := r.PostForm.Get("session")
	if id == v.Session.Hash {
		// This browser signs out with the sign-out button, which also
		// clears its cookie.
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return
	}
	sess, err := s.Login.Sessions.Get(ctx, id)
	if err != nil {
		s.Fail(w, r, err)
		return
	}
	if sess == nil || sess.UserID != v.User.ID {
		// Gone already, or not theirs: the same answer either way.
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return
	}
	if _, err := s.Login.Sessions.End(ctx, sess, login.EndRevoked); err != nil {
		s.Fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/account?done=session", http.StatusSeeOther)
}

// forgetBrowser revokes a remembered browser: it is asked for the second
// factor again.
func (s *Service) forgetBrowser(w http.ResponseWriter, r *http.Request) {
	v, ok := s.PostedForm(w, r)
	if !ok {
		return
	}
	rb := s.Login.Remember
	if !rb.On() {
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return
	}
	live, err := rb.Revoke(r.Context(), v.User.ID, r.PostForm.Get("browser"))
	if err != nil {
		s.Fail(w, r, err)
		return
	}
	if !live {
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return
	}
	s.Audit(r, v.User.ID, "browser.forgotten", "")
	http.Redirect(w, r, "/account?done=browser", http.StatusSeeOther)
}

// errNoGrant aborts a revocation of a grant the user does not have.
var errNoGrant = errors.New("no such grant")

// revokeApp withdraws the user's consent to an application and the tokens
// it holds for them: it must ask again, and its refresh tokens stop working.
func (s *Service) revokeApp(w http.ResponseWriter, r *http.Request) {
	v, ok := s.PostedForm(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	clientID := r.PostForm.Get("client")
	err := s.Store.Transaction(ctx, func(ctx context.Context) error {
		grants, err := s.Store.ListConsents(ctx, v.User.ID)
		if err != nil {
			return err
		}
		found := false
		for _, g := range grants {
			found = found || g.ClientID == clientID
		}
		if !found {
			return errNoGrant
		}
		if err := s.Store.ForgetConsent(ctx, v.User.ID, clientID); err != nil {
			return err
		}
		if err := s.Store.DeactivateClientTokens(ctx, v.User.ID, clientID); err != nil {
			return err
		}
		login.Record(ctx, s.Login.Audit, s.Log, r, s.Now(), v.User.ID, "consent.revoked", "client="+clientID)
		return nil
	})
	if errors.Is(err, errNoGrant) {
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return
	}
	if err != nil {
		s.Fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/account?done=app", http.StatusSeeOther)
}

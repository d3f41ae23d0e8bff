// Package emailproof holds the steps that /recover and /signup share to
// prove an email address with a mailed link or code (magiclink.Proofs): the
// flow they run in, the link's confirmation page and button, and the proven
// address kept in the flow until the handler's last step. What differs
// (asking for the mail, the code's lockout, the last step) stays with each
// handler.
package emailproof

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/mail"
	"net/url"
	"time"

	"latchkey/login"
	"latchkey/login/magiclink"
	"latchkey/store"
	"latchkey/web"
)

// Steps serves the shared steps for one handler.
type Steps struct {
	Pages  *login.Pages
	Proofs *magiclink.Proofs
	// Purpose is the proofs' purpose (magiclink.PurposeRecover, ...).
	Purpose string
	// Name is the handler's path segment ("recover", "signup"): the flow
	// state key, the log label and the link page's CSRF scope come from it.
	Name string
	// Usable tells whether a flow the browser holds may run the handler.
	Usable func(fl *login.Flow) bool
	// NoLinkAdvice ends the page of a link that is not valid: what to do.
	NoLinkAdvice string
	// Show renders the handler's page for the link's steps: "confirm" (the
	// button, with the token) or "elsewhere" (another browser asked).
	Show func(w http.ResponseWriter, browser, scope, step, token string)
}

// Proven is the address a flow proved (and, for sign-up, the name given
// when asking), kept in the flow until the handler's last step.
type Proven struct {
	Email string    `json:"email"`
	Name  string    `json:"name,omitempty"`
	At    time.Time `json:"at"`
}

// StateKey is where the flow keeps the Proven address.
func (s *Steps) StateKey() login.Method { return login.Method(s.Name) }

func (s *Steps) linkScope() string { return s.Name + "-link" }

// ValidAddress tells whether email is one plain address, as typed.
func ValidAddress(email string) bool {
	a, err := mail.ParseAddress(email)
	return err == nil && a.Address == email && len(email) <= 320
}

// Form parses the posted form; a form that cannot be read gets a 400.
func (s *Steps) Form(w http.ResponseWriter, r *http.Request) bool {
	if err := r.ParseForm(); err != nil {
		s.Pages.Render.Error(w, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return false
	}
	return true
}

// Flow loads the browser's flow from ?flow=; a flow tied to a user already
// (step-up, re-authentication) or not Usable gets the expired page.
func (s *Steps) Flow(w http.ResponseWriter, r *http.Request) (*login.Flow, string, bool) {
	browser := s.Pages.Kit.BrowserID(w, r)
	fl, err := s.Pages.Flows.Get(r.Context(), r.URL.Query().Get("flow"), browser)
	if err == nil && (fl.UserID != "" || !s.Usable(fl)) {
		err = login.ErrFlowNotFound
	}
	if err != nil {
		s.Pages.Expired(w, r, err)
		return nil, "", false
	}
	return fl, browser, true
}

// PostedFlow parses the posted form and loads the flow, as every POST of
// the handler begins.
func (s *Steps) PostedFlow(w http.ResponseWriter, r *http.Request) (*login.Flow, string, bool) {
	if !s.Form(w, r) {
		return nil, "", false
	}
	return s.Flow(w, r)
}

// ProvenFlow loads the flow and the address it proved; a flow without a
// live proof gets the expired page.
func (s *Steps) ProvenFlow(w http.ResponseWriter, r *http.Request) (*login.Flow, string, Proven, bool) {
	fl, browser, ok := s.Flow(w, r)
	if !ok {
		return nil, "", Proven{}, false
	}
	p, ok := s.ProvenOf(fl)
	if !ok {
		s.Pages.Expired(w, r, login.ErrFlowNotFound)
		return nil, "", Proven{}, false
	}
	return fl, browser, p, true
}

// Allow counts a request for a mail to email and tells whether to send
// it. It answers the other cases itself: a failing database (503), a
// client that asked too often (tooMany, with the message), an address that
// had enough mails lately (sent: the same page as when a mail goes, so the
// limit does not reveal the account).
func (s *Steps) Allow(w http.ResponseWriter, r *http.Request, email string, tooMany func(msg string), sent func()) bool {
	addrOK, ipOK, err := s.Proofs.Allow(r.Context(), s.Purpose, email, web.ClientIP(r))
	switch {
	case err != nil:
		s.Unavailable(w, r, err)
	case !ipOK:
		tooMany(magiclink.ErrTooMany.Error())
	case !addrOK:
		sent()
	}
	return err == nil && ipOK && addrOK
}

// LinkPage is what opening the mailed link shows: a button, so a mail
// scanner's GET uses nothing. In a browser other than the one that asked,
// it says to type the code there instead.
func (s *Steps) LinkPage(w http.ResponseWriter, r *http.Request) {
	browser := s.Pages.Kit.BrowserID(w, r)
	token := r.URL.Query().Get("t")
	t, err := s.Proofs.Peek(r.Context(), s.Purpose, token)
	if err != nil {
		s.NoLink(w, r, err)
		return
	}
	if _, err := s.Pages.Flows.Get(r.Context(), t.FlowID, browser); err != nil {
		s.Show(w, browser, "", "elsewhere", "")
		return
	}
	s.Show(w, browser, s.linkScope(), "confirm", token)
}

// Link is the confirmation button: it uses the link, and only for the flow
// of this browser.
func (s *Steps) Link(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if !s.Form(w, r) {
		return
	}
	browser := s.Pages.Kit.BrowserID(w, r)
	token := r.URL.Query().Get("t")
	if !s.Pages.Kit.CheckCSRF(r, s.linkScope()) {
		s.Pages.Render.Error(w, http.StatusForbidden, "This page expired", "Open the link from the email again.")
		return
	}
	peek, err := s.Proofs.Peek(ctx, s.Purpose, token)
	if err != nil {
		s.NoLink(w, r, err)
		return
	}
	if _, err := s.Pages.Flows.Get(ctx, peek.FlowID, browser); err != nil {
		s.Show(w, browser, "", "elsewhere", "")
		return
	}
	t, err := s.Proofs.UseLink(ctx, s.Purpose, token, peek.FlowID)
	if err != nil {
		s.NoLink(w, r, err)
		return
	}
	s.Prove(w, r, t.FlowID, browser, t)
}

// Prove records the address t proved (with what was stored with it) in
// the flow and sends the browser to the handler's password step.
func (s *Steps) Prove(w http.ResponseWriter, r *http.Request, flowID, browser string, t *store.EmailToken) {
	var p Proven
	_ = json.Unmarshal(t.Data, &p) // nothing stored: the address alone
	p.Email, p.At = t.Email, s.Pages.Now().UTC()
	_, err := s.Pages.Flows.Apply(r.Context(), flowID, browser, func(fl *login.Flow) error {
		return fl.SetState(s.StateKey(), p)
	})
	if err != nil {
		s.Pages.Expired(w, r, err)
		return
	}
	http.Redirect(w, r, "/"+s.Name+"/password?flow="+url.QueryEscape(flowID), http.StatusSeeOther)
}

// ProvenOf returns the address the flow proved, within the proof's TTL.
func (s *Steps) ProvenOf(fl *login.Flow) (Proven, bool) {
	var p Proven
	ok, err := fl.GetState(s.StateKey(), &p)
	if err != nil || !ok || p.Email == "" || s.Pages.Now().UTC().Sub(p.At) > s.Proofs.TTL {
		return Proven{}, false
	}
	return p, true
}

// NoLink answers a link that is not valid, or a failing database (503).
func (s *Steps) NoLink(w http.ResponseWriter, r *http.Request, err error) {
	if !errors.Is(err, magiclink.ErrNoProof) {
		s.Unavailable(w, r, err)
		return
	}
	s.Pages.Render.Error(w, http.StatusBadRequest, "This link is not valid",
		"It was already used, expired, or a newer email replaced it. "+s.NoLinkAdvice)
}

// Unavailable answers a failing database: 503, never a false success.
func (s *Steps) Unavailable(w http.ResponseWriter, r *http.Request, err error) {
	s.Pages.Log.ErrorContext(r.Context(), s.Name, "path", r.URL.Path, "err", err)
	s.Pages.Render.Error(w, http.StatusServiceUnavailable, "Temporarily unavailable", "Please try again in a moment.")
}

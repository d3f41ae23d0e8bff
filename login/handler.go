package login

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"latchkey/metrics"
	"latchkey/templates"
	"latchkey/web"
)

// Pages are the /login and /logout handlers.
type Pages struct {
	*Service
	Render *templates.Renderer
	// ClientName names a client for the page heading.
	ClientName func(clientID string) string
	// Signup tells whether /signup is offered.
	Signup bool
	// Emails resolves a user's email for display.
	Emails func(ctx context.Context, userID string) string
	// AfterLogin may send a finished sign-in through one more page (the
	// passkey suggestion) before next, the flow's return URL.
	AfterLogin func(r *http.Request, fl *Flow, next string) string
	// Enrollers set up a factor inside a sign-in (Next said StepEnroll);
	// a method without one shows that the level cannot be reached.
	Enrollers []Enroller
	// Passkeys registers a passkey inside a sign-in that needs phr/phrh;
	// nil when passkeys are off.
	Passkeys Registrar
	// PasskeyNotices mails the owner of a passkey registered inside a
	// sign-in; nil sends nothing.
	PasskeyNotices PasskeyNotifier
}

// Enroller sets up a factor for the flow's user inside the sign-in, when
// the level asked is above what the user has enrolled.
type Enroller interface {
	Method() Method
	// EnrollPage begins the set-up and gives its page.
	EnrollPage(ctx context.Context, fl *Flow, email string, now time.Time) (ChallengeView, error)
	// Enroll confirms the posted form. Its result counts as the factor
	// in this sign-in; the page shows what follows (recovery codes) with
	// a way to continue. A wrong answer wraps ErrInvalid, and its text is
	// shown as it is.
	Enroll(ctx context.Context, r *http.Request, fl *Flow, email string, now time.Time) (Result, ChallengeView, error)
}

// Mount registers the routes.
func (p *Pages) Mount(r *mux.Router) {
	r.HandleFunc("/login", p.show).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/login", p.submit).Methods(http.MethodPost)
	r.HandleFunc("/login/enroll", p.enroll).Methods(http.MethodPost)
	r.HandleFunc(enrollPasskeyBegin, p.enrollPasskeyBegin).Methods(http.MethodPost)
	r.HandleFunc(enrollPasskeyFinish, p.enrollPasskeyFinish).Methods(http.MethodPost)
	r.HandleFunc("/logout", p.logoutPage).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/logout", p.logout).Methods(http.MethodPost)
	r.HandleFunc("/", p.home).Methods(http.MethodGet, http.MethodHead)
}

type loginView struct {
	FlowID     string
	ClientName string
	Identify   bool
	Identifier string
	Offers     map[string]bool
	Signup     bool
	Factor     map[string]any
	// Remember offers the "remember this browser" checkbox.
	Remember bool
}

func (p *Pages) show(w http.ResponseWriter, r *http.Request) {
	browser := p.Kit.BrowserID(w, r)
	id := r.URL.Query().Get("flow")
	if id == "" {
		p.StartLocal(w, r, "/login")
		return
	}
	fl, ok := p.loginFlow(w, r, id, browser)
	if !ok {
		return
	}
	p.renderStep(w, r, http.StatusOK, fl, browser, "")
}

// loginFlow loads a flow /login may continue: one of a sign-in kind whose
// login is not done (a finished one goes back to where it returns).
func (p *Pages) loginFlow(w http.ResponseWriter, r *http.Request, id, browser string) (*Flow, bool) {
	fl, err := p.Flows.Get(r.Context(), id, browser)
	if err != nil {
		p.expired(w, r, err)
		return nil, false
	}
	if fl.LoginDone && fl.Kind.signsIn() {
		http.Redirect(w, r, p.Flows.ReturnURL(fl), http.StatusSeeOther)
		return nil, false
	}
	if !fl.CanLogin() {
		p.expired(w, r, ErrWrongStep)
		return nil, false
	}
	return fl, true
}

// StartLocal begins a flow for a visit without an application (sign in to
// Latchkey itself) and sends the browser to page with it.
func (p *Pages) StartLocal(w http.ResponseWriter, r *http.Request, page string) {
	fl := &Flow{Kind: KindLocal, ReturnTo: localReturn(r.URL.Query().Get("return_to")), Required: Level1FA}
	if err := p.Flows.New(r.Context(), p.Kit.BrowserID(w, r), fl); err != nil {
		p.fail(w, r, err)
		return
	}
	http.Redirect(w, r, page+"?flow="+url.QueryEscape(fl.ID), http.StatusSeeOther)
}

// Expired shows the page for a flow that cannot continue: 400 when it
// expired or never existed (ErrFlowNotFound), 503 with a logged error when
// the database failed.
func (p *Pages) Expired(w http.ResponseWriter, r *http.Request, err error) { p.expired(w, r, err) }

// Fail logs err and shows a generic error page.
func (p *Pages) Fail(w http.ResponseWriter, r *http.Request, err error) { p.fail(w, r, err) }

func (p *Pages) renderStep(w http.ResponseWriter, r *http.Request, status int, fl *Flow, browser, errMsg string) {
	ctx := r.Context()
	d, err := p.decide(ctx, r, fl)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	v := loginView{FlowID: fl.ID, Identify: fl.UserID == "", Identifier: fl.LoginHint, Offers: map[string]bool{}, Signup: p.Signup,
		Remember: fl.UserID != "" && fl.RememberAllowed && p.Remember.On()}
	switch Next(fl, nil, Client{Decision: d}) {
	case StepLogin:
	case StepEnroll:
		if e, ok := p.enroller(d.Enroll); ok && fl.UserID != "" {
			p.enrollPage(w, r, e, fl, browser, status, errMsg)
			return
		}
		if d.Enroll == MethodPasskey && p.Passkeys != nil && fl.UserID != "" {
			p.enrollPasskeyPage(w, r, fl, browser, status, errMsg)
			return
		}
		p.Render.Error(w, http.StatusForbidden, "This sign-in cannot be completed",
			"The application asks for a stronger sign-in ("+d.Required.String()+") than your account can give. Add a passkey or authenticator app to your account first.")
		return
	case StepRefuse:
		p.expired(w, r, ErrWrongStep)
		return
	default:
		p.Finish(w, r, fl, browser)
		return
	}
	if fl.UserID != "" {
		v.Identifier = p.Emails(ctx, fl.UserID)
	}
	for _, m := range d.Offer {
		v.Offers[string(m)] = true
		if f, ok := p.Factor(m); ok {
			if sv, ok := f.(StepViewer); ok {
				if v.Factor == nil {
					v.Factor = map[string]any{}
				}
				v.Factor[string(m)] = sv.StepView(fl)
			}
		}
	}
	if fl.ClientID != "" && p.ClientName != nil {
		v.ClientName = p.ClientName(fl.ClientID)
	}
	p.Render.Render(w, status, "login", templates.Page{Title: "Sign in", Error: errMsg, CSRF: p.Kit.CSRFToken(browser, fl.ID), Client: fl.ClientID, Data: v})
}

// postedFlow is the start of every POST to a sign-in step: the form, the
// browser's flow named by ?flow=, and the flow's CSRF token. On false the
// answer has been written.
func (p *Pages) postedFlow(w http.ResponseWriter, r *http.Request, browser string) (*Flow, bool) {
	if err := r.ParseForm(); err != nil {
		p.Render.Error(w, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return nil, false
	}
	fl, ok := p.loginFlow(w, r, r.URL.Query().Get("flow"), browser)
	if !ok {
		return nil, false
	}
	if !p.Kit.CheckCSRF(r, fl.ID) {
		p.renderStep(w, r, http.StatusForbidden, fl, browser, "Your sign-in form expired. Please try again.")
		return nil, false
	}
	return fl, true
}

func (p *Pages) submit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	browser := p.Kit.BrowserID(w, r)
	fl, ok := p.postedFlow(w, r, browser)
	if !ok {
		return
	}
	method := Method(r.PostForm.Get("method"))
	d, err := p.decide(ctx, r, fl)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	f, ok := p.Factor(method)
	if !ok || Next(fl, nil, Client{Decision: d}) != StepLogin || !slices.Contains(d.Offer, method) {
		p.renderStep(w, r, http.StatusBadRequest, fl, browser, "Choose one of the sign-in methods shown.")
		return
	}
	if c, ok := f.(Challenger); ok && c.WantsChallenge(r.PostForm) {
		p.challenge(w, r, c, fl, browser)
		return
	}
	g, err := p.guard(ctx, r, fl, method)
	if err != nil && ctx.Err() != nil {
		// The client left while its IP was being slowed: nobody to answer.
		return
	}
	if err != nil {
		p.fail(w, r, err)
		return
	}
	if g.verdict.IPRefused {
		p.Render.Error(w, http.StatusTooManyRequests, "Too many attempts",
			"There were too many wrong sign-in attempts from your network. Please try again later.")
		return
	}
	res, verr := f.Verify(ctx, Attempt{Flow: fl, Form: r.PostForm, Request: r, Now: p.Now().UTC()})
	if verr == nil && fl.UserID != "" && res.UserID != fl.UserID {
		// A factor proved somebody else: that is no step of this sign-in.
		verr = ErrInvalid
	}
	if verr == nil && g.verdict.AccountLocked {
		// Verified all the same, so a locked account takes the time and
		// gets the page of a wrong answer for an unknown account.
		verr = ErrInvalid
	}
	if err := p.settle(ctx, g, verr); err != nil {
		p.fail(w, r, err)
		return
	}
	if verr != nil {
		p.failed(w, r, fl, browser, method, verr, g.target)
		return
	}
	metrics.From(ctx).SignIn(string(method), metrics.Success)
	p.Complete(w, r, fl.ID, browser, f, res)
}

// Complete records a verified factor's result in the flow and goes on to
// the next step (or finishes). Factors with their own routes (the magic
// link's confirmation) end here too.
func (p *Pages) Complete(w http.ResponseWriter, r *http.Request, flowID, browser string, f Factor, res Result) {
	remember := r.PostForm.Get(RememberField) != ""
	fl, err := p.Flows.Apply(r.Context(), flowID, browser, func(fl *Flow) error {
		// A second factor (the user known before it) may remember the
		// browser.
		secondFactor := fl.UserID != ""
		if err := fl.AddResult(res); err != nil {
			return err
		}
		if remember && secondFactor {
			fl.AskRemember(true)
		}
		if s, ok := f.(StateUpdater); ok {
			s.Settle(fl)
		}
		return nil
	})
	if err != nil {
		p.expired(w, r, err)
		return
	}
	p.Continue(w, r, fl, browser)
}

// Finish lands a satisfied flow in the SSO session and returns the browser
// to where the flow started.
func (p *Pages) Finish(w http.ResponseWriter, r *http.Request, fl *Flow, browser string) {
	ctx := r.Context()
	if fl.SessionHash != "" {
		// A step-up built on a session's factors: that session must still
		// be this browser's, or the inherited factors prove nothing.
		cur, err := p.Sessions.Current(ctx, r)
		if err != nil {
			p.fail(w, r, err)
			return
		}
		if cur == nil || cur.Hash != fl.SessionHash {
			p.expired(w, r, ErrFlowNotFound)
			return
		}
	}
	// The sign-in is complete: the owner is in, the account's failure
	// count starts over (a running lock stays).
	if err := p.Lockout.Succeeded(ctx, fl.UserID); err != nil {
		p.fail(w, r, err)
		return
	}
	sess, err := p.Sessions.Save(ctx, w, r, fl.UserID, fl.Results)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	if fl.Remember && len(fl.Results) > 1 {
		if err := p.Remember.Remember(ctx, w, r, fl.UserID); err != nil {
			p.fail(w, r, err)
			return
		}
		p.audit(ctx, r, fl.UserID, "browser.remembered", "")
	}
	fl, err = p.Flows.Apply(ctx, fl.ID, browser, func(fl *Flow) error {
		return fl.FinishLogin(sess.Hash, fl.Results)
	})
	if err != nil {
		p.expired(w, r, err)
		return
	}
	p.audit(ctx, r, fl.UserID, "login.succeeded", "amr="+strings.Join(AMR(fl.Results), " ")+" acr="+ACR(fl.Results).String())
	p.Log.InfoContext(ctx, "sign-in succeeded", "ip", web.ClientIP(r), "account", p.account(ctx, r, fl),
		"amr", strings.Join(AMR(fl.Results), " "), "acr", ACR(fl.Results).String())
	next := p.Flows.ReturnURL(fl)
	if p.AfterLogin != nil {
		next = p.AfterLogin(r, fl, next)
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// failed answers a wrong answer; target is the account it was for, when
// known, so the audit shows the owner an attack on their account.
func (p *Pages) failed(w http.ResponseWriter, r *http.Request, fl *Flow, browser string, m Method, verr error, target string) {
	ctx := r.Context()
	if !errors.Is(verr, ErrInvalid) && !errors.Is(verr, ErrUnavailable) {
		p.fail(w, r, verr)
		return
	}
	if target == "" {
		target = fl.UserID
	}
	p.audit(ctx, r, target, "login.failed", "method="+string(m))
	metrics.From(ctx).SignIn(string(m), metrics.Failure)
	// One line per failure, in a fixed shape fail2ban can match:
	// msg="sign-in failed" ip=<HOST>. The account is who was tried, never
	// what was typed as the secret.
	p.Log.WarnContext(ctx, "sign-in failed", "ip", web.ClientIP(r), "account", p.account(ctx, r, fl), "method", string(m))
	updated, ok := p.countFailure(w, r, fl, browser)
	if !ok {
		return
	}
	p.renderStep(w, r, http.StatusUnauthorized, updated, browser, verr.Error())
}

// countFailure counts a wrong answer in the flow. On false the answer has
// been written: the flow is gone, or it reached MaxFailures and is stopped.
func (p *Pages) countFailure(w http.ResponseWriter, r *http.Request, fl *Flow, browser string) (*Flow, bool) {
	updated, err := p.Flows.Apply(r.Context(), fl.ID, browser, func(fl *Flow) error {
		fl.Failed()
		return nil
	})
	if err != nil {
		p.expired(w, r, err)
		return nil, false
	}
	if p.MaxFailures > 0 && updated.Failures >= p.MaxFailures {
		_ = p.Flows.Consume(r.Context(), fl.ID)
		p.Render.Error(w, http.StatusTooManyRequests, "Too many attempts",
			"This sign-in was stopped after too many wrong attempts.")
		return nil, false
	}
	return updated, true
}

func (p *Pages) challenge(w http.ResponseWriter, r *http.Request, c Challenger, fl *Flow, browser string) {
	ctx := r.Context()
	var view any
	updated, err := p.Flows.Update(ctx, fl.ID, browser, func(ctx context.Context, fl *Flow) ([]AfterCommit, error) {
		v, after, err := c.Challenge(ctx, fl, r)
		view = v
		return after, err
	})
	if err != nil {
		// Nothing was stored: the step again, from the flow as it was
		// (Update returns none on an error).
		switch {
		case errors.Is(err, ErrTooManyRequests):
			p.renderStep(w, r, http.StatusTooManyRequests, fl, browser, err.Error())
		case errors.Is(err, ErrInvalid) || errors.Is(err, ErrUnavailable):
			p.renderStep(w, r, http.StatusBadRequest, fl, browser, err.Error())
		default:
			p.fail(w, r, err)
		}
		return
	}
	fl = updated
	page, _ := view.(ChallengeView)
	if page.Page == "" {
		http.Redirect(w, r, "/login?flow="+url.QueryEscape(fl.ID), http.StatusSeeOther)
		return
	}
	p.Render.Render(w, http.StatusOK, page.Page, templates.Page{Title: page.Title, Notice: page.Notice,
		CSRF: p.Kit.CSRFToken(browser, fl.ID), Client: fl.ClientID, Data: page.Data})
}

// ChallengeView is what a Challenger returns to show its own page.
type ChallengeView struct {
	Page, Title, Notice string
	Data                any
}

func (p *Pages) home(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	browser := p.Kit.BrowserID(w, r)
	page := templates.Page{Title: "Home", CSRF: p.Kit.CSRFToken(browser, "logout")}
	if sess, err := p.Sessions.Current(r.Context(), r); err == nil && sess != nil {
		page.SignedIn = p.Emails(r.Context(), sess.UserID)
	}
	p.Render.Render(w, http.StatusOK, "home", page)
}

func (p *Pages) logoutPage(w http.ResponseWriter, r *http.Request) {
	browser := p.Kit.BrowserID(w, r)
	page := templates.Page{Title: "Sign out", CSRF: p.Kit.CSRFToken(browser, "logout")}
	if sess, err := p.Sessions.Current(r.Context(), r); err == nil && sess != nil {
		page.SignedIn = p.Emails(r.Context(), sess.UserID)
	}
	p.Render.Render(w, http.StatusOK, "logout", page)
}

func (p *Pages) logout(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	if !p.Kit.CheckCSRF(r, "logout") {
		p.Render.Error(w, http.StatusForbidden, "Sign-out form expired", "Please try signing out again.")
		return
	}
	sess, err := p.Sessions.Current(r.Context(), r)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	if sess != nil {
		if _, err := p.Sessions.End(r.Context(), sess, EndLogout); err != nil {
			p.fail(w, r, err)
			return
		}
	}
	p.Sessions.ClearCookie(w)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// Continue sends the browser to the flow's next step, or finishes it when
// Next says its login is done.
func (p *Pages) Continue(w http.ResponseWriter, r *http.Request, fl *Flow, browser string) {
	d, err := p.decide(r.Context(), r, fl)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	switch Next(fl, nil, Client{Decision: d}) {
	case StepLogin, StepEnroll:
		http.Redirect(w, r, "/login?flow="+url.QueryEscape(fl.ID), http.StatusSeeOther)
	case StepRefuse:
		p.expired(w, r, ErrWrongStep)
	default:
		p.Finish(w, r, fl, browser)
	}
}

// account names the account a sign-in is for, for the log: the flow's
// user, or else the identifier the form named (bounded, since anyone can
// post anything).
func (p *Pages) account(ctx context.Context, r *http.Request, fl *Flow) string {
	if fl.UserID != "" && p.Emails != nil {
		if e := p.Emails(ctx, fl.UserID); e != "" {
			return e
		}
	}
	id := strings.TrimSpace(r.PostForm.Get("identifier"))
	if len(id) > 254 {
		id = id[:254]
	}
	return id
}

// expired answers a flow that cannot be used; r (nil from Expired) gives
// the log line its request_id.
func (p *Pages) expired(w http.ResponseWriter, r *http.Request, err error) {
	if !errors.Is(err, ErrFlowNotFound) {
		// Not an expired flow: the database failed, and the user should
		// retry rather than start over.
		p.Log.ErrorContext(r.Context(), "login flow", "err", err)
		p.Render.Error(w, http.StatusServiceUnavailable, "Temporarily unavailable", "Please try again in a moment.")
		return
	}
	p.Render.Error(w, http.StatusBadRequest, "This sign-in has expired",
		"The sign-in page was open too long, was already used, or was opened in another browser.")
}

func (p *Pages) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, ErrBusy) {
		w.Header().Set("Retry-After", "1")
		p.Render.Error(w, http.StatusServiceUnavailable, "Busy", "Too many sign-ins at once. Please try again in a moment.")
		return
	}
	// What fails here is the database (or the mailer): worth a retry.
	p.Log.ErrorContext(r.Context(), "login", "path", r.URL.Path, "err", err)
	p.Render.Error(w, http.StatusServiceUnavailable, "Something went wrong", "Please try again in a moment.")
}

// maxLocalReturn bounds the return_to a flow stores for an unauthenticated
// visit; a longer one is replaced by "/".
const maxLocalReturn = 2048

// localReturn accepts only a local page of Latchkey's own, so /login is no
// open redirect. Authorization URLs are refused: a flow for one must be
// started by /oauth2/auth, which records the client's policy in it.
func localReturn(s string) string {
	if len(s) > maxLocalReturn || !web.LocalPath(s) || strings.HasPrefix(s, "/oauth2/") {
		return "/"
	}
	return s
}

package login

import (
	"context"
	"errors"
	"fmt"
	"latchkey/login/lockout"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"time"

	"latchkey/store"
	"latchkey/web"
)

// Sentinel outcomes for prompt=none; the provider maps them to OIDC errors.
var (
	ErrLoginRequired = errors.New("login_required")
)

// UserStore is what the login core reads about users.
type UserStore interface {
	UserByID(ctx context.Context, id string) (*store.User, error)
}

// Auditor records security events.
type Auditor interface {
	Audit(ctx context.Context, e store.AuditEvent) error
}

// Service is the login core: factors, flows, sessions and the policy.
type Service struct {
	Factors  []Factor
	Flows    *Flows
	Sessions *Sessions
	Users    UserStore
	Audit    Auditor
	Kit      *web.Kit
	Log      *slog.Logger
	Now      func() time.Time
	// MaxFailures ends a flow after that many wrong answers.
	MaxFailures int
	// Lockout holds the per-account and per-IP guess limits (nil: off);
	// Accounts finds the account a typed identifier names for it.
	Lockout  *lockout.Guard
	Accounts AccountFinder
	// Remember owns remembered browsers (nil: the feature is off).
	Remember *RememberedBrowsers
	// Consents reads remembered grants (nil: consent is always asked).
	Consents Consents
}

// Factor returns the registered factor for m.
func (s *Service) Factor(m Method) (Factor, bool) {
	for _, f := range s.Factors {
		if f.Method() == m {
			return f, true
		}
	}
	return nil, false
}

// Identifying lists the factors that can come first.
func (s *Service) Identifying() []Method {
	var out []Method
	for _, f := range s.Factors {
		if _, ok := f.(Identifier); ok {
			out = append(out, f.Method())
		}
	}
	return out
}

// Enrolled lists the factors the user can use, and whether any of them
// turns 2FA on.
func (s *Service) Enrolled(ctx context.Context, userID string) (methods []Method, twoFA bool, err error) {
	e, err := s.Enrollment(ctx, userID)
	return e.Methods, e.TwoFA, err
}

// Enrollment is what the user has set up; compute it once per request and
// hand it to the policy.
func (s *Service) Enrollment(ctx context.Context, userID string) (Enrollment, error) {
	var out Enrollment
	for _, f := range s.Factors {
		e, ok := f.(Enrollable)
		if !ok {
			continue
		}
		on, err := e.Enrolled(ctx, userID)
		if err != nil {
			return Enrollment{}, fmt.Errorf("enrollment of %s: %w", f.Method(), err)
		}
		if !on {
			continue
		}
		out.Methods = append(out.Methods, f.Method())
		if _, ok := f.(SecondFactor); ok {
			out.TwoFA = true
		}
	}
	return out, nil
}

// AccountLevel is the level a user's own sign-in reaches at least (two
// factors once 2FA is on): what a sensitive account change is proved with.
func (s *Service) AccountLevel(ctx context.Context, userID string) (Level, error) {
	e, err := s.Enrollment(ctx, userID)
	if err != nil {
		return LevelNone, err
	}
	return Policy{}.Required(Input{ClientMin: Level1FA, Enrolled: e}), nil
}

// Consents tells whether a user granted a client scopes before;
// consent.Service implements it.
type Consents interface {
	Granted(ctx context.Context, userID, clientID string, scopes []string) (bool, error)
}

// AuthRequest is what Authorize needs to know of an authorization request.
type AuthRequest struct {
	ClientID  string
	ClientMin Level
	// StepUpMaxAge, RememberAllowed and SkipConsent are the client's.
	StepUpMaxAge    time.Duration
	RememberAllowed bool
	SkipConsent     bool
	// ACRValues are acr_values and the claims parameter's acr.
	ACRValues []string
	Prompt    []string
	// MaxAge is max_age in seconds; negative when absent.
	MaxAge    int64
	LoginHint string
	// HintSubject is the subject of a valid id_token_hint, if one was sent.
	HintSubject string
	Scopes      []string
	// ReturnTo is the authorization URL without the verifier.
	ReturnTo string
	Verifier string
}

// Outcome is Authorize's answer: the Step Next chose, with where to send
// the browser for Login, Enroll and Consent, and for Issue the session and
// the results the tokens speak for.
type Outcome struct {
	Step     Step
	Redirect string
	Session  *Session
	Results  []Result
	Flow     *Flow
	// RequestedAt is when the user's interaction for this request started,
	// for fosite's prompt/max_age checks.
	RequestedAt time.Time
}

// ErrConsentRequired answers prompt=none when consent is needed.
var ErrConsentRequired = errors.New("consent_required")

// Authorize decides, through Next, what an authorization request needs:
// the browser's session may answer it (Issue), or a flow starts for login,
// enrollment or consent. prompt=none that needs interaction yields
// ErrLoginRequired or ErrConsentRequired.
func (s *Service) Authorize(ctx context.Context, w http.ResponseWriter, r *http.Request, req AuthRequest) (Outcome, error) {
	browser := s.Kit.BrowserID(w, r)
	now := s.Now().UTC()
	sess, err := s.Sessions.Current(ctx, r)
	if err != nil {
		return Outcome{}, err
	}
	if sess != nil {
		if u, err := s.Users.UserByID(ctx, sess.UserID); err != nil || u.Disabled {
			sess = nil
		}
	}
	promptNone := slices.Contains(req.Prompt, "none")
	prompt, maxAge := req.Prompt, req.MaxAge

	var fl *Flow
	if req.Verifier != "" {
		resumed, err := s.Flows.Resume(ctx, req.Verifier, browser, req.ReturnTo)
		if err != nil && !errors.Is(err, ErrFlowNotFound) {
			return Outcome{}, err
		}
		// A stale, foreign or mismatched verifier is ignored: the request
		// starts over.
		if err == nil && resumed.Kind == KindAuthorize && resumed.LoginDone && sess != nil &&
			sess.Hash == resumed.SessionHash && resumed.ClientID == req.ClientID &&
			(req.HintSubject == "" || req.HintSubject == sess.UserID) {
			// The flow already honoured prompt=login and max_age; the
			// session is checked against this request's policy again.
			fl, prompt, maxAge = resumed, nil, -1
		}
	}
	if sess != nil && req.HintSubject != "" && req.HintSubject != sess.UserID {
		// The RP expects another user: this session cannot answer for them.
		if promptNone {
			return Outcome{}, ErrLoginRequired
		}
		prompt = append(slices.Clone(prompt), "login")
	}

	in := Input{ClientMin: req.ClientMin, ACRValues: req.ACRValues, RememberAllowed: req.RememberAllowed,
		StepUpMaxAge: req.StepUpMaxAge, Prompt: prompt, MaxAge: maxAge, Now: now}
	if sess != nil {
		if in, err = s.withUser(ctx, r, in, sess.UserID, sess.Results); err != nil {
			return Outcome{}, err
		}
	}
	dec := Policy{}.Evaluate(in)
	c := Client{Decision: dec}
	if dec.Satisfied && sess != nil && !fl.Consented(req.Scopes) {
		c.NeedsConsent = true
		if !slices.Contains(req.Prompt, "consent") && (req.SkipConsent || s.Consents == nil) {
			c.NeedsConsent = false
		} else if !slices.Contains(req.Prompt, "consent") {
			granted, err := s.Consents.Granted(ctx, sess.UserID, req.ClientID, req.Scopes)
			if err != nil {
				return Outcome{}, err
			}
			c.NeedsConsent = !granted
		}
	}

	switch step := Next(fl, sess, c); step {
	case StepDeny:
		_ = s.Flows.Consume(ctx, fl.ID)
		return Outcome{Step: StepDeny}, nil
	case StepIssue:
		requested := now
		if fl != nil {
			// The return URL is single-use: consuming the flow stops a
			// replayed redirect from minting a second code.
			if err := s.Flows.Consume(ctx, fl.ID); err != nil {
				return Outcome{}, err
			}
			requested = fl.CreatedAt
		}
		return Outcome{Step: StepIssue, Session: sess, Results: dec.Results, Flow: fl, RequestedAt: requested}, nil
	case StepConsent:
		if promptNone {
			return Outcome{}, ErrConsentRequired
		}
		if fl == nil {
			fl = &Flow{Kind: KindAuthorize, ReturnTo: req.ReturnTo, ClientID: req.ClientID, Scopes: req.Scopes,
				UserID: sess.UserID, Results: sess.Results, LoginDone: true, SessionHash: sess.Hash}
			if err := s.Flows.New(ctx, browser, fl); err != nil {
				return Outcome{}, err
			}
		}
		return Outcome{Step: StepConsent, Redirect: "/consent?flow=" + url.QueryEscape(fl.ID), Flow: fl}, nil
	default: // StepLogin, StepEnroll
		if promptNone {
			return Outcome{}, ErrLoginRequired
		}
		nf := &Flow{Kind: KindAuthorize, ReturnTo: req.ReturnTo, ClientID: req.ClientID, LoginHint: req.LoginHint,
			Scopes: req.Scopes, Required: Policy{}.Required(Input{ClientMin: req.ClientMin, ACRValues: req.ACRValues}),
			RememberAllowed: req.RememberAllowed, StepUpMaxAge: req.StepUpMaxAge, Fresh: dec.Fresh || sess == nil}
		if sess != nil && !dec.Fresh {
			// Step-up: keep what still counts of the session, ask only
			// for the rest. SessionHash ties the inherited factors to
			// that session: they count only while it lives (Pages.Finish).
			nf.UserID, nf.Results, nf.SessionHash = sess.UserID, provedOnly(dec.Results), sess.Hash
		}
		if err := s.Flows.New(ctx, browser, nf); err != nil {
			return Outcome{}, err
		}
		return Outcome{Step: step, Redirect: "/login?flow=" + url.QueryEscape(nf.ID), Flow: nf}, nil
	}
}

// withUser completes a policy input with what the user has enrolled and
// whether this browser is remembered for them.
func (s *Service) withUser(ctx context.Context, r *http.Request, in Input, userID string, results []Result) (Input, error) {
	e, err := s.Enrollment(ctx, userID)
	if err != nil {
		return in, err
	}
	in.Identified, in.Enrolled, in.Results = true, e, results
	if in.RememberAllowed {
		if in.Remembered, err = s.Remember.Stands(ctx, r, userID); err != nil {
			return in, err
		}
	}
	return in, nil
}

// Reauthenticate starts a flow in which a signed-in user proves again who
// they are, for a sensitive change on their account; the result replaces
// the session's factors. It returns where to send the browser.
func (s *Service) Reauthenticate(ctx context.Context, w http.ResponseWriter, r *http.Request, userID, returnTo string, level Level) (string, error) {
	fl := &Flow{Kind: KindReauth, ReturnTo: returnTo, UserID: userID, Required: level, Fresh: true}
	if err := s.Flows.New(ctx, s.Kit.BrowserID(w, r), fl); err != nil {
		return "", err
	}
	return "/login?flow=" + url.QueryEscape(fl.ID), nil
}

// decide is the policy's decision for a flow on /login: its own results,
// the user's enrollment (once the user is known) and this browser.
func (s *Service) decide(ctx context.Context, r *http.Request, fl *Flow) (Decision, error) {
	in := Input{ClientMin: fl.Required, Identifying: s.Identifying(), RememberAllowed: fl.RememberAllowed,
		StepUpMaxAge: fl.StepUpMaxAge, Results: fl.Results, MaxAge: -1, Now: s.Now().UTC()}
	if fl.UserID != "" {
		var err error
		if in, err = s.withUser(ctx, r, in, fl.UserID, fl.Results); err != nil {
			return Decision{}, err
		}
	}
	return Policy{}.Evaluate(in), nil
}

func (s *Service) audit(ctx context.Context, r *http.Request, userID, event, detail string) {
	Record(ctx, s.Audit, s.Log, r, s.Now(), userID, event, detail)
}

// Record appends an audit event for a request (r may be nil). A failed
// write is logged, never fatal: the sign-in or change it records stands.
func Record(ctx context.Context, au Auditor, log *slog.Logger, r *http.Request, at time.Time, userID, event, detail string) {
	if au == nil {
		return
	}
	e := store.AuditEvent{UserID: userID, Event: event, Detail: detail, At: at.UTC()}
	if r != nil {
		e.IP, e.UserAgent = web.ClientIP(r), truncate(r.UserAgent(), 300)
	}
	if err := au.Audit(ctx, e); err != nil {
		if log == nil {
			log = slog.Default()
		}
		log.ErrorContext(ctx, "audit", "event", event, "err", err)
	}
}

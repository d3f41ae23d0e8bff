package login

import (
	"context"
	"errors"
	"fmt"
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
	// Remember owns remembered browsers (nil: the feature is off).
	Remember *RememberedBrowsers
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
	for _, f := range s.Factors {
		e, ok := f.(Enrollable)
		if !ok {
			continue
		}
		on, err := e.Enrolled(ctx, userID)
		if err != nil {
			return nil, false, fmt.Errorf("enrollment of %s: %w", f.Method(), err)
		}
		if !on {
			continue
		}
		methods = append(methods, f.Method())
		if _, ok := f.(SecondFactor); ok {
			twoFA = true
		}
	}
	return methods, twoFA, nil
}

// AuthRequest is what Authorize needs to know of an authorization request.
type AuthRequest struct {
	ClientID  string
	ClientMin Level
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

// Outcome is Authorize's answer: either Redirect the browser, or the user is
// authenticated (Session set). Flow is the resumed flow, when there is one.
type Outcome struct {
	Redirect string
	Session  *Session
	Level    Level
	Flow     *Flow
	// RequestedAt is when the user's interaction for this request started,
	// for fosite's prompt/max_age checks.
	RequestedAt time.Time
}

// Authorize decides whether the browser's session satisfies req or which
// flow must run first. prompt=none that needs interaction yields
// ErrLoginRequired.
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

	if req.Verifier != "" {
		fl, err := s.Flows.Resume(ctx, req.Verifier, browser, req.ReturnTo)
		if err != nil && !errors.Is(err, ErrFlowNotFound) {
			return Outcome{}, err
		}
		if err == nil && fl.LoginDone && sess != nil && sess.Hash == fl.SessionHash && fl.ClientID == req.ClientID &&
			(req.HintSubject == "" || req.HintSubject == sess.UserID) {
			// The session is checked against this request's policy again:
			// the flow may have been started for a weaker one, or another
			// tab may have changed the session since.
			_, twoFA, err := s.Enrolled(ctx, sess.UserID)
			if err != nil {
				return Outcome{}, err
			}
			if Satisfied(sess.Results, RequiredLevel(req.ClientMin, req.ACRValues, twoFA)) {
				return Outcome{Session: sess, Level: ACR(sess.Results), Flow: fl, RequestedAt: fl.CreatedAt}, nil
			}
		}
		// A stale, foreign or insufficient verifier is ignored: the request
		// starts over.
	}

	promptNone := slices.Contains(req.Prompt, "none")
	fresh := slices.Contains(req.Prompt, "login")
	if sess != nil && req.MaxAge >= 0 && now.Sub(sess.AuthTime) > time.Duration(req.MaxAge)*time.Second {
		fresh = true
	}
	if sess != nil && req.HintSubject != "" && req.HintSubject != sess.UserID {
		// The RP expects another user: this session cannot answer for them.
		if promptNone {
			return Outcome{}, ErrLoginRequired
		}
		fresh = true
	}

	fl := &Flow{ReturnTo: req.ReturnTo, ClientID: req.ClientID, LoginHint: req.LoginHint, Scopes: req.Scopes,
		Required: RequiredLevel(req.ClientMin, req.ACRValues, false), Fresh: fresh}
	if sess != nil && !fresh {
		_, twoFA, err := s.Enrolled(ctx, sess.UserID)
		if err != nil {
			return Outcome{}, err
		}
		if Satisfied(sess.Results, RequiredLevel(req.ClientMin, req.ACRValues, twoFA)) {
			return Outcome{Session: sess, Level: ACR(sess.Results), RequestedAt: now}, nil
		}
		// Step-up: keep what the session proved, ask only for the rest.
		// SessionHash ties the inherited factors to that session: they
		// count only while it lives (see Pages.Finish).
		fl.UserID, fl.Results, fl.SessionHash = sess.UserID, slices.Clone(sess.Results), sess.Hash
	}
	if promptNone {
		return Outcome{}, ErrLoginRequired
	}
	if err := s.Flows.New(ctx, browser, fl); err != nil {
		return Outcome{}, err
	}
	return Outcome{Redirect: "/login?flow=" + url.QueryEscape(fl.ID)}, nil
}

// InteractionFlow returns the flow to continue an authorization that needs
// the user again (consent): the resumed one, or a new one for a request the
// session satisfied silently.
func (s *Service) InteractionFlow(ctx context.Context, w http.ResponseWriter, r *http.Request, out Outcome, req AuthRequest) (*Flow, error) {
	if out.Flow != nil {
		return out.Flow, nil
	}
	fl := &Flow{ReturnTo: req.ReturnTo, ClientID: req.ClientID, Scopes: req.Scopes,
		UserID: out.Session.UserID, Results: out.Session.Results, LoginDone: true, SessionHash: out.Session.Hash}
	if err := s.Flows.New(ctx, s.Kit.BrowserID(w, r), fl); err != nil {
		return nil, err
	}
	return fl, nil
}

// Reauthenticate starts a flow in which a signed-in user proves again who
// they are, for a sensitive change on their account; the result replaces
// the session's factors. It returns where to send the browser.
func (s *Service) Reauthenticate(ctx context.Context, w http.ResponseWriter, r *http.Request, userID, returnTo string, level Level) (string, error) {
	fl := &Flow{ReturnTo: returnTo, UserID: userID, Required: level, Fresh: true}
	if err := s.Flows.New(ctx, s.Kit.BrowserID(w, r), fl); err != nil {
		return "", err
	}
	return "/login?flow=" + url.QueryEscape(fl.ID), nil
}

// required is the level the flow must reach once its user is known.
func (s *Service) required(ctx context.Context, fl *Flow) (Level, []Method, error) {
	if fl.UserID == "" {
		return fl.Required, nil, nil
	}
	enrolled, twoFA, err := s.Enrolled(ctx, fl.UserID)
	if err != nil {
		return LevelNone, nil, err
	}
	return RequiredLevel(fl.Required, nil, twoFA), enrolled, nil
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
		log.Error("audit", "event", event, "err", err)
	}
}

package login

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"latchkey/store"
	"latchkey/web"
)

// FlowStore keeps flows as opaque documents; store.Store implements it.
type FlowStore interface {
	CreateFlow(ctx context.Context, id string, data []byte, expiresAt time.Time) error
	GetFlow(ctx context.Context, id string) ([]byte, error)
	// UpdateFlow runs fn in a transaction holding the flow; store calls
	// made with the context fn receives join that transaction.
	UpdateFlow(ctx context.Context, id string, fn func(ctx context.Context, data []byte) ([]byte, error)) error
	ConsumeFlow(ctx context.Context, id string) error
}

// ErrFlowNotFound means the flow is unknown, expired, consumed, or belongs to
// another browser: the user must start again from the application.
var ErrFlowNotFound = errors.New("sign-in flow not found or expired")

// Kind says what a flow is for; each handler continues only its kinds.
type Kind string

// The kinds of flow.
const (
	// KindAuthorize comes from /oauth2/auth: login, enrollment if the
	// level needs it, consent, then back to the authorization URL.
	KindAuthorize Kind = "authorize"
	// KindLocal signs in to Latchkey itself (/login, /signup, /account).
	KindLocal Kind = "local"
	// KindReauth proves a signed-in user again before a sensitive change.
	KindReauth Kind = "reauth"
	// KindCeremony is a passkey registration on /account: no sign-in.
	KindCeremony Kind = "ceremony"
	// KindRecovery is reserved for /recover (password and factor recovery).
	KindRecovery Kind = "recovery"
)

// signsIn tells whether /login continues flows of this kind.
func (k Kind) signsIn() bool {
	return k == KindAuthorize || k == KindLocal || k == KindReauth
}

// Flow is one authorization attempt's interaction: who is signing in, what
// they proved so far, what is still required, and where to return. Its
// state changes only through the transition methods below.
type Flow struct {
	ID   string `json:"id"`
	Kind Kind   `json:"kind"`
	// BrowserHash binds the flow to the browser cookie that started it.
	BrowserHash string `json:"browser"`
	// ReturnTo is the original /oauth2/auth URL (path and query), or a local
	// page such as /account for sign-ins not started by an application.
	ReturnTo string `json:"return_to"`
	ClientID string `json:"client_id,omitempty"`
	// Required is the level asked by the client and the relying party; the
	// user's own 2FA is added once the user is known.
	Required Level `json:"required"`
	// RememberAllowed and StepUpMaxAge are the client's policy, kept so
	// every step decides as /oauth2/auth did.
	RememberAllowed bool          `json:"remember_allowed,omitempty"`
	StepUpMaxAge    time.Duration `json:"step_up_max_age,omitempty"`
	// Remember: the user asked to remember this browser after a second
	// factor; applied when the login finishes.
	Remember bool `json:"remember,omitempty"`
	// Fresh means the session's earlier factors do not count (prompt=login,
	// max_age exceeded).
	Fresh     bool     `json:"fresh,omitempty"`
	LoginHint string   `json:"login_hint,omitempty"`
	Scopes    []string `json:"scopes,omitempty"`
	UserID    string   `json:"user_id,omitempty"`
	Results   []Result `json:"results,omitempty"`
	LoginDone bool     `json:"login_done,omitempty"`
	// SessionHash is the SSO session the finished login landed in.
	SessionHash   string   `json:"session,omitempty"`
	ConsentDone   bool     `json:"consent_done,omitempty"`
	ConsentDenied bool     `json:"consent_denied,omitempty"`
	GrantedScopes []string `json:"granted_scopes,omitempty"`
	// Failures counts wrong answers in this flow.
	Failures int `json:"failures,omitempty"`
	// State is per-factor scratch space (WebAuthn session data, a pending
	// magic link), keyed by method.
	State     map[Method]json.RawMessage `json:"state,omitempty"`
	CreatedAt time.Time                  `json:"created_at"`
	ExpiresAt time.Time                  `json:"expires_at"`
}

// ErrWrongStep refuses a transition the flow's kind or state does not
// allow; handlers answer it like an unknown flow.
var ErrWrongStep = fmt.Errorf("%w: wrong step for this flow", ErrFlowNotFound)

// CanLogin tells whether /login may continue the flow.
func (f *Flow) CanLogin() bool { return f.Kind.signsIn() && !f.LoginDone }

// CanConsent tells whether /consent may continue the flow: an
// authorization whose login is done and not yet answered.
func (f *Flow) CanConsent() bool {
	return f.Kind == KindAuthorize && f.LoginDone && !f.ConsentDone && !f.ConsentDenied
}

// IsCeremony tells whether the flow is a passkey registration.
func (f *Flow) IsCeremony() bool { return f.Kind == KindCeremony }

// AddResult records a factor the user proved. The first result names the
// user; a result for anybody else is refused.
func (f *Flow) AddResult(res Result) error {
	if !f.CanLogin() || res.UserID == "" || (f.UserID != "" && f.UserID != res.UserID) {
		return ErrWrongStep
	}
	f.UserID = res.UserID
	f.Results = append(f.Results, res)
	return nil
}

// AskRemember records the "remember this browser" choice.
func (f *Flow) AskRemember(on bool) { f.Remember = on && f.RememberAllowed }

// Failed counts a wrong answer; it returns the count.
func (f *Flow) Failed() int {
	f.Failures++
	return f.Failures
}

// FinishLogin lands the flow's login in the session sessionHash; results
// are those that count (the policy may have added a remembered browser).
func (f *Flow) FinishLogin(sessionHash string, results []Result) error {
	if !f.CanLogin() || f.UserID == "" {
		return ErrWrongStep
	}
	f.LoginDone, f.SessionHash, f.Results = true, sessionHash, results
	return nil
}

// Grant records consent to the flow's scopes.
func (f *Flow) Grant() error {
	if !f.CanConsent() {
		return ErrWrongStep
	}
	f.ConsentDone, f.GrantedScopes = true, slices.Clone(f.Scopes)
	return nil
}

// Deny records that the user refused.
func (f *Flow) Deny() error {
	if !f.CanConsent() {
		return ErrWrongStep
	}
	f.ConsentDenied, f.GrantedScopes = true, nil
	return nil
}

// Consented tells whether the user granted every one of scopes here.
func (f *Flow) Consented(scopes []string) bool {
	if f == nil || !f.ConsentDone {
		return false
	}
	for _, s := range scopes {
		if !slices.Contains(f.GrantedScopes, s) {
			return false
		}
	}
	return true
}

// NewCeremony returns a passkey-registration flow for a signed-in user's
// session, to be stored with Flows.New.
func NewCeremony(userID, sessionHash, returnTo string) *Flow {
	return &Flow{Kind: KindCeremony, ReturnTo: returnTo, UserID: userID, SessionHash: sessionHash}
}

// SetState stores a factor's scratch value.
func (f *Flow) SetState(m Method, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("flow state %s: %w", m, err)
	}
	if f.State == nil {
		f.State = map[Method]json.RawMessage{}
	}
	f.State[m] = b
	return nil
}

// GetState loads a factor's scratch value; it reports false when unset.
func (f *Flow) GetState(m Method, v any) (bool, error) {
	b, ok := f.State[m]
	if !ok {
		return false, nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("flow state %s: %w", m, err)
	}
	return true, nil
}

// Flows creates, loads and changes flows.
type Flows struct {
	Store FlowStore
	Kit   *web.Kit
	TTL   time.Duration
	Now   func() time.Time
}

// New stores a fresh flow for the browser; fl's ID and times are set here.
func (fs *Flows) New(ctx context.Context, browserID string, fl *Flow) error {
	fl.ID = fs.Kit.RandomID()
	fl.BrowserHash = web.Hash(browserID)
	fl.CreatedAt = fs.Now().UTC()
	fl.ExpiresAt = fl.CreatedAt.Add(fs.TTL)
	b, err := json.Marshal(fl)
	if err != nil {
		return fmt.Errorf("new flow: %w", err)
	}
	return fs.Store.CreateFlow(ctx, fl.ID, b, fl.ExpiresAt)
}

// Get loads a live flow of this browser.
func (fs *Flows) Get(ctx context.Context, id, browserID string) (*Flow, error) {
	b, err := fs.Store.GetFlow(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrFlowNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("load flow: %w", err)
	}
	var fl Flow
	if err := json.Unmarshal(b, &fl); err != nil {
		return nil, fmt.Errorf("load flow: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(fl.BrowserHash), []byte(web.Hash(browserID))) != 1 {
		return nil, ErrFlowNotFound
	}
	return &fl, nil
}

// AfterCommit is an effect of a flow update that must not run while the
// update holds the flow (sending mail, calling a relying party): Update runs
// it once the change has committed, and never when it rolled back. ctx is
// the caller's context, outside the transaction.
type AfterCommit func(ctx context.Context)

// Update changes a live flow of this browser in one transaction. fn gets
// the transaction's context: store calls made with it join the change and
// commit or roll back with it (a call with the outer context would wait for
// the flow's own lock). The effects fn returns run after the commit, in
// order. fn's error aborts the change and is returned.
func (fs *Flows) Update(ctx context.Context, id, browserID string, fn func(ctx context.Context, fl *Flow) ([]AfterCommit, error)) (*Flow, error) {
	var (
		out   Flow
		after []AfterCommit
	)
	err := fs.Store.UpdateFlow(ctx, id, func(txCtx context.Context, b []byte) ([]byte, error) {
		out, after = Flow{}, nil
		if err := json.Unmarshal(b, &out); err != nil {
			return nil, fmt.Errorf("load flow: %w", err)
		}
		if subtle.ConstantTimeCompare([]byte(out.BrowserHash), []byte(web.Hash(browserID))) != 1 {
			return nil, ErrFlowNotFound
		}
		var err error
		if after, err = fn(txCtx, &out); err != nil {
			return nil, err
		}
		return json.Marshal(&out)
	})
	if err != nil {
		if errors.Is(err, ErrFlowNotFound) || errors.Is(err, store.ErrNotFound) {
			return nil, ErrFlowNotFound
		}
		return nil, err
	}
	for _, a := range after {
		a(ctx)
	}
	return &out, nil
}

// Apply is Update for a change of the flow alone (a transition), with no
// store writes and no effects.
func (fs *Flows) Apply(ctx context.Context, id, browserID string, fn func(fl *Flow) error) (*Flow, error) {
	return fs.Update(ctx, id, browserID, func(_ context.Context, fl *Flow) ([]AfterCommit, error) {
		return nil, fn(fl)
	})
}

// Consume ends a flow; of two concurrent callers only one succeeds.
func (fs *Flows) Consume(ctx context.Context, id string) error {
	if err := fs.Store.ConsumeFlow(ctx, id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return ErrFlowNotFound
		}
		return err
	}
	return nil
}

// VerifierParam is the query parameter that carries the return verifier back
// to /oauth2/auth.
const VerifierParam = "login_verifier"

// ReturnURL is where a finished step sends the browser: the original URL
// with a verifier naming the flow, MAC-bound to its return URL so it cannot
// be spliced onto another request.
func (fs *Flows) ReturnURL(fl *Flow) string {
	if !strings.HasPrefix(fl.ReturnTo, "/oauth2/auth") {
		return fl.ReturnTo
	}
	sep := "?"
	if strings.Contains(fl.ReturnTo, "?") {
		sep = "&"
	}
	return fl.ReturnTo + sep + VerifierParam + "=" + url.QueryEscape(fs.verifier(fl))
}

func (fs *Flows) verifier(fl *Flow) string {
	return fl.ID + "." + base64.RawURLEncoding.EncodeToString(fs.Kit.Keys.MAC("return", fl.ID, fl.ReturnTo))
}

// Resume loads the flow a verifier names, checking it was made for
// returnTo and this browser.
func (fs *Flows) Resume(ctx context.Context, verifier, browserID, returnTo string) (*Flow, error) {
	id, sig, ok := strings.Cut(verifier, ".")
	if !ok {
		return nil, ErrFlowNotFound
	}
	sum, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !fs.Kit.Keys.VerifyMAC(sum, "return", id, returnTo) {
		return nil, ErrFlowNotFound
	}
	return fs.Get(ctx, id, browserID)
}

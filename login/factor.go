package login

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"
)

// ErrInvalid is the one answer a factor gives for a wrong secret, an unknown
// account or a disabled one alike, so nothing reveals which it was.
var ErrInvalid = errors.New("the details you entered are not correct")

// ErrUnavailable means the factor cannot be used in this flow (not
// enrolled, nothing pending).
var ErrUnavailable = errors.New("this sign-in method is not available here")

// ErrTooManyRequests means the client asked a factor too often lately
// (the magic link's mails per IP): 429, the step again with the error's
// text, as /signup and /recover answer their limits.
var ErrTooManyRequests = errors.New("too many requests; wait a few minutes and try again")

// ErrBusy means the server is at its limit for a costly check (password
// hashing) and the request could not be served in time: 503, try again.
var ErrBusy = errors.New("too many sign-ins at once; please try again in a moment")

// Attempt is what a factor gets to check an answer.
type Attempt struct {
	// Flow is a copy of the flow; a factor changes it only through the
	// state it returns in its Result path (see Stateful).
	Flow    *Flow
	Form    url.Values
	Request *http.Request
	Now     time.Time
}

// Factor is one way of proving who you are.
type Factor interface {
	Method() Method
	// Verify checks the answer in a.Form. An identifying factor finds the
	// user itself; any other checks a.Flow.UserID. Wrong answers return an
	// error wrapping ErrInvalid.
	Verify(ctx context.Context, a Attempt) (Result, error)
}

// Identifier is a factor that can come first and tell who the user is
// (password, magic link, discoverable passkey).
type Identifier interface {
	Factor
	Identifies()
}

// Enrollable is a factor a user may or may not have set up.
type Enrollable interface {
	Factor
	Enrolled(ctx context.Context, userID string) (bool, error)
}

// SecondFactor marks factors whose enrollment turns 2FA on for the user
// (TOTP, passkeys): such users are always asked for two factors.
type SecondFactor interface {
	Enrollable
	SecondFactor()
}

// Challenger is a factor that must prepare something before its form can be
// answered (send a link, issue WebAuthn options). Challenge runs inside the
// flow update: it may change fl (its State), its store calls made with ctx
// join that transaction, and what must wait for the commit (sending the
// mail) it returns as effects. view is what the page needs to render.
type Challenger interface {
	Factor
	// WantsChallenge tells whether the posted form asks for a challenge
	// rather than answering one.
	WantsChallenge(form url.Values) bool
	Challenge(ctx context.Context, fl *Flow, r *http.Request) (view any, after []AfterCommit, err error)
}

// StateUpdater is a factor whose Verify consumes flow state (a WebAuthn
// challenge is single-use): Settle runs inside the flow update that records
// the result.
type StateUpdater interface {
	Factor
	Settle(fl *Flow)
}

// StepViewer is a factor whose part of the login page depends on the flow
// (the magic link's "we sent a code" form): StepView returns what the page
// shows for it, nil for the default.
type StepViewer interface {
	Factor
	StepView(fl *Flow) any
}

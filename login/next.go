package login

// Step is what comes next for an authorization or a sign-in.
type Step int

// The steps Next chooses from.
const (
	// StepRefuse: the flow is of a kind no sign-in step continues (a
	// passkey registration, say); it is treated as unknown.
	StepRefuse Step = iota
	// StepLogin asks the user for factors on /login.
	StepLogin
	// StepEnroll walks the user through setting up the factor the level
	// needs (Decision.Enroll), inside the same sign-in.
	StepEnroll
	// StepConsent asks on /consent.
	StepConsent
	// StepIssue lets the provider issue the authorization code.
	StepIssue
	// StepDeny: the user refused consent (access_denied).
	StepDeny
	// StepReturn: a sign-in not started by an application is done; the
	// browser goes back to the flow's local page.
	StepReturn
)

var stepNames = [...]string{"refuse", "login", "enroll", "consent", "issue", "deny", "return"}

func (s Step) String() string { return stepNames[s] }

// Client is what Next needs to know of the application and the request
// beyond the flow and the session.
type Client struct {
	// Decision is the policy's answer for the results in hand: the
	// session's at /oauth2/auth, the flow's on /login.
	Decision Decision
	// NeedsConsent: neither skip_consent nor a remembered grant covers the
	// requested scopes, or the request says prompt=consent.
	NeedsConsent bool
}

// Next is the one place that decides a flow's next step; fl is nil when
// an authorization request comes without a flow (a session may answer it
// silently). Handlers do what it says and nothing else.
//
//	kind       login not satisfied   satisfied: consent asked   satisfied: no consent
//	authorize  Login | Enroll        Consent (Deny if refused)  Issue
//	local      Login | Enroll        Return                     Return
//	reauth     Login | Enroll        Return                     Return
//	ceremony   Refuse                Refuse                     Refuse
//	recovery   Refuse (its own pages, not /login)
func Next(fl *Flow, sess *Session, c Client) Step {
	if fl != nil && !fl.Kind.signsIn() {
		return StepRefuse
	}
	if fl != nil && fl.ConsentDenied {
		return StepDeny
	}
	loggedIn := c.Decision.Satisfied
	if fl == nil || fl.LoginDone {
		// Outside /login the results must live in the browser's session.
		loggedIn = loggedIn && sess != nil
	}
	if !loggedIn {
		if c.Decision.Enroll != "" {
			return StepEnroll
		}
		return StepLogin
	}
	if fl != nil && fl.Kind != KindAuthorize {
		return StepReturn
	}
	if fl != nil && !fl.LoginDone {
		// /login finished its part: the authorization URL takes over and
		// asks Next again.
		return StepReturn
	}
	if c.NeedsConsent {
		return StepConsent
	}
	return StepIssue
}

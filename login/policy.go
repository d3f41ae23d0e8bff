package login

import (
	"slices"
	"time"
)

// Policy decides what a sign-in must reach and what it asks next. It is
// pure: everything it depends on is in Input, so one table test covers it.
type Policy struct{}

// Input is everything a decision depends on. Callers compute the user's
// enrollment once per request (Service.Enrollment) and pass it here.
type Input struct {
	// ClientMin is the client's min_acr.
	ClientMin Level
	// ACRValues are the levels the relying party asked for: acr_values and
	// the claims parameter's acr. Any one of them satisfies the request.
	ACRValues []string
	// Identified is true once the user is known (a factor identified them
	// or the session did); Identifying lists the factors that can come
	// first, offered before that.
	Identified  bool
	Identifying []Method
	// Enrolled is the user's enrollment; TwoFA turns 2FA on.
	Enrolled Enrollment
	// Remembered: this browser is remembered for the user (it may stand in
	// for the second factor); RememberAllowed: the client lets it.
	Remembered      bool
	RememberAllowed bool
	// Results are the factors proved so far, with their times: the
	// session's at /oauth2/auth, the flow's on /login.
	Results []Result
	// StepUpMaxAge (the client's step_up_max_age): a second factor older
	// than this no longer counts; the first one is kept. Zero: no limit.
	StepUpMaxAge time.Duration
	// Prompt and MaxAge (seconds, negative when absent) of the request:
	// prompt=login or an older authentication makes every result stale.
	Prompt []string
	MaxAge int64
	Now    time.Time
}

// Enrollment is what a user has set up.
type Enrollment struct {
	Methods []Method
	// TwoFA: a second factor is enrolled, so every sign-in needs two.
	TwoFA bool
}

// Decision is the policy's answer.
type Decision struct {
	// Required is the level the sign-in must reach.
	Required Level
	// Fresh: prompt=login or max_age made every earlier result stale.
	Fresh bool
	// Results are the results that count, with a remembered browser's
	// stand-in added when it completes the level; Level is their acr.
	Results []Result
	Level   Level
	// Satisfied: Results reach Required; nothing more is asked.
	Satisfied bool
	// Offer lists the methods to ask for next, passkey first: before the
	// user is known the identifying ones, after only what is missing.
	Offer []Method
	// Enroll names the factor the user must set up in this sign-in
	// because nothing enrolled can reach Required (TOTP for mfa, a passkey
	// for phr/phrh); empty when none.
	Enroll Method
}

// Required is the level a sign-in must reach: the strongest of the
// client's min_acr, the acr_values the relying party asked for and the
// user's own choice (a user with a second factor is always asked for it).
//
// acr_values lists acceptable levels in order of preference (OIDC Core
// 3.1.2.1), so any one of them satisfies the request: the weakest known one
// counts. Unknown values are ignored, as the spec lets an OP do.
func (Policy) Required(in Input) Level {
	req := max(in.ClientMin, Level1FA)
	asked := LevelNone
	for _, v := range in.ACRValues {
		if l, err := ParseLevel(v); err == nil && (asked == LevelNone || l < asked) {
			asked = l
		}
	}
	req = max(req, asked)
	if in.Enrolled.TwoFA {
		req = max(req, LevelMFA)
	}
	return req
}

// Evaluate decides the sign-in's next step.
func (p Policy) Evaluate(in Input) Decision {
	d := Decision{Required: p.Required(in)}
	results := slices.Clone(in.Results)
	if slices.Contains(in.Prompt, "login") ||
		(in.MaxAge >= 0 && len(results) > 0 && in.Now.Sub(AuthTime(results)) > time.Duration(in.MaxAge)*time.Second) {
		d.Fresh, results = true, nil
	}
	// A remembered browser is checked live on every request (so revoking
	// it takes effect at once), never carried over in results.
	results = slices.DeleteFunc(results, func(r Result) bool { return r.Method == MethodRemembered })
	if in.StepUpMaxAge > 0 && len(results) > 1 {
		// The first factor stays; a later one older than the limit is
		// asked again.
		kept := results[:1]
		for _, r := range results[1:] {
			if in.Now.Sub(r.At) <= in.StepUpMaxAge {
				kept = append(kept, r)
			}
		}
		results = kept
	}
	if in.Remembered && in.RememberAllowed && d.Required == LevelMFA && ACR(results) == Level1FA {
		// A remembered browser stands in for the second factor at mfa
		// only: ACR never lets it make a sign-in phishing-resistant.
		results = append(results, Result{Method: MethodRemembered, UserID: results[0].UserID, At: in.Now})
	}
	d.Results, d.Level = results, ACR(results)
	d.Satisfied = len(results) > 0 && d.Level >= d.Required
	if d.Satisfied {
		return d
	}
	if !in.Identified {
		d.Offer = passkeyFirst(slices.Clone(in.Identifying))
		return d
	}
	var unused []Method
	for _, m := range in.Enrolled.Methods {
		// Another passkey may reach what the one used did not (a
		// device-bound one for phrh).
		if !Used(results, m) || (m == MethodPasskey && d.Required >= LevelPHR) {
			unused = append(unused, m)
		}
	}
	// What each unused method would give, at best (a passkey with user
	// verification on a device-bound authenticator).
	with := func(ms ...Method) Level {
		rs := slices.Clone(results)
		for _, m := range ms {
			rs = append(rs, Result{Method: m, UserVerified: true, DeviceBound: true})
		}
		return ACR(rs)
	}
	if with(unused...) < d.Required {
		// Nothing the user has can get there: enroll in this sign-in.
		d.Enroll = MethodTOTP
		if d.Required >= LevelPHR {
			d.Enroll = MethodPasskey
		}
		return d
	}
	for _, m := range unused {
		if with(m) >= d.Required {
			d.Offer = append(d.Offer, m)
		}
	}
	if len(d.Offer) == 0 {
		// No single method completes the level (a re-authentication
		// starting from nothing): offer every step that leads there.
		d.Offer = unused
	}
	d.Offer = passkeyFirst(d.Offer)
	return d
}

// passkeyFirst moves the passkey to the front: the strongest, and the
// quickest for a user who has one.
func passkeyFirst(ms []Method) []Method {
	if i := slices.Index(ms, MethodPasskey); i > 0 {
		ms = slices.Insert(slices.Delete(ms, i, i+1), 0, MethodPasskey)
	}
	return slices.Clip(ms)
}

// Satisfied tells whether results reach level.
func Satisfied(results []Result, level Level) bool {
	return len(results) > 0 && ACR(results) >= level
}

// Recent tells whether the factors proved within window before now reach
// level on their own: sensitive account changes need a fresh proof, not a
// session that was strong hours ago. A remembered browser is no proof.
func Recent(results []Result, now time.Time, window time.Duration, level Level) bool {
	var fresh []Result
	for _, r := range results {
		if now.Sub(r.At) <= window && r.Method != MethodRemembered {
			fresh = append(fresh, r)
		}
	}
	return Satisfied(fresh, level)
}

// Package login orchestrates sign-in: it decides whether an authorization
// request needs the user to authenticate (Service.Authorize), runs the flow of
// factors on /login until the required level is reached, and keeps the SSO
// browser session that the result lands in.
//
// The flow, kept server-side so any replica can continue it:
//
//	/oauth2/auth ──Authorize──> satisfied by the SSO session? ──yes──> consent, code
//	      │ no (no session, prompt=login, max_age, acr step-up)
//	      v
//	Flow{ReturnTo, Required, UserID?, Results} ──> /login?flow=ID
//	      │ POST method=password|totp|recovery_code|magic_link|passkey
//	      │   Factor.Verify -> Result appended (one user per flow)
//	      │   Level(Results) >= Required ? ──no──> next step offers only what is missing
//	      v yes
//	session saved (step-up keeps earlier factors), flow.LoginDone
//	      └──> back to the original /oauth2/auth URL + return verifier (fosite re-validates)
//
// amr and acr are derived from the completed Results in one place (amr.go);
// nothing else decides them. Each factor lives in its own sub-package and
// implements Factor, plus the optional capabilities it has.
package login

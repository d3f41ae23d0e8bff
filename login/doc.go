// Package login orchestrates sign-in. It owns the flow (Flow, its kinds and
// transitions), decides every next step in one place (Next), asks one
// object what a sign-in needs (Policy.Evaluate), derives amr/acr in one
// place (amr.go), keeps the SSO session (Sessions) and remembered browsers
// (RememberedBrowsers), and serves /login.
//
// The flow's lifecycle, kept server-side so any replica can continue it:
//
//	/oauth2/auth ─ provider parses ─> Service.Authorize:
//	    session + enrollment + remembered browser ─> Policy.Evaluate ─> Decision
//	    Next(flow?, session, Client{Decision, NeedsConsent}) ─┬─ Issue   ─> code (flow consumed)
//	                                                          ├─ Consent ─> /consent?flow
//	                                                          ├─ Deny    ─> access_denied
//	                                                          └─ Login | Enroll:
//	Flow{Kind: authorize, Required, client policy, UserID+Results kept for step-up}
//	    │ /login?flow=ID  (local: /login without an app; reauth: /account changes)
//	    │ POST method=... ─> Factor.Verify ─> Flow.AddResult (one user per flow)
//	    │ Policy.Evaluate(flow results) ─> Next ─┬─ Login:  offer only what is missing, passkey first
//	    │                                        ├─ Enroll: set up TOTP (mfa) or a passkey (phr/phrh)
//	    │                                        └─ Return: satisfied
//	    v
//	Sessions.Save (a new cookie every time: Rotate keeps the sid, kills the old cookie)
//	Flow.FinishLogin; "remember this browser" recorded when ticked after a 2nd factor
//	    └──> back to the original /oauth2/auth URL + verifier ─> Next again
//	/consent: only an authorize flow whose login is done ─> Flow.Grant | Flow.Deny
//	ceremony (passkey registration on /account), recovery: refused by /login and /consent
//
// Flow.Update runs in a transaction whose context the callback receives
// (store writes inside join it) and returns effects that run after commit.
// Each factor lives in its own sub-package and implements Factor, plus the
// optional capabilities it has.
package login

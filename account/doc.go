// Package account is the signed-in user's own pages under /account.
//
//	GET  /account                  factors; where the user is signed in (device in words, IP, last
//	                               seen; this browser marked); remembered browsers; applications
//	                               allowed; recent activity in plain words (Describe, Device)
//	POST /account/sessions/revoke  session=sid: another browser signs out through Sessions.End, so
//	                               the applications it signed in to get back-channel logout
//	POST /account/browsers/forget  browser=id: it asks for the second factor again
//	POST /account/apps/revoke      client=id: consent forgotten (asked again), the app's tokens revoked
//	GET|POST /account/password     current + new password (sign-up rules); the other sessions end,
//	                               remembered browsers are forgotten, audited and mailed
//
// and the pages where each factor is enrolled or removed (totp.go,
// recovery.go, passkeys.go). Without a session the pages lead through
// /login and back; sensitive changes first ask for a recent
// re-authentication (RequireRecent). The last second factor goes only by
// an explicit "turn two-factor authentication off".
package account

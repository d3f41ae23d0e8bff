// Package passkey is the passkey factor: WebAuthn credentials, registered
// from /account/passkeys and used to sign in, either as the second factor
// after a password (the user's credentials are listed in allowCredentials)
// or as the whole sign-in with a discoverable credential (the button, or
// the browser's autofill via conditional mediation), where the user handle
// the authenticator returns tells who is signing in.
//
// The ceremonies, with go-webauthn doing the verification:
//
//	sign-in   POST /login/passkey/options?flow=ID  (CSRF)  -> Challenge: options,
//	            the SessionData kept in the flow's state (never in a cookie)
//	          navigator.credentials.get -> POST /login method=passkey credential=JSON
//	            -> Verify: origin, RP ID, challenge, signature, UV, counter
//	            -> Settle drops the SessionData in the transaction that records
//	               the result, so a challenge answers once
//	register  /account/passkeys: BeginRegistration keeps the SessionData in a
//	            flow of its own, FinishRegistration consumes that flow first
//
// The Result carries the authenticator's UV flag (UserVerified) and whether
// the credential is device-bound (backup-eligible flag clear); amr and acr
// are derived from those in login/amr.go, nowhere here.
//
// A sign counter that does not go up (a cloned authenticator) is refused and
// audited as passkey.clone_detected; authenticators that always report 0
// are accepted. The counter and the challenge of the last accepted
// assertion are stored in one conditional update, so one assertion is
// accepted once, across replicas.
package passkey

// Package totp is the authenticator-app factor (amr "otp"): RFC 6238 codes
// (SHA-1, 6 digits, 30-second steps, totp.skew steps either side of now)
// through github.com/pquerna/otp.
//
// Enrollment is two steps: Begin stores a pending 160-bit secret (sealed
// with the configured secrets, bound to the user ID) and returns the
// otpauth:// URI, its QR code and the secret for manual entry; Confirm turns
// it on once the user enters a valid code. Only a confirmed secret makes the
// factor Enrolled, and the factor is a login.SecondFactor: once it is on,
// every sign-in of that user needs it (or a recovery code).
//
// A code works once: accepting it is a conditional UPDATE that raises the
// user's last used time step, so the same code on two replicas at once is
// accepted by one of them only. Wrong codes count toward the account's
// lockout (login/lockout) with its other guessable factors; the login
// handler asks it before Verify, so a locked account's right code is
// refused like a wrong one.
package totp

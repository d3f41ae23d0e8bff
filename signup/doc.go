// Package signup is self-service registration at /signup (when the config
// says signup: true): email and a password chosen under NIST SP 800-63B's
// rules. The new account is signed in with the password factor and the
// flow it was started from (an application's sign-in) continues.
package signup

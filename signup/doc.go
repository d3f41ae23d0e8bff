// Package signup is self-service registration at /signup (when the config
// says signup: true), email first: the address is proven by a mailed link
// or code (the magic-link rules) before a password, chosen under NIST SP
// 800-63B's rules, is set. The page is the same whether or not the address
// already has an account; its owner gets a "you already have an account"
// mail instead. The new account (email verified, with the name given) is
// signed in with the password factor and the flow it was started from (an
// application's sign-in) continues.
package signup

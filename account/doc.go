// Package account is the signed-in user's own pages under /account: an
// overview of their factors, sessions and recent sign-ins, and the pages
// where each factor is enrolled or removed. Without a session the pages
// lead through /login and back; sensitive changes first ask for a recent
// re-authentication (RequireRecent).
package account

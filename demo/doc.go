// Package demo is a tiny relying party inside the server, on by default in
// the no-config development mode: /demo starts a real authorization code
// flow with PKCE against this very server (go-oidc and x/oauth2, over
// HTTP), and /demo/callback verifies the ID token and shows its claims, so
// a newcomer sees amr, acr and auth_time for the way they signed in.
package demo

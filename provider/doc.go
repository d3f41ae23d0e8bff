// Package provider is the OpenID Provider: fosite assembled with explicit
// factories (authorization code + PKCE, OpenID Connect, refresh with
// rotation, client credentials, revocation, introspection), the storage
// adapter between fosite and the store, the signing keys with their JWKS and
// rotation, and the OIDC endpoints:
//
//	GET  /.well-known/openid-configuration   discovery
//	GET  /oauth2/jwks                        published signing keys
//	GET  /oauth2/auth                        authorization (login and consent run in between)
//	POST /oauth2/token                       code, refresh_token, client_credentials
//	GET  /oauth2/userinfo (and POST)         claims for a bearer access token
//	POST /oauth2/revoke, /oauth2/introspect  RFC 7009, RFC 7662
//
// The ID token's amr, acr and auth_time come from login's results; this
// package only copies them into fosite's session.
package provider

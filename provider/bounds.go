package provider

import (
	"net/url"

	"github.com/ory/fosite"
)

// Caps on what an unauthenticated authorization request can make the
// provider store: the flow row keeps the authorization URL and the login
// hint, and token rows keep state and nonce. Without them a GET of a few
// hundred kilobytes (bounded only by the header limit) became a row of the
// same size, per request.
const (
	MaxLoginHint = 256
	MaxState     = 512
	MaxNonce     = 512
	// MaxAuthorizeURL caps the whole stored authorization URL (the flow's
	// ReturnTo): room for the capped parameters, a claims request and PKCE.
	MaxAuthorizeURL = 8 << 10
)

// stateTooLong is checked before anything else: an error redirect would
// echo the state back in the Location header.
func stateTooLong(form url.Values) bool {
	return len(form.Get("state")) > MaxState
}

// boundsError refuses a request whose parameters, or whose URL as a whole,
// are longer than the provider keeps.
func boundsError(form url.Values, returnTo string) error {
	switch {
	case len(form.Get("login_hint")) > MaxLoginHint:
		return fosite.ErrInvalidRequest.WithHint("The login_hint is too long.")
	case len(form.Get("nonce")) > MaxNonce:
		return fosite.ErrInvalidRequest.WithHint("The nonce is too long.")
	case len(returnTo) > MaxAuthorizeURL:
		return fosite.ErrInvalidRequest.WithHint("The authorization request is too long.")
	}
	return nil
}

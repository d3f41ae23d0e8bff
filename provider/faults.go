package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/ory/fosite"

	"latchkey/store"
)

// errUnavailable marks a failure of the database, as opposed to a row that
// is missing or already used. fosite turns many storage errors into "not
// found", "inactive" or a 200 (revocation); the endpoints look for this
// mark first so that an outage is a 503, never a false answer.
var errUnavailable = errors.New("storage unavailable")

// unavailable marks err as a storage failure.
func unavailable(err error) error {
	if err == nil || errors.Is(err, errUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", errUnavailable, err)
}

// storeFault marks a store error unless it only says the row is absent.
func storeFault(err error) error {
	if err == nil || errors.Is(err, store.ErrNotFound) {
		return err
	}
	return unavailable(err)
}

// isUnavailable tells whether err, however fosite wrapped it, came from a
// storage failure.
func isUnavailable(err error) bool {
	return errors.Is(err, errUnavailable) || errors.Is(err, fosite.ErrTemporarilyUnavailable)
}

// oauthError is the error an OAuth endpoint sends for err: 503
// temporarily_unavailable for a storage failure, server_error for anything
// else fosite does not know (which it would send as {"error":"error"}).
func oauthError(err error) error {
	if isUnavailable(err) {
		return fosite.ErrTemporarilyUnavailable.WithWrap(err).WithHint("The service is temporarily unavailable; try again shortly.")
	}
	var rfc *fosite.RFC6749Error
	if !errors.As(err, &rfc) {
		return fosite.ErrServerError.WithWrap(err)
	}
	return err
}

// writeUnavailable is the 503 of the endpoints fosite does not answer
// (revocation, userinfo, introspection).
func writeUnavailable(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Retry-After", "5")
	writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "temporarily_unavailable",
		"error_description": "The service is temporarily unavailable; try again shortly."})
}

// revokeGrant deactivates the access and refresh tokens issued for one
// authorization request.
func (p *Provider) revokeGrant(ctx context.Context, requestID string) error {
	if requestID == "" {
		return nil
	}
	if err := p.tokens.DeactivateRequestTokens(ctx, store.KindRefreshToken, requestID); err != nil {
		return err
	}
	return p.tokens.DeactivateRequestTokens(ctx, store.KindAccessToken, requestID)
}

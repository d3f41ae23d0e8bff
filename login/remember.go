package login

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net/http"
	"time"

	"latchkey/store"
	"latchkey/web"
)

// RememberCookie holds the browser's remember token (random; the database
// keeps only its hash). One token serves every user remembered on the
// browser.
const RememberCookie = "lk_remember"

// RememberField is the checkbox offered after a second factor.
const RememberField = "remember_browser"

// RememberStore keeps remembered browsers; store.Store implements it.
type RememberStore interface {
	RememberBrowser(ctx context.Context, b *store.RememberedBrowser) error
	UseRememberedBrowser(ctx context.Context, tokenHash, userID string) (bool, error)
	ListRememberedBrowsers(ctx context.Context, userID string) ([]store.RememberedBrowser, error)
	RevokeRememberedBrowser(ctx context.Context, userID, id string) (bool, error)
	RevokeUserRememberedBrowsers(ctx context.Context, userID string) (int64, error)
}

// RememberedBrowsers owns "remember this browser": after a second factor a
// browser may stand in for it at the mfa level (never phr/phrh; the policy
// decides where) until TTL passes or it is revoked. A zero TTL turns the
// feature off.
type RememberedBrowsers struct {
	Store RememberStore
	Kit   *web.Kit
	TTL   time.Duration
	Now   func() time.Time
}

// RememberedBrowser describes one remembered browser for /account.
type RememberedBrowser struct {
	ID         string
	UserAgent  string
	IP         string
	CreatedAt  time.Time
	LastUsedAt time.Time
	ExpiresAt  time.Time
	// Current is the browser making the request.
	Current bool
}

// On tells whether browsers may be remembered at all.
func (rb *RememberedBrowsers) On() bool { return rb != nil && rb.TTL > 0 }

func (rb *RememberedBrowsers) token(r *http.Request) string {
	c, err := rb.Kit.Cookie(r, RememberCookie)
	if err != nil || len(c.Value) < 43 || len(c.Value) > 64 {
		return ""
	}
	return c.Value
}

// Remember records that this browser stands in for userID's second factor
// for TTL, reusing the browser's token when it has one.
func (rb *RememberedBrowsers) Remember(ctx context.Context, w http.ResponseWriter, r *http.Request, userID string) error {
	if !rb.On() {
		return nil
	}
	tok := rb.token(r)
	if tok == "" {
		tok = rb.Kit.RandomID()
	}
	row := &store.RememberedBrowser{ID: web.RandomString(rb.Kit.Rand, 16), TokenHash: web.Hash(tok), UserID: userID,
		UserAgent: truncate(r.UserAgent(), 300), IP: web.ClientIP(r), ExpiresAt: rb.Now().UTC().Add(rb.TTL)}
	if err := rb.Store.RememberBrowser(ctx, row); err != nil {
		return err
	}
	rb.Kit.SetCookie(w, RememberCookie, tok, rb.TTL)
	return nil
}

// Stands tells whether this browser is remembered for userID now.
func (rb *RememberedBrowsers) Stands(ctx context.Context, r *http.Request, userID string) (bool, error) {
	if !rb.On() || userID == "" {
		return false, nil
	}
	tok := rb.token(r)
	if tok == "" {
		return false, nil
	}
	ok, err := rb.Store.UseRememberedBrowser(ctx, web.Hash(tok), userID)
	if err != nil {
		return false, fmt.Errorf("remembered browser: %w", err)
	}
	return ok, nil
}

// List returns userID's live remembered browsers; r (may be nil) marks the
// current one.
func (rb *RememberedBrowsers) List(ctx context.Context, r *http.Request, userID string) ([]RememberedBrowser, error) {
	rows, err := rb.Store.ListRememberedBrowsers(ctx, userID)
	if err != nil {
		return nil, err
	}
	cur := ""
	if r != nil {
		if tok := rb.token(r); tok != "" {
			cur = web.Hash(tok)
		}
	}
	out := make([]RememberedBrowser, 0, len(rows))
	for _, b := range rows {
		out = append(out, RememberedBrowser{ID: b.ID, UserAgent: b.UserAgent, IP: b.IP, CreatedAt: b.CreatedAt,
			LastUsedAt: b.LastUsedAt, ExpiresAt: b.ExpiresAt,
			Current: cur != "" && subtle.ConstantTimeCompare([]byte(cur), []byte(b.TokenHash)) == 1})
	}
	return out, nil
}

// Revoke forgets one of userID's browsers; it reports whether it was live.
func (rb *RememberedBrowsers) Revoke(ctx context.Context, userID, id string) (bool, error) {
	return rb.Store.RevokeRememberedBrowser(ctx, userID, id)
}

// RevokeAll forgets every browser of userID (password change, factor
// reset, disable). With a transaction's context it joins it.
func (rb *RememberedBrowsers) RevokeAll(ctx context.Context, userID string) (int64, error) {
	return rb.Store.RevokeUserRememberedBrowsers(ctx, userID)
}

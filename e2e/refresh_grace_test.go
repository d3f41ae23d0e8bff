package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"latchkey/internal/testkit"
)

// TestRefreshReuseGrace: an RP that refreshes from two requests at once
// presents one refresh token twice. Within tokens.refresh_reuse_grace both
// get working tokens and nothing the first got is revoked, 20 rounds on
// each database; a reuse after the grace (injected clock) still revokes
// the family.
func TestRefreshReuseGrace(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		clock := testkit.NewClock()
		bc := newBackchannel(t)
		srv := suiteServer(t, dsn, clock, bc)
		srv.AddUser(t, "rita@example.com", "rita's good password")
		shop := newRP(t, srv.URL, "shop", shopSecret, shopCallback, "openid", "email", "offline_access")
		b := testkit.NewBrowser(t, shopCallback)
		tok, _, _ := signIn(t, shop, b, "rita@example.com", "rita's good password")
		if tok.RefreshToken == "" {
			t.Fatal("no refresh token")
		}

		works := func(tk *oauth2.Token) error {
			if _, err := shop.Provider.UserInfo(ctx, oauth2.StaticTokenSource(tk)); err != nil {
				return fmt.Errorf("access token: %w", err)
			}
			return nil
		}
		refresh := func(rt string) (*oauth2.Token, error) {
			return shop.OAuth.TokenSource(ctx, &oauth2.Token{RefreshToken: rt}).Token()
		}

		const rounds = 20
		current := tok
		var old string
		for round := range rounds {
			got := make([]*oauth2.Token, 2)
			errs := testkit.Race(2, func(i int) error {
				tk, err := refresh(current.RefreshToken)
				got[i] = tk
				return err
			})
			for i, err := range errs {
				if err != nil {
					t.Fatalf("round %d: refresh %d of 2 failed: %v", round, i, err)
				}
			}
			// Both answers work after both finished: neither request's
			// tokens were revoked because of the other.
			for i, tk := range got {
				if err := works(tk); err != nil {
					t.Fatalf("round %d: tokens of request %d: %v", round, i, err)
				}
				if tk.RefreshToken == "" || tk.RefreshToken == current.RefreshToken {
					t.Fatalf("round %d: request %d got no new refresh token", round, i)
				}
			}
			old = current.RefreshToken
			// The RP keeps whichever answer it stored last; alternate.
			current = got[round%2]
			clock.Advance(time.Second)
		}
		if err := works(current); err != nil {
			t.Fatalf("after %d rounds: %v", rounds, err)
		}

		// After the grace, reusing a rotated token is theft: the family,
		// including the RP's current tokens, is revoked.
		clock.Advance(srv.Config.Tokens.RefreshReuseGrace.Duration + time.Second)
		if _, err := refresh(old); !isOAuthError(err, "invalid_grant") {
			t.Fatalf("reuse after the grace: %v, want invalid_grant", err)
		}
		if _, err := refresh(current.RefreshToken); err == nil {
			t.Fatal("the current refresh token survived a reuse after the grace")
		}
		if err := works(current); err == nil {
			t.Fatal("the current access token survived a reuse after the grace")
		}
	})
}

package e2e

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"latchkey/config"
	"latchkey/internal/testkit"
)

// TestLocalReturnCannotCarryAnAuthorization: /login?return_to= accepts
// only Latchkey's own pages, never an authorization URL, so a sign-in
// started there cannot skip a client's min_acr.
func TestLocalReturnCannotCarryAnAuthorization(t *testing.T) {
	srv := testkit.StartServer(t, testkit.SQLiteDSN(t), testkit.ServerOptions{Configure: func(cfg *config.Config) {
		standardClients(cfg)
		cfg.Clients[0].MinACR, cfg.Clients[0].SkipConsent = "mfa", true
	}})
	srv.AddUser(t, "lee@example.com", "lee's long password")
	shop := newRP(t, srv.URL, "shop", shopSecret, shopCallback, "openid")
	u, _ := url.Parse(shop.start().URL)
	for _, ret := range []string{u.RequestURI(), "/\t/evil.example/x", "//evil.example/"} {
		b := testkit.NewBrowser(t, shopCallback)
		p := passwordLogin(t, b, b.Get(srv.URL+"/login?return_to="+url.QueryEscape(ret)), "lee@example.com", "lee's long password")
		if p.Location != "" || p.URL.String() != srv.URL+"/" {
			t.Errorf("return_to=%q: ended at %s (location %q), want the home page", ret, p.URL, p.Location)
		}
	}
}

// TestDisabledUserGetsNothingMore: disabling a user voids a code not yet
// exchanged and stops refreshes.
func TestDisabledUserGetsNothingMore(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		srv := testkit.StartServer(t, dsn, testkit.ServerOptions{Configure: standardClients})
		uid := srv.AddUser(t, "max@example.com", "max's long password")
		shop := newRP(t, srv.URL, "shop", shopSecret, shopCallback, "openid", "offline_access")
		b := testkit.NewBrowser(t, shopCallback)
		tok, _, _ := signIn(t, shop, b, "max@example.com", "max's long password")

		s := shop.start()
		q := callback(t, b.Get(s.URL), shopCallback)
		if err := srv.Store.SetUserDisabled(ctx, uid, true); err != nil {
			t.Fatal(err)
		}
		if _, err := shop.OAuth.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(s.PKCE)); !isOAuthError(err, "invalid_grant") {
			t.Errorf("code exchanged for a disabled user: %v", err)
		}
		if _, err := shop.OAuth.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); !isOAuthError(err, "invalid_grant") {
			t.Errorf("refresh for a disabled user: %v", err)
		}
	})
}

// TestSecretRotationKeepsTokens: a replica configured with a new first
// secret and the old one after it still honours tokens and keys made under
// the old one.
func TestSecretRotationKeepsTokens(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		old := testkit.StartServer(t, dsn, testkit.ServerOptions{Configure: standardClients})
		old.AddUser(t, "ray@example.com", "ray's long password")
		shop := newRP(t, old.URL, "shop", shopSecret, shopCallback, "openid", "offline_access")
		tok, _, _ := signIn(t, shop, testkit.NewBrowser(t, shopCallback), "ray@example.com", "ray's long password")

		rotated := testkit.StartServer(t, dsn, testkit.ServerOptions{Configure: func(cfg *config.Config) {
			standardClients(cfg)
			cfg.Secrets.Keys = []string{"a-brand-new-secret-a-brand-new-secret-01", testkit.TestSecret}
		}})
		cfg := shop.OAuth
		cfg.Endpoint.TokenURL = rotated.URL + "/oauth2/token"
		t2, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		if err != nil {
			t.Fatalf("refresh after rotating secrets.keys: %v", err)
		}
		req, _ := http.NewRequest(http.MethodGet, rotated.URL+"/oauth2/userinfo", nil)
		req.Header.Set("Authorization", "Bearer "+t2.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("userinfo on the rotated replica: %d", resp.StatusCode)
		}
	})
}

// TestConsentSpeaksForItsSession: on a shared browser, a consent page
// opened for one user cannot be answered after another user signed in.
func TestConsentSpeaksForItsSession(t *testing.T) {
	srv := testkit.StartServer(t, testkit.SQLiteDSN(t), testkit.ServerOptions{Configure: standardClients})
	srv.AddUser(t, "ann@example.com", "ann's long password")
	srv.AddUser(t, "bea@example.com", "bea's long password")
	shop := newRP(t, srv.URL, "shop", shopSecret, shopCallback, "openid")
	b := testkit.NewBrowser(t, shopCallback)
	consent := passwordLogin(t, b, b.Get(shop.start().URL), "ann@example.com", "ann's long password")
	if !strings.HasPrefix(consent.URL.Path, "/consent") {
		t.Fatalf("no consent page: %s", consent.URL)
	}
	allow := consent.FormWithButton(t, "decision", "allow")
	passwordLogin(t, b, b.Get(srv.URL+"/login"), "bea@example.com", "bea's long password")
	p := b.Submit(allow)
	if p.Location != "" || p.Status != http.StatusBadRequest {
		t.Fatalf("Ann's consent answered in Bea's session: %d %s %q", p.Status, p.URL, p.Location)
	}
}

// TestStepUpNeedsItsSession: a step-up inherits the session's factors,
// so it cannot be finished once that session is gone.
func TestStepUpNeedsItsSession(t *testing.T) {
	srv, clock, _ := totpServer(t, testkit.SQLiteDSN(t))
	srv.AddUser(t, "zoe@example.com", "zoe's long password")
	b := testkit.NewBrowser(t, shopCallback)
	secret, _ := enrollTOTP(t, srv, b, clock, "zoe@example.com", "zoe's long password")
	clock.Advance(60e9)

	shop := newRP(t, srv.URL, "shop", shopSecret, shopCallback, "openid")
	step := b.Get(shop.start().URL)
	f := step.FormWithButton(t, "method", "totp")
	f.Set("code", totpCode(t, secret, clock.Now()))
	signOut(t, srv, b)
	p := b.Submit(f)
	if p.Location != "" || b.Cookie(srv.URL, "lk_session") != "" {
		t.Fatalf("step-up finished after its session ended: %d %s %q", p.Status, p.URL, p.Location)
	}
}

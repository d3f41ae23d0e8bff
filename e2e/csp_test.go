package e2e

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"latchkey/config"
	"latchkey/internal/testkit"
)

// formAction is the form-action directive of a response's CSP ("" when
// there is none or more than one).
func formAction(h http.Header) string {
	var found []string
	for _, d := range strings.Split(h.Get("Content-Security-Policy"), ";") {
		if d = strings.TrimSpace(d); strings.HasPrefix(d, "form-action") {
			found = append(found, d)
		}
	}
	if len(found) != 1 {
		return ""
	}
	return found[0]
}

// TestFormActionPerPage is issue 10's CSP item: a page outside an
// authorization flow may post to 'self' only; a step of a flow (sign-in,
// consent) also to its own client's redirect origin, because the POST
// ends in a redirect there, and never to another client's.
func TestFormActionPerPage(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		srv := testkit.StartServer(t, dsn, testkit.ServerOptions{Configure: func(cfg *config.Config) {
			standardClients(cfg)
			cfg.Signup = true
			cfg.Clients[0].PostLogoutRedirectURIs = []string{"https://shop.example/bye"}
		}})
		const email, pw = "csp@example.com", "csp's good password"
		srv.AddUser(t, email, pw)
		const (
			self = "form-action 'self'"
			shop = "form-action 'self' https://shop.example"
			spa  = "form-action 'self' http://127.0.0.1:*"
		)
		check := func(what string, p *testkit.Page, want string) {
			t.Helper()
			if got := formAction(p.Header); got != want {
				t.Errorf("%s (%d at %s): %q, want %q", what, p.Status, p.URL, got, want)
			}
		}

		// Two flows in one browser: each sign-in page allows its own
		// client only.
		b := testkit.NewBrowser(t, shopCallback, spaCallback)
		shopRP := newRP(t, srv.URL, "shop", shopSecret, shopCallback, "openid", "email")
		spaRP := newRP(t, srv.URL, "spa", "", spaCallback, "openid", "email")
		shopLogin := b.Get(shopRP.start().URL)
		if shopLogin.URL.Path != "/login" {
			t.Fatalf("shop's authorization did not reach /login: %d at %s", shopLogin.Status, shopLogin.URL)
		}
		check("/login for shop", shopLogin, shop)
		spaLogin := b.Get(spaRP.start().URL)
		if spaLogin.URL.Path != "/login" {
			t.Fatalf("spa's authorization did not reach /login: %d at %s", spaLogin.Status, spaLogin.URL)
		}
		check("/login for spa", spaLogin, spa)

		// A wrong password re-renders the step for the same client.
		f := shopLogin.FormWithButton(t, "method", "password")
		f.Set("identifier", email).Set("password", "not it")
		check("/login for shop after a wrong password", b.Submit(f), shop)
		p := passwordLogin(t, b, shopLogin, email, pw)
		if p.URL.Path != "/consent" {
			t.Fatalf("shop's sign-in did not reach /consent: %d at %s", p.Status, p.URL)
		}
		check("/consent for shop", p, shop)

		// The passkey suggestion after spa's sign-in: "Not now" posts and is
		// redirected on to spa.
		f = spaLogin.FormWithButton(t, "method", "password")
		f.Set("identifier", email).Set("password", pw).Set("webauthn", "1")
		if p = b.Submit(f); p.URL.Path != "/account/passkeys/suggest" {
			t.Fatalf("spa's sign-in did not suggest a passkey: %d at %s", p.Status, p.URL)
		}
		check("the passkey suggestion in spa's sign-in", p, spa)
		check("the passkey suggestion outside a flow", b.Get(srv.URL+"/account/passkeys/suggest?continue=/account"), self)

		// Pages outside a flow: 'self' only.
		for _, path := range []string{"/account", "/account/password", "/account/passkeys", "/account/totp", "/", "/logout"} {
			p := b.Get(srv.URL + path)
			if p.Status != http.StatusOK || p.URL.Path != path {
				t.Errorf("%s: %d at %s, want the signed-in page", path, p.Status, p.URL)
			}
			check(path, p, self)
		}
		check("a 404 page", b.Get(srv.URL+"/no-such-page"), self)
		anon := testkit.NewBrowser(t)
		local := anon.Get(srv.URL + "/login")
		if local.URL.Path != "/login" || local.URL.Query().Get("flow") == "" {
			t.Fatalf("GET /login did not start a local flow: %d at %s", local.Status, local.URL)
		}
		check("/login without an application", local, self)
		for _, path := range []string{"/signup", "/recover", "/login?flow=unknown"} {
			check(path, anon.Get(srv.URL+path), self)
		}

		// Confirming an RP-initiated sign-out posts and is redirected to
		// that client's post-logout URI: exactly its origin.
		q := url.Values{"client_id": {"shop"}, "post_logout_redirect_uri": {"https://shop.example/bye"}}
		check("/oauth2/logout confirmation", b.Get(srv.URL+"/oauth2/logout?"+q.Encode()), shop)
	})
}

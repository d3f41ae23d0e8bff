package e2e

import (
	"context"
	"strings"
	"testing"

	"latchkey/config"
	"latchkey/internal/testkit"
	"latchkey/store"
)

// suggestion reports whether p is the passkey suggestion and where its
// script continues after creating a passkey.
func suggestion(p *testkit.Page) (bool, string) {
	if p.URL.Path != "/account/passkeys/suggest" {
		return false, ""
	}
	btn := p.Find("button", map[string]string{"id": "passkey-register"})
	if btn == nil {
		return false, ""
	}
	for _, a := range btn.Attr {
		if a.Key == "data-continue" {
			return true, a.Val
		}
	}
	return true, ""
}

// TestPasskeySuggestion: right after a password sign-in or a sign-up, a
// user without a passkey whose browser can make one is offered one; "Not
// now" continues the sign-in and quiets the offer on that browser.
func TestPasskeySuggestion(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		srv, in := mailServer(t, dsn, testkit.NewClock(), nil, func(cfg *config.Config) { cfg.DevMode = true })
		srv.AddUser(t, "sam@example.com", "sam's long password")
		shop := newRP(t, srv.URL, "shop", shopSecret, shopCallback, "openid")
		signInWebAuthn := func(b *testkit.Browser, url, email, pw, webauthn string) *testkit.Page {
			f := b.Get(url).FormWithButton(t, "method", "password")
			f.Set("identifier", email).Set("password", pw).Set("webauthn", webauthn)
			return b.Submit(f)
		}

		b := testkit.NewBrowser(t, shopCallback)
		s := shop.start()
		p := signInWebAuthn(b, s.URL, "sam@example.com", "sam's long password", "1")
		ok, next := suggestion(p)
		if !ok || !strings.HasPrefix(next, "/oauth2/auth?") || !strings.Contains(next, "login_verifier=") {
			t.Fatalf("no passkey suggestion after a password sign-in: %d %s (continue %q)", p.Status, p.URL, next)
		}
		p = b.Submit(p.FormWithButton(t, "decision", "later"))
		if !strings.HasPrefix(p.URL.Path, "/consent") {
			t.Fatalf("\"Not now\" did not continue the sign-in: %s", p.URL)
		}
		q := callback(t, b.Submit(p.FormWithButton(t, "decision", "allow")), shopCallback)
		exchange(t, shop, q.Get("code"), s)

		// The same browser is not asked again.
		s = shop.start()
		p = signInWebAuthn(b, s.URL+"&prompt=login", "sam@example.com", "sam's long password", "1")
		if ok, _ := suggestion(p); ok || p.Location == "" {
			t.Fatalf("suggested again after \"Not now\": %s", p.URL)
		}

		// A browser that cannot make passkeys is never asked.
		p = signInWebAuthn(testkit.NewBrowser(t, shopCallback), shop.start().URL, "sam@example.com", "sam's long password", "")
		if ok, _ := suggestion(p); ok {
			t.Fatal("suggested to a browser without WebAuthn")
		}

		// A user who has a passkey is not asked.
		withKey := srv.AddUser(t, "kit@example.com", "kit's long password")
		if err := srv.Store.CreatePasskey(context.Background(), &store.Passkey{ID: "pk-kit", UserID: withKey, CredentialID: "cred-kit", PublicKey: []byte{1}}); err != nil {
			t.Fatal(err)
		}
		p = signInWebAuthn(testkit.NewBrowser(t), srv.URL+"/login", "kit@example.com", "kit's long password", "1")
		if ok, _ := suggestion(p); ok {
			t.Fatal("suggested to a user who has a passkey")
		}

		// Right after sign-up.
		nb := testkit.NewBrowser(t)
		f := signupProve(t, nb, nb.Get(srv.URL+"/signup"), in, "fresh@example.com", "").FormWithButton(t, "", "")
		f.Set("password", "a fresh long passphrase").Set("webauthn", "1")
		p = nb.Submit(f)
		if ok, next := suggestion(p); !ok || next != "/" {
			t.Fatalf("no suggestion after sign-up: %s (continue %q)", p.URL, next)
		}

		// ?continue= only ever leads back to this server.
		p = nb.Get(srv.URL + "/account/passkeys/suggest?continue=https://evil.example/")
		if ok, next := suggestion(p); !ok || next != "/account" {
			t.Fatalf("continue to another site kept: %q", next)
		}
	})
}

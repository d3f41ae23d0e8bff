package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"latchkey/config"
	"latchkey/internal/testkit"
	"latchkey/store"
	"latchkey/web"
)

// askMagicLink fills the identify step with email and presses "Email me a
// sign-in link"; the answer is the page with the code input.
func askMagicLink(t *testing.T, b *testkit.Browser, page *testkit.Page, email string) *testkit.Page {
	t.Helper()
	f := page.FormWithButton(t, "method", "magic_link")
	if email != "" {
		f.Set("identifier", email)
	}
	page = b.Submit(f)
	if page.Find("input", map[string]string{"name": "code", "autocomplete": "one-time-code"}) == nil {
		t.Fatalf("no code input after asking for a link: %d %s\n%.1500s", page.Status, page.URL, page.Body)
	}
	return page
}

// signedIn tells whether the browser holds a live session (the account
// page loads without a sign-in).
func signedIn(t *testing.T, srv *testkit.Server, b *testkit.Browser) bool {
	t.Helper()
	return b.Get(srv.URL+"/account").URL.Path == "/account"
}

func addUnverified(t *testing.T, srv *testkit.Server, email, pw string) string {
	t.Helper()
	hash := ""
	if pw != "" {
		var err error
		if hash, err = srv.App.Hasher.Hash(pw); err != nil {
			t.Fatal(err)
		}
	}
	u := &store.User{ID: web.RandomString(nil, 16), Email: email, PasswordHash: hash}
	if err := srv.Store.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u.ID
}

type verifiedClaims struct {
	AMR           []string `json:"amr"`
	ACR           string   `json:"acr"`
	Email         string   `json:"email"`
	EmailVerified *bool    `json:"email_verified"`
}

// TestMagicLinkFirstFactor is issue 9's acceptance 2 (first factor) and 3,
// through real SMTP and go-oidc: the link signs in the browser that asked
// after a confirmation POST (amr [email], acr 1fa, the address now
// verified); a GET, another cookie jar, reuse, an older link after a newer
// request and an expired one sign nobody in; the code works in the tab
// that asked.
func TestMagicLinkFirstFactor(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		clock := testkit.NewClock()
		srv, in := mailServer(t, dsn, clock, nil, nil)
		const email = "magic@example.com"
		uid := addUnverified(t, srv, email, "")
		shop := newRP(t, srv.URL, "shop", shopSecret, shopCallback, "openid", "email")
		ctx := context.Background()

		// Ask in b; the mail arrives with a link and a code.
		b := testkit.NewBrowser(t, shopCallback)
		s := shop.start()
		askMagicLink(t, b, b.Get(s.URL), email)
		link, code := linkAndCode(t, in.wait(t, email, "sign-in link"))

		// A GET (a scanner) only shows the button; twice, nothing used.
		for range 2 {
			page := b.Get(link)
			if page.Find("button", map[string]string{"name": "method", "value": "magic_link"}) == nil {
				t.Fatalf("GET of the link: no confirmation button: %d\n%.1500s", page.Status, page.Body)
			}
		}
		if signedIn(t, srv, testkit.NewBrowser(t)) {
			t.Fatal("impossible: a fresh browser is signed in")
		}
		// Another cookie jar: told to use the original tab; its POST signs
		// nobody in and leaves the link usable.
		other := testkit.NewBrowser(t, shopCallback)
		page := other.Get(link)
		if !strings.Contains(page.Body, "type the code") {
			t.Fatalf("the link in another browser: %d\n%.1500s", page.Status, page.Body)
		}
		// It has no form to post; replaying the asking browser's form
		// from this jar is refused too.
		confirm := b.Get(link).FormWithButton(t, "method", "magic_link")
		page = other.Submit(confirm)
		if other.Cookie(srv.URL, "lk_session") != "" || page.Location != "" {
			t.Fatalf("another browser's POST signed in: %d %s", page.Status, page.URL)
		}

		// The browser that asked: the button signs in.
		page = b.Submit(b.Get(link).FormWithButton(t, "method", "magic_link"))
		if strings.HasPrefix(page.URL.Path, "/consent") {
			page = b.Submit(page.FormWithButton(t, "decision", "allow"))
		}
		q := callback(t, page, shopCallback)
		_, idt, _ := exchange(t, shop, q.Get("code"), s)
		var c verifiedClaims
		if err := idt.Claims(&c); err != nil {
			t.Fatal(err)
		}
		if strings.Join(c.AMR, " ") != "email" || c.ACR != "1fa" || c.Email != email {
			t.Errorf("magic-link sign-in: amr %v acr %q email %q, want [email] 1fa", c.AMR, c.ACR, c.Email)
		}
		if c.EmailVerified != nil && !*c.EmailVerified {
			t.Errorf("ID token email_verified false after a magic-link sign-in")
		}
		if u, _ := srv.Store.UserByID(ctx, uid); u == nil || !u.EmailVerified {
			t.Errorf("email not verified after a magic-link sign-in: %+v", u)
		}

		// Used again: refused, nobody signed in.
		b2 := testkit.NewBrowser(t, shopCallback)
		if p := b2.Get(link); p.Status != http.StatusBadRequest || p.Find("button", map[string]string{"value": "magic_link"}) != nil {
			t.Errorf("a used link: %d\n%.800s", p.Status, p.Body)
		}
		// ... and its code is dead too.
		s = shop.start()
		page = askMagicLink(t, b2, b2.Get(s.URL), email)
		wantLoginError(t, b2.Submit(page.FormWithButton(t, "method", "magic_link").Set("code", code)), "the used link's code")

		// An older link after a newer request; the newest code works once
		// typed in its tab.
		first, firstCode := linkAndCode(t, in.wait(t, email, "sign-in link"))
		page = askMagicLink(t, b2, b2.Get(srv.URL+page.URL.RequestURI()), email)
		_, newCode := linkAndCode(t, in.wait(t, email, "sign-in link"))
		if p := b2.Get(first); p.Status != http.StatusBadRequest {
			t.Errorf("older link after a newer request: %d", p.Status)
		}
		wantLoginError(t, b2.Submit(page.FormWithButton(t, "method", "magic_link").Set("code", firstCode)), "the older code")
		if signedIn(t, srv, b2) {
			t.Fatal("signed in by an older link or code")
		}
		page = b2.Get(srv.URL + page.URL.RequestURI())
		page = b2.Submit(page.FormWithButton(t, "method", "magic_link").Set("code", strings.ToLower(strings.ReplaceAll(newCode, "-", " "))))
		if strings.HasPrefix(page.URL.Path, "/consent") {
			page = b2.Submit(page.FormWithButton(t, "decision", "allow"))
		}
		callback(t, page, shopCallback)

		// Expired (injected clock): link and code refused.
		b3 := testkit.NewBrowser(t, shopCallback)
		s = shop.start()
		page = askMagicLink(t, b3, b3.Get(s.URL), email)
		oldLink, oldCode := linkAndCode(t, in.wait(t, email, "sign-in link"))
		clock.Advance(srv.Config.MagicLink.TTL.Duration + time.Second)
		if p := b3.Get(oldLink); p.Status != http.StatusBadRequest {
			t.Errorf("expired link: %d", p.Status)
		}
		wantLoginError(t, b3.Submit(page.FormWithButton(t, "method", "magic_link").Set("code", oldCode)), "the expired code")
		if signedIn(t, srv, b3) {
			t.Error("an expired link or code signed in")
		}
	})
}

// TestMagicLinkSecondFactor is issue 9's acceptance 2 as second factor:
// with magic_link.second_factor on and a client asking for mfa, a user
// without TOTP or passkey gets an emailed code after the password: amr
// [pwd email mfa], acr mfa.
func TestMagicLinkSecondFactor(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		clock := testkit.NewClock()
		srv, in := mailServer(t, dsn, clock, nil, func(cfg *config.Config) {
			cfg.MagicLink.SecondFactor = true
			cfg.Clients[0].MinACR = "mfa"
		})
		const email, pw = "second@example.com", "a password for two"
		srv.AddUser(t, email, pw)
		shop := newRP(t, srv.URL, "shop", shopSecret, shopCallback, "openid", "email")
		b := testkit.NewBrowser(t, shopCallback)
		s := shop.start()
		page := passwordLogin(t, b, b.Get(s.URL), email, pw)
		if page.Find("button", map[string]string{"name": "method", "value": "magic_link"}) == nil {
			t.Fatalf("no emailed code offered after the password: %d\n%.1500s", page.Status, page.Body)
		}
		page = askMagicLink(t, b, page, "")
		_, code := linkAndCode(t, in.wait(t, email, "sign-in link"))
		page = b.Submit(page.FormWithButton(t, "method", "magic_link").Set("code", code))
		c := finishAuthorization(t, shop, b, page, s)
		if strings.Join(c.AMR, " ") != "pwd email mfa" || c.ACR != "mfa" {
			t.Errorf("password + emailed code: amr %v acr %q, want [pwd email mfa] mfa", c.AMR, c.ACR)
		}
	})
}

// TestMagicLinkSameForUnknown is issue 9's acceptance 4 for /login.
func TestMagicLinkSameForUnknown(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		clock := testkit.NewClock()
		srv, in := mailServer(t, dsn, clock, nil, nil)
		srv.AddUser(t, "known@example.com", "a known user's password")
		sameForKnownAndUnknown(t, srv, "/login (magic link)", "known@example.com", "nobody@example.com", func(b *testkit.Browser, email string) *testkit.Page {
			return askMagicLink(t, b, b.Get(srv.URL+"/login"), email)
		})
		in.wait(t, "known@example.com", "sign-in link")
		in.none(t, "nobody@example.com", "")
	})
}

// TestEmailVerifiedClaim is issue 9's acceptance 7 through the ID token: a
// user added without --verified gets email_verified false; after a
// magic-link sign-in it is true.
func TestEmailVerifiedClaim(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		srv, in := mailServer(t, dsn, testkit.NewClock(), nil, nil)
		const email, pw = "claim@example.com", "the claim user's password"
		addUnverified(t, srv, email, pw)
		shop := newRP(t, srv.URL, "shop", shopSecret, shopCallback, "openid", "email")
		claim := func(page *testkit.Page, b *testkit.Browser, s authStart) verifiedClaims {
			t.Helper()
			if strings.HasPrefix(page.URL.Path, "/consent") {
				page = b.Submit(page.FormWithButton(t, "decision", "allow"))
			}
			_, idt, _ := exchange(t, shop, callback(t, page, shopCallback).Get("code"), s)
			var c verifiedClaims
			if err := idt.Claims(&c); err != nil {
				t.Fatal(err)
			}
			if c.EmailVerified == nil {
				t.Fatal("the ID token has no email_verified claim")
			}
			return c
		}
		b := testkit.NewBrowser(t, shopCallback)
		s := shop.start()
		if c := claim(passwordLogin(t, b, b.Get(s.URL), email, pw), b, s); *c.EmailVerified {
			t.Errorf("email_verified true for an unproven address")
		}
		b2 := testkit.NewBrowser(t, shopCallback)
		s = shop.start()
		page := askMagicLink(t, b2, b2.Get(s.URL), email)
		_, code := linkAndCode(t, in.wait(t, email, "sign-in link"))
		if c := claim(b2.Submit(page.FormWithButton(t, "method", "magic_link").Set("code", code)), b2, s); !*c.EmailVerified {
			t.Errorf("email_verified false after a magic-link sign-in")
		}
	})
}

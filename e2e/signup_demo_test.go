package e2e

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"latchkey/config"
	"latchkey/internal/testkit"
)

// signupProve fills /signup's first step (email and name), reads the code
// from the mail and types it; the answer is the password step.
func signupProve(t *testing.T, b *testkit.Browser, page *testkit.Page, in *inbox, email, name string) *testkit.Page {
	t.Helper()
	if page.Find("input", map[string]string{"name": "identifier", "type": "email", "autocomplete": "username"}) == nil ||
		page.Find("input", map[string]string{"name": "name"}) == nil {
		t.Fatalf("sign-up form lacks the SPEC.md fields:\n%.1500s", page.Body)
	}
	page = b.Submit(formWithSubmit(t, page).Set("identifier", email).Set("name", name))
	if page.Status != http.StatusOK || page.Find("input", map[string]string{"name": "code", "autocomplete": "one-time-code"}) == nil {
		t.Fatalf("after giving the email: %d\n%.1500s", page.Status, page.Body)
	}
	_, code := linkAndCode(t, in.wait(t, strings.ToLower(email), "Confirm your email"))
	page = b.Submit(page.FormWithButton(t, "method", "magic_link").Set("code", code))
	if page.URL.Path != "/signup/password" || page.Find("input", map[string]string{"name": "password", "autocomplete": "new-password"}) == nil {
		t.Fatalf("after the code: %d %s\n%.1500s", page.Status, page.URL, page.Body)
	}
	return page
}

// TestSignupThroughDemo is the newcomer's path: the built-in demo relying
// party starts a flow, the user proves the address by the mailed code
// (email first), chooses a password (weak ones refused), consents, and the
// demo shows the ID token's claims; the account has the name given and a
// verified address. Signing up again with the address only mails its owner.
func TestSignupThroughDemo(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		srv, in := mailServer(t, dsn, testkit.NewClock(), nil, func(cfg *config.Config) { cfg.DevMode = true })
		b := testkit.NewBrowser(t)
		page := b.Get(srv.URL + "/demo")
		if page.Status != http.StatusOK {
			t.Fatalf("/demo: %d", page.Status)
		}
		page = b.Get(srv.URL + "/demo/start")
		if !strings.HasPrefix(page.URL.Path, "/login") {
			t.Fatalf("demo did not lead to /login: %s", page.URL)
		}
		page = b.Get(srv.URL + "/signup?flow=" + page.URL.Query().Get("flow"))
		page = signupProve(t, b, page, in, "new@example.com", "Nova Newcomer")
		// The password step's POST ends in a redirect to the application
		// when no consent is asked, and Chromium checks that redirect
		// against form-action: the page allows the flow's client (the demo,
		// on loopback, any port), as the sign-in page does.
		if got, want := formAction(page.Header), "form-action 'self' http://"+page.URL.Hostname()+":*"; got != want {
			t.Errorf("/signup/password in the demo's flow: %q, want %q", got, want)
		}
		for _, weak := range []string{"short", "password123", "new@example.com"} {
			p := b.Submit(formWithSubmit(t, page).Set("password", weak))
			if p.Status != http.StatusBadRequest || p.Find("p", map[string]string{"role": "alert"}) == nil {
				t.Fatalf("weak password %q: status %d", weak, p.Status)
			}
		}
		pwForm := formWithSubmit(t, page).Set("password", "a sturdy new passphrase")
		page = b.Submit(pwForm)
		if !strings.HasPrefix(page.URL.Path, "/consent") {
			t.Fatalf("after sign-up: %d %s\n%.800s", page.Status, page.URL, page.Body)
		}
		page = b.Submit(page.FormWithButton(t, "decision", "allow"))
		claims := page.Text("claims")
		if page.URL.Path != "/demo/callback" || !strings.Contains(claims, `["pwd"]`) || !strings.Contains(claims, `"1fa"`) ||
			!strings.Contains(claims, "new@example.com") {
			t.Fatalf("demo did not show the claims: %d %s\n%.1500s", page.Status, page.URL, page.Body)
		}
		// The mail round trip proved the address, and the ID token says so.
		if !regexp.MustCompile(`email_verified\s*true`).MatchString(claims) {
			t.Errorf("ID token after sign-up lacks email_verified true:\n%s", claims)
		}
		// Each claim is explained in a line, amr and acr for this sign-in.
		if !strings.Contains(claims, "pwd = a password") || !strings.Contains(claims, "1fa = one factor") {
			t.Errorf("demo does not explain amr and acr:\n%s", claims)
		}
		u, err := srv.Store.UserByEmail(context.Background(), "new@example.com")
		if err != nil || !u.EmailVerified || u.Name != "Nova Newcomer" {
			t.Fatalf("account after sign-up: %+v %v; want verified, named", u, err)
		}
		// The proof made one account; posting its password form again does not.
		if p := b.Submit(pwForm); p.Status == http.StatusOK && strings.HasPrefix(p.URL.Path, "/consent") {
			t.Fatal("the sign-up proof was used twice")
		}

		// The address is taken now: the same page, and its owner is mailed.
		b2 := testkit.NewBrowser(t)
		p := b2.Get(srv.URL + "/signup")
		p = b2.Submit(formWithSubmit(t, p).Set("identifier", "NEW@example.com"))
		if p.Status != http.StatusOK || p.Find("input", map[string]string{"name": "code"}) == nil {
			t.Fatalf("sign-up with a taken address: %d\n%.800s", p.Status, p.Body)
		}
		if m := in.wait(t, "NEW@example.com", "already have"); mailCode.MatchString(m.Text) {
			t.Errorf("the existing-account mail carries a sign-up code:\n%s", m.Text)
		}
	})
}

// TestSignupSameForUnknown is issue 9's acceptance 4 for /signup.
func TestSignupSameForUnknown(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		srv, in := mailServer(t, dsn, testkit.NewClock(), nil, nil)
		srv.AddUser(t, "known@example.com", "a known user's password")
		sameForKnownAndUnknown(t, srv, "/signup", "known@example.com", "nobody@example.com", func(b *testkit.Browser, email string) *testkit.Page {
			return b.Submit(formWithSubmit(t, b.Get(srv.URL+"/signup")).Set("identifier", email).Set("name", "Sam"))
		})
		in.wait(t, "known@example.com", "already have")
		in.wait(t, "nobody@example.com", "Confirm your email")
	})
}

// TestSignupOff: with signup: false there is no /signup.
func TestSignupOff(t *testing.T) {
	srv := testkit.StartServer(t, testkit.SQLiteDSN(t), testkit.ServerOptions{Configure: func(cfg *config.Config) { cfg.Signup = false }})
	if p := testkit.NewBrowser(t).Get(srv.URL + "/signup"); p.Status != http.StatusNotFound {
		t.Fatalf("/signup with signup: false: %d", p.Status)
	}
}

// formWithSubmit finds the page's form with a plain submit button.
func formWithSubmit(t *testing.T, p *testkit.Page) *testkit.Form {
	t.Helper()
	return p.FormWithButton(t, "", "")
}

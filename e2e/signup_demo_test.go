package e2e

import (
	"net/http"
	"strings"
	"testing"

	"latchkey/config"
	"latchkey/internal/testkit"
)

// TestSignupThroughDemo is the newcomer's path: the built-in demo relying
// party starts a flow, the user creates an account on /signup (weak
// passwords refused), consents, and the demo shows the ID token's claims.
func TestSignupThroughDemo(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		srv := testkit.StartServer(t, dsn, testkit.ServerOptions{Configure: func(cfg *config.Config) { cfg.DevMode = true }})
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
		if page.Find("input", map[string]string{"name": "identifier", "type": "email", "autocomplete": "username"}) == nil ||
			page.Find("input", map[string]string{"name": "password", "autocomplete": "new-password"}) == nil {
			t.Fatalf("sign-up form lacks the SPEC.md fields:\n%s", page.Body)
		}
		for _, weak := range []string{"short", "password123", "new@example.com"} {
			f := formWithSubmit(t, page)
			f.Set("identifier", "new@example.com").Set("password", weak)
			p := b.Submit(f)
			if p.Status != http.StatusBadRequest || p.Find("p", map[string]string{"role": "alert"}) == nil {
				t.Fatalf("weak password %q: status %d", weak, p.Status)
			}
		}
		f := formWithSubmit(t, page)
		f.Set("identifier", "new@example.com").Set("password", "a sturdy new passphrase")
		page = b.Submit(f)
		if !strings.HasPrefix(page.URL.Path, "/consent") {
			t.Fatalf("after sign-up: %d %s\n%.800s", page.Status, page.URL, page.Body)
		}
		page = b.Submit(page.FormWithButton(t, "decision", "allow"))
		claims := page.Text("claims")
		if page.URL.Path != "/demo/callback" || !strings.Contains(claims, `["pwd"]`) || !strings.Contains(claims, `"1fa"`) ||
			!strings.Contains(claims, "new@example.com") {
			t.Fatalf("demo did not show the claims: %d %s\n%.1500s", page.Status, page.URL, page.Body)
		}

		// The address is taken now.
		b2 := testkit.NewBrowser(t)
		p := b2.Get(srv.URL + "/signup")
		f = formWithSubmit(t, p)
		f.Set("identifier", "NEW@example.com").Set("password", "another sturdy passphrase")
		if p = b2.Submit(f); p.Status != http.StatusConflict {
			t.Fatalf("duplicate sign-up: %d", p.Status)
		}
	})
}

// TestSignupOff: with signup: false there is no /signup.
func TestSignupOff(t *testing.T) {
	srv := testkit.StartServer(t, testkit.SQLiteDSN(t), testkit.ServerOptions{Configure: func(cfg *config.Config) { cfg.Signup = false }})
	if p := testkit.NewBrowser(t).Get(srv.URL + "/signup"); p.Status != http.StatusNotFound {
		t.Fatalf("/signup with signup: false: %d", p.Status)
	}
}

// formWithSubmit finds the page's only form (the sign-up form has a plain
// submit button).
func formWithSubmit(t *testing.T, p *testkit.Page) *testkit.Form {
	t.Helper()
	return p.FormWithButton(t, "", "")
}

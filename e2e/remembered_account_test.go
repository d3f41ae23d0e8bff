package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"latchkey/internal/testkit"
)

// TestRememberedBrowserRevocation: a remembered browser stops standing in
// for TOTP once the user forgets it on /account, and after a password
// change (SPEC: remembered browsers, issue 8 acceptance 4).
func TestRememberedBrowserRevocation(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		srv, clock, _ := totpServer(t, dsn)
		const email = "rosa@example.com"
		pw := "rosa's good password"
		srv.AddUser(t, email, pw)
		b := testkit.NewBrowser(t, shopCallback)
		secret, _ := enrollTOTP(t, srv, b, clock, email, pw)
		shop := newRP(t, srv.URL, "shop", shopSecret, shopCallback, "openid")

		signOut := func() {
			t.Helper()
			p := b.Get(srv.URL + "/logout")
			b.Submit(p.FormWithButton(t, "decision", "logout"))
		}
		// signIn signs in to the shop after signing out; it answers TOTP
		// (ticking "Remember this browser") when asked, and reports
		// whether it was asked.
		signInAsked := func() bool {
			t.Helper()
			signOut()
			clock.Advance(time.Minute) // a fresh TOTP step each time
			s := shop.start()
			p := passwordLogin(t, b, b.Get(s.URL), email, pw)
			asked := false
			if strings.HasPrefix(p.URL.Path, "/login") && p.Find("input", map[string]string{"name": "code"}) != nil {
				asked = true
				if p.Find("input", map[string]string{"name": "remember_browser", "type": "checkbox"}) == nil {
					t.Fatalf("the TOTP step offers no input[name=remember_browser]:\n%.1500s", p.Body)
				}
				f := p.FormWithButton(t, "method", "totp").Set("code", totpCode(t, secret, clock.Now())).Set("remember_browser", "1")
				p = b.Submit(f)
			}
			if strings.HasPrefix(p.URL.Path, "/consent") {
				p = b.Submit(p.FormWithButton(t, "decision", "allow"))
			}
			if q := callback(t, p, shopCallback); q.Get("code") == "" {
				t.Fatalf("sign-in did not finish: %v", q)
			}
			return asked
		}

		if !signInAsked() {
			t.Fatal("the first sign-in did not ask for TOTP")
		}
		if signInAsked() {
			t.Fatal("a remembered browser was asked for TOTP again")
		}

		// Forgotten on /account: TOTP is asked again.
		p := b.Get(srv.URL + "/account")
		ids := listAttr(p, "data-browser")
		if len(ids) != 1 || !strings.Contains(p.Text("remembered-browsers"), "This browser") {
			t.Fatalf("remembered browsers listed: %v\n%s", ids, p.Text("remembered-browsers"))
		}
		p = b.Submit(p.FormWithButton(t, "browser", ids[0]))
		if p.Status != http.StatusOK || !strings.Contains(p.Body, "That browser is forgotten") {
			t.Fatalf("forget: %d\n%.800s", p.Status, p.Body)
		}
		if !signInAsked() {
			t.Error("TOTP not asked after the browser was forgotten on /account")
		}
		if signInAsked() {
			t.Fatal("remembered again, but asked for TOTP")
		}

		// A password change forgets every remembered browser.
		p = b.Get(srv.URL + "/account/password")
		if strings.HasPrefix(p.URL.Path, "/login") {
			t.Fatalf("/account/password asked to sign in again: %s", p.URL)
		}
		f := p.FormWithButton(t, "", "").Set("current_password", pw).Set("password", "rosa's newer password")
		if p = b.Submit(f); !strings.Contains(p.Body, "Your password was changed") {
			t.Fatalf("password change: %d\n%.800s", p.Status, p.Body)
		}
		pw = "rosa's newer password"
		if !signInAsked() {
			t.Error("TOTP not asked after a password change")
		}
	})
}

// listAttr lists the values of an attribute on the page's elements.
func listAttr(p *testkit.Page, key string) []string {
	var out []string
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			for _, a := range n.Attr {
				if a.Key == key {
					out = append(out, a.Val)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(p.Doc)
	return out
}

package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"latchkey/internal/testkit"
)

// TestAccountRevocations: from /account a user signs another browser out
// (its prompt=none then gets login_required and the relying party a
// back-channel logout token), removes an application's access (consent is
// asked again, its refresh token stops working), and changes the password
// (a wrong current password changes nothing; afterwards the old password
// fails, the new one works, and the other browsers are signed out).
func TestAccountRevocations(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		clock := testkit.NewClock()
		bc := newBackchannel(t)
		srv := suiteServer(t, dsn, clock, bc)
		dana := srv.AddUser(t, "dana@example.com", "dana's good password")
		shop := newRP(t, srv.URL, "shop", shopSecret, shopCallback, "openid", "email", "offline_access")
		const firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"

		laptop := testkit.NewBrowser(t, shopCallback)
		tok, _, _ := signIn(t, shop, laptop, "dana@example.com", "dana's good password")
		phone := testkit.NewBrowser(t, shopCallback)
		phone.Client.Transport = userAgent{firefox}
		_, _, phoneClaims := signIn(t, shop, phone, "dana@example.com", "dana's good password")
		seen := len(bc.received())

		t.Run("the overview lists sessions, apps and activity in words", func(t *testing.T) {
			p := laptop.Get(srv.URL + "/account")
			if p.Status != http.StatusOK {
				t.Fatalf("/account: %d", p.Status)
			}
			sessions := p.Text("sessions")
			if !strings.Contains(sessions, "This browser") || !strings.Contains(sessions, "Firefox on Linux") {
				t.Errorf("sessions list: %q", sessions)
			}
			if p.Find("li", map[string]string{"data-session": phoneClaims.SID}) == nil {
				t.Errorf("the phone's session (sid %s) is not listed", phoneClaims.SID)
			}
			if apps := p.Text("apps"); !strings.Contains(apps, "Shop") || !strings.Contains(apps, "See your email address") {
				t.Errorf("apps list: %q", apps)
			}
			activity := p.Text("recent-activity")
			if !strings.Contains(activity, "Signed in with password, Firefox on Linux") || strings.Contains(activity, "login.succeeded") {
				t.Errorf("recent activity not in plain words:\n%s", activity)
			}
		})

		t.Run("sign another browser out", func(t *testing.T) {
			p := laptop.Get(srv.URL + "/account")
			p = laptop.Submit(p.FormWithButton(t, "session", phoneClaims.SID))
			if p.URL.Path != "/account" || !strings.Contains(p.Body, "That browser is signed out") {
				t.Fatalf("after revoking: %s\n%.500s", p.URL, p.Body)
			}
			seen = expectLogout(t, bc, shop, seen, dana, phoneClaims.SID)
			expectSignedOut(t, shop, phone)
			// The laptop keeps its session.
			s := shop.start(oauth2.SetAuthURLParam("prompt", "none"))
			if q := callback(t, laptop.Get(s.URL), shopCallback); q.Get("code") == "" {
				t.Errorf("the revoking browser lost its session: %v", q)
			}
			if !strings.Contains(laptop.Get(srv.URL+"/account").Text("recent-activity"), "Signed out from your account page, Firefox on Linux") {
				t.Errorf("the revocation is not in the activity")
			}
		})

		t.Run("a session of another user cannot be revoked", func(t *testing.T) {
			other := testkit.NewBrowser(t, shopCallback)
			srv.AddUser(t, "erin@example.com", "erin's good password")
			_, _, ec := signIn(t, shop, other, "erin@example.com", "erin's good password")
			p := laptop.Get(srv.URL + "/account")
			// A form of the page carries the account's CSRF token; post it
			// to the revocation with erin's sid.
			f := p.FormWithButton(t, "client", "shop")
			f.Fields.Set("session", ec.SID)
			if p := laptop.Post(srv.URL+"/account/sessions/revoke", f.Fields); p.URL.Path != "/account" || strings.Contains(p.Body, "signed out") {
				t.Errorf("revoking another user's session: %s\n%.300s", p.URL, p.Body)
			}
			if s, err := srv.Store.GetSession(ctx, ec.SID); err != nil || s == nil {
				t.Errorf("erin's session was ended from dana's account page: %v", err)
			}
			if n := len(bc.received()); n != seen {
				t.Errorf("%d logout tokens sent for a refused revocation", n-seen)
			}
		})

		t.Run("remove an application's access", func(t *testing.T) {
			p := laptop.Get(srv.URL + "/account")
			p = laptop.Submit(p.FormWithButton(t, "client", "shop"))
			if !strings.Contains(p.Body, "access was removed") || p.Find("li", map[string]string{"data-client": "shop"}) != nil {
				t.Fatalf("after removing access:\n%.800s", p.Body)
			}
			if _, err := shop.OAuth.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err == nil {
				t.Errorf("the application's refresh token still works")
			}
			s := shop.start(oauth2.SetAuthURLParam("prompt", "none"))
			if q := callback(t, laptop.Get(s.URL), shopCallback); q.Get("error") != "consent_required" {
				t.Errorf("prompt=none after removing access: %v, want consent_required", q)
			}
			p = laptop.Get(shop.start().URL)
			if !strings.HasPrefix(p.URL.Path, "/consent") {
				t.Errorf("consent is not asked again: %s", p.URL)
			}
		})

		t.Run("change the password", func(t *testing.T) {
			tablet := testkit.NewBrowser(t, shopCallback)
			_, _, tc := signIn(t, shop, tablet, "dana@example.com", "dana's good password")
			seen = len(bc.received())

			p := laptop.Get(srv.URL + "/account/password")
			if p.Find("input", map[string]string{"name": "current_password", "autocomplete": "current-password"}) == nil ||
				p.Find("input", map[string]string{"name": "password", "autocomplete": "new-password"}) == nil {
				t.Fatalf("/account/password lacks the inputs of the spec:\n%.1500s", p.Body)
			}
			// A wrong current password changes nothing.
			f := p.FormWithButton(t, "", "")
			f.Set("current_password", "not my password").Set("password", "a brand new passphrase")
			p = laptop.Submit(f)
			if p.Status != http.StatusBadRequest || !strings.Contains(p.Body, "current password is not right") {
				t.Fatalf("wrong current password: %d\n%.800s", p.Status, p.Body)
			}
			if n := len(bc.received()); n != seen {
				t.Errorf("a refused change ended %d sessions", n-seen)
			}
			// A weak new password is refused by the sign-up rules.
			f = p.FormWithButton(t, "", "")
			f.Set("current_password", "dana's good password").Set("password", "password")
			if p = laptop.Submit(f); p.Status != http.StatusBadRequest || !strings.Contains(p.Body, "Choose another password") {
				t.Fatalf("weak new password: %d\n%.800s", p.Status, p.Body)
			}
			f = p.FormWithButton(t, "", "")
			f.Set("current_password", "dana's good password").Set("password", "a brand new passphrase")
			if p = laptop.Submit(f); p.Status != http.StatusOK || !strings.Contains(p.Body, "Your password was changed") {
				t.Fatalf("change: %d\n%.800s", p.Status, p.Body)
			}
			seen = expectLogout(t, bc, shop, seen, dana, tc.SID)
			expectSignedOut(t, shop, tablet)
			// The browser that changed it stays signed in.
			if p := laptop.Get(srv.URL + "/account"); p.URL.Path != "/account" {
				t.Errorf("the changing browser was signed out: %s", p.URL)
			}
			fresh := testkit.NewBrowser(t, shopCallback)
			p = fresh.Get(shop.start().URL)
			if p = passwordLogin(t, fresh, p, "dana@example.com", "dana's good password"); p.Status != http.StatusUnauthorized {
				t.Errorf("the old password still signs in: %d %s", p.Status, p.URL)
			}
			signIn(t, shop, fresh, "dana@example.com", "a brand new passphrase")
			activity := laptop.Get(srv.URL + "/account").Text("recent-activity")
			for _, want := range []string{"Password changed", "Password not changed: the current password was wrong", "Signed out after a password change"} {
				if !strings.Contains(activity, want) {
					t.Errorf("activity lacks %q:\n%s", want, activity)
				}
			}
		})
	})
}

// userAgent sets the User-Agent of a test browser's requests.
type userAgent struct{ ua string }

func (u userAgent) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("User-Agent", u.ua)
	return http.DefaultTransport.RoundTrip(r)
}

// TestAccountName: the name is set on /account (scope profile then gives
// it in the next ID token); a name store.CleanName refuses changes nothing.
func TestAccountName(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		srv := suiteServer(t, dsn, testkit.NewClock(), newBackchannel(t))
		srv.AddUser(t, "nia@example.com", "nia's good password")
		shop := newRP(t, srv.URL, "shop", shopSecret, shopCallback, "openid", "profile", "email")
		b := testkit.NewBrowser(t, shopCallback)
		signIn(t, shop, b, "nia@example.com", "nia's good password")

		p := b.Get(srv.URL + "/account")
		bad := b.Submit(p.FormWithButton(t, "profile", "save").Set("name", "Nia\x07Bell"))
		if bad.Status != http.StatusBadRequest || !strings.Contains(bad.Body, "control character") {
			t.Fatalf("a name with a control character: %d\n%.1000s", bad.Status, bad.Body)
		}
		if u, err := srv.Store.UserByEmail(ctx, "nia@example.com"); err != nil || u.Name != "" {
			t.Fatalf("a refused name was stored: %+v %v", u, err)
		}
		p = b.Submit(p.FormWithButton(t, "profile", "save").Set("name", "  Nia Bell "))
		if p.Status != http.StatusOK || !strings.Contains(p.Body, "Your name is saved") {
			t.Fatalf("saving the name: %d\n%.1000s", p.Status, p.Body)
		}
		if u, err := srv.Store.UserByEmail(ctx, "nia@example.com"); err != nil || u.Name != "Nia Bell" {
			t.Fatalf("stored name: %+v %v", u, err)
		}
		_, idt, _ := signIn(t, shop, b, "nia@example.com", "nia's good password", oauth2.SetAuthURLParam("prompt", "login"))
		var c struct {
			Name string `json:"name"`
		}
		if err := idt.Claims(&c); err != nil || c.Name != "Nia Bell" {
			t.Fatalf("ID token name = %q (%v), want Nia Bell", c.Name, err)
		}
	})
}

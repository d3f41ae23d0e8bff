package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"latchkey/config"
	"latchkey/internal/testkit"
	"latchkey/server"
)

// mailServer is a test server whose mail goes over real SMTP to an inbox,
// with a back-channel logout receiver on the shop client.
func mailServer(t *testing.T, dsn string, clock *testkit.Clock, bc *backchannel, edit func(*config.Config)) (*testkit.Server, *inbox) {
	t.Helper()
	in := newInbox(t)
	srv := testkit.StartServer(t, dsn, testkit.ServerOptions{
		Server: server.Options{Now: clock.Now},
		Configure: func(cfg *config.Config) {
			standardClients(cfg)
			cfg.Mail.SMTPURL = in.URL
			cfg.Branding.Name = "Acme Login"
			if bc != nil {
				cfg.Clients[0].BackchannelLogoutURI = bc.srv.URL + "/backchannel"
			}
			if edit != nil {
				edit(cfg)
			}
		},
	})
	return srv, in
}

// TestPasswordReset is issue 9's acceptance 5, through real SMTP: a TOTP
// user resets the password with the mailed link; the old password fails
// and the new one works, a refresh token from before gets invalid_grant,
// back-channel logout is received, TOTP is still asked, and a "password
// changed" mail goes out.
func TestPasswordReset(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		clock, bc := testkit.NewClock(), newBackchannel(t)
		srv, in := mailServer(t, dsn, clock, bc, nil)
		const email, oldPW, newPW = "reset@example.com", "the old password 1", "a brand new password 2"
		srv.AddUser(t, email, oldPW)

		// Signed in on b1 with TOTP, and the shop holds a refresh token.
		b1 := testkit.NewBrowser(t, shopCallback)
		secret, _ := enrollTOTP(t, srv, b1, clock, email, oldPW)
		shop := newRP(t, srv.URL, "shop", shopSecret, shopCallback, "openid", "email", "offline_access")
		s := shop.start()
		page := b1.Get(s.URL)
		if page.Find("button", map[string]string{"value": "totp"}) != nil {
			clock.Advance(time.Minute)
			page = b1.Submit(page.FormWithButton(t, "method", "totp").Set("code", totpCode(t, secret, clock.Now())))
		}
		if strings.HasPrefix(page.URL.Path, "/consent") {
			page = b1.Submit(page.FormWithButton(t, "decision", "allow"))
		}
		tok, _, _ := exchange(t, shop, callback(t, page, shopCallback).Get("code"), s)
		if tok.RefreshToken == "" {
			t.Fatal("no refresh token before the reset")
		}

		// b2 forgot the password.
		b2 := testkit.NewBrowser(t, shopCallback)
		page = b2.Get(srv.URL + "/recover")
		if page.Find("input", map[string]string{"name": "identifier", "type": "email", "autocomplete": "username"}) == nil {
			t.Fatalf("/recover lacks the email input:\n%.1500s", page.Body)
		}
		page = b2.Submit(page.FormWithButton(t, "", "").Set("identifier", email))
		if page.Status != http.StatusOK || page.Find("input", map[string]string{"name": "code", "autocomplete": "one-time-code"}) == nil {
			t.Fatalf("after asking: %d\n%.1500s", page.Status, page.Body)
		}
		m := in.wait(t, email, "Reset your Acme Login password")
		link, code := linkAndCode(t, m)
		if !strings.Contains(m.HTML, "Acme Login") || code == "" {
			t.Fatalf("mail HTML lacks the branding:\n%s", m.HTML)
		}

		// Another browser: the link does not work there, it says where to go.
		b3 := testkit.NewBrowser(t)
		other := b3.Get(link)
		if other.Find("form", map[string]string{"method": "post"}) != nil || !strings.Contains(other.Body, "type the code") {
			t.Fatalf("the link in another browser: %d\n%.1500s", other.Status, other.Body)
		}
		// A GET (a mail scanner's prefetch) uses nothing: the page is a button.
		page = b2.Get(link)
		form := page.FormWithButton(t, "method", "magic_link")
		page = b2.Submit(form)
		if page.URL.Path != "/recover/password" || page.Find("input", map[string]string{"name": "password", "autocomplete": "new-password"}) == nil {
			t.Fatalf("after the link: %d %s\n%.1500s", page.Status, page.URL, page.Body)
		}
		pwForm := page.FormWithButton(t, "", "")
		page = b2.Submit(pwForm.Set("password", newPW))
		if page.Status != http.StatusOK || !strings.Contains(page.Body, "password was changed") {
			t.Fatalf("setting the password: %d\n%.1500s", page.Status, page.Body)
		}
		// The same proof cannot set a password twice; the link is used.
		if again := b2.Submit(pwForm.Set("password", "yet another password 3")); again.Status == http.StatusOK {
			t.Fatalf("the proof set a second password")
		}
		if again := b2.Get(link); again.Find("button", map[string]string{"value": "magic_link"}) != nil {
			t.Fatalf("the used link still offers its button")
		}

		in.wait(t, email, "password was changed")
		// Back-channel logout for b1's session, the refresh token dead.
		deadline := time.Now().Add(10 * time.Second)
		for len(bc.received()) == 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if len(bc.received()) == 0 {
			t.Error("no back-channel logout after the reset")
		}
		_, err := shop.OAuth.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		if err == nil || !strings.Contains(err.Error(), "invalid_grant") {
			t.Errorf("refresh token from before the reset: %v, want invalid_grant", err)
		}
		if p := b1.Get(srv.URL + "/account"); !strings.HasPrefix(p.URL.Path, "/login") {
			t.Errorf("b1 is still signed in after the reset: %s", p.URL)
		}
		if u, err := srv.Store.UserByEmail(context.Background(), email); err != nil || !u.EmailVerified {
			t.Errorf("email_verified after a reset: %+v %v", u, err)
		}

		// The old password fails, the new one works and TOTP is still asked.
		b4 := testkit.NewBrowser(t, shopCallback)
		s = shop.start()
		wantLoginError(t, passwordLogin(t, b4, b4.Get(s.URL), email, oldPW), "the old password")
		page = passwordLogin(t, b4, b4.Get(s.URL), email, newPW)
		if page.Find("input", map[string]string{"name": "code", "autocomplete": "one-time-code"}) == nil ||
			page.Find("button", map[string]string{"value": "totp"}) == nil {
			t.Fatalf("TOTP not asked after the reset: %d %s\n%.1500s", page.Status, page.URL, page.Body)
		}
		clock.Advance(time.Minute)
		page = b4.Submit(page.FormWithButton(t, "method", "totp").Set("code", totpCode(t, secret, clock.Now())))
		c := finishAuthorization(t, shop, b4, page, s)
		if c.ACR != "mfa" {
			t.Errorf("sign-in after the reset: acr %q amr %v", c.ACR, c.AMR)
		}
	})
}

package e2e

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"golang.org/x/net/html"
	"golang.org/x/oauth2"

	"latchkey/internal/testkit"
	"latchkey/login/recovery"
	"latchkey/mail"
	"latchkey/server"
	"latchkey/store"
)

// mailBox is the log mailer's output: the real mail.Log writing through
// slog into a buffer the test reads.
type mailBox struct{ testkit.Buffer }

func (m *mailBox) Mailer() mail.Mailer {
	return &mail.Log{Log: slog.New(slog.NewTextHandler(m, nil)), From: "Latchkey <no-reply@localhost>"}
}

// totpServer is a server on a settable clock whose mail the test reads.
func totpServer(t *testing.T, dsn string) (*testkit.Server, *testkit.Clock, *mailBox) {
	t.Helper()
	clock, box := testkit.NewClock(), &mailBox{}
	srv := testkit.StartServer(t, dsn, testkit.ServerOptions{Configure: standardClients,
		Server: server.Options{Now: clock.Now, Mailer: box.Mailer()}})
	return srv, clock, box
}

var recoveryCodeShape = regexp.MustCompile(`^[2-9A-HJKMNP-TV-Z]{4}-[2-9A-HJKMNP-TV-Z]{4}-[2-9A-HJKMNP-TV-Z]{4}$`)

// enrollTOTP signs in on /account, follows it to /account/totp, scans the
// secret from #totp-secret and confirms it with the current code. It
// returns the secret and the recovery codes the page showed.
func enrollTOTP(t *testing.T, srv *testkit.Server, b *testkit.Browser, clock *testkit.Clock, email, pw string) (string, []string) {
	t.Helper()
	page := b.Get(srv.URL + "/account")
	if strings.HasPrefix(page.URL.Path, "/login") {
		page = passwordLogin(t, b, page, email, pw)
	}
	if page.URL.Path != "/account" || page.Find("a", map[string]string{"href": "/account/totp"}) == nil {
		t.Fatalf("/account has no link to set up TOTP: %d %s\n%.1500s", page.Status, page.URL, page.Body)
	}
	page = b.Get(srv.URL + "/account/totp")
	secret := page.Text("totp-secret")
	if secret == "" || page.Find("input", map[string]string{"name": "code", "autocomplete": "one-time-code"}) == nil {
		t.Fatalf("set-up page lacks the secret or the code input: %d\n%.2000s", page.Status, page.Body)
	}
	if !strings.Contains(page.Body, `src="data:image/png;base64,`) {
		t.Fatalf("set-up page has no inline QR code PNG")
	}
	page = b.Submit(page.FormWithButton(t, "action", "confirm").Set("code", totpCode(t, secret, clock.Now())))
	codes := listItems(page, "recovery-codes")
	if page.Status != http.StatusOK || len(codes) != 10 {
		t.Fatalf("confirming did not show 10 recovery codes: %d %v\n%.2000s", page.Status, codes, page.Body)
	}
	for _, c := range codes {
		if !recoveryCodeShape.MatchString(c) {
			t.Fatalf("recovery code %q is not XXXX-XXXX-XXXX from the unambiguous alphabet", c)
		}
	}
	return secret, codes
}

func totpCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	code, err := totp.GenerateCode(secret, at)
	if err != nil {
		t.Fatalf("generate TOTP code: %v", err)
	}
	return code
}

// listItems is the text of the <li> items of the list with that id.
func listItems(p *testkit.Page, id string) []string {
	var out []string
	var visit func(n *html.Node, in bool)
	visit = func(n *html.Node, in bool) {
		if n.Type == html.ElementNode {
			for _, a := range n.Attr {
				if a.Key == "id" && a.Val == id {
					in = true
				}
			}
			if in && n.Data == "li" {
				var b strings.Builder
				var text func(*html.Node)
				text = func(c *html.Node) {
					if c.Type == html.TextNode {
						b.WriteString(c.Data)
					}
					for k := c.FirstChild; k != nil; k = k.NextSibling {
						text(k)
					}
				}
				text(n)
				out = append(out, strings.TrimSpace(b.String()))
				return
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			visit(c, in)
		}
	}
	if p.Doc != nil {
		visit(p.Doc, false)
	}
	return out
}

func signOut(t *testing.T, srv *testkit.Server, b *testkit.Browser) {
	t.Helper()
	page := b.Get(srv.URL + "/logout")
	b.Submit(page.FormWithButton(t, "decision", "logout"))
	if b.Cookie(srv.URL, "lk_session") != "" {
		t.Fatalf("still signed in after POST /logout")
	}
}

// finishAuthorization allows consent when asked and returns the tokens'
// claims.
func finishAuthorization(t *testing.T, r *rp, b *testkit.Browser, page *testkit.Page, s authStart) idClaims {
	t.Helper()
	if strings.HasPrefix(page.URL.Path, "/consent") {
		page = b.Submit(page.FormWithButton(t, "decision", "allow"))
	}
	q := callback(t, page, shopCallback)
	if q.Get("state") != s.State {
		t.Fatalf("state = %q, want %q", q.Get("state"), s.State)
	}
	_, _, c := exchange(t, r, q.Get("code"), s)
	return c
}

func wantLoginError(t *testing.T, page *testkit.Page, what string) {
	t.Helper()
	if !strings.HasPrefix(page.URL.Path, "/login") || page.Status != http.StatusUnauthorized ||
		page.Find("p", map[string]string{"role": "alert"}) == nil {
		t.Fatalf("%s: want the login page with an error (401), got %d %s location %q:\n%.1500s",
			what, page.Status, page.URL, page.Location, page.Body)
	}
}

// TestTOTPSignIn is issue 4's acceptance 3: enroll an authenticator app on
// /account, sign in through an OIDC flow with password + TOTP (amr
// pwd otp mfa, acr mfa), see a replayed code refused, sign in with a
// recovery code instead, and see that code refused the second time.
func TestTOTPSignIn(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		const email, pw = "dana@example.com", "dana's long password"
		srv, clock, box := totpServer(t, dsn)
		userID := srv.AddUser(t, email, pw)
		b := testkit.NewBrowser(t, shopCallback)
		r := newRP(t, srv.URL, "shop", shopSecret, shopCallback, "openid", "email")

		secret, codes := enrollTOTP(t, srv, b, clock, email, pw)
		acct := b.Get(srv.URL + "/account")
		for _, want := range []string{"Two-factor authentication turned on", "10 of 10 left"} {
			if !strings.Contains(acct.Body, want) {
				t.Errorf("/account lacks %q after enrolling", want)
			}
		}
		signOut(t, srv, b)

		// Two steps later, so the sign-in code is not the enrollment's.
		clock.Advance(time.Minute)
		s := r.start()
		page := passwordLogin(t, b, b.Get(s.URL), email, pw)
		if !strings.HasPrefix(page.URL.Path, "/login") ||
			page.Find("input", map[string]string{"name": "code", "autocomplete": "one-time-code"}) == nil {
			t.Fatalf("password alone did not lead to the TOTP step: %d %s\n%.1500s", page.Status, page.URL, page.Body)
		}
		code := totpCode(t, secret, clock.Now())
		page = b.Submit(page.FormWithButton(t, "method", "totp").Set("code", code))
		c := finishAuthorization(t, r, b, page, s)
		if !slices.Equal(c.AMR, []string{"pwd", "otp", "mfa"}) || c.ACR != "mfa" || c.Sub != userID {
			t.Fatalf("amr=%v acr=%q sub=%q, want [pwd otp mfa] mfa %s", c.AMR, c.ACR, c.Sub, userID)
		}
		signOut(t, srv, b)

		// The same code again, within its step: refused.
		s = r.start()
		page = passwordLogin(t, b, b.Get(s.URL), email, pw)
		page = b.Submit(page.FormWithButton(t, "method", "totp").Set("code", code))
		wantLoginError(t, page, "replayed TOTP code")

		// A recovery code stands in for the app (typed in lower case).
		page = b.Submit(page.FormWithButton(t, "method", "recovery_code").Set("code", strings.ToLower(codes[0])))
		c = finishAuthorization(t, r, b, page, s)
		if !slices.Equal(c.AMR, []string{"pwd", "otp", "mfa"}) || c.ACR != "mfa" {
			t.Fatalf("recovery code sign-in: amr=%v acr=%q, want [pwd otp mfa] mfa", c.AMR, c.ACR)
		}
		acct = b.Get(srv.URL + "/account")
		for _, want := range []string{"Recovery code used", "9 of 10 left", "Check that your authenticator app still works"} {
			if !strings.Contains(acct.Body, want) {
				t.Errorf("/account lacks %q after a recovery-code sign-in", want)
			}
		}
		if !strings.Contains(box.String(), "A recovery code was used to sign in") {
			t.Errorf("no email about the recovery code; mail log:\n%s", box.String())
		}
		signOut(t, srv, b)

		// The used recovery code fails the second time.
		s = r.start()
		page = passwordLogin(t, b, b.Get(s.URL), email, pw)
		page = b.Submit(page.FormWithButton(t, "method", "recovery_code").Set("code", codes[0]))
		wantLoginError(t, page, "reused recovery code")
		// ... and an unused one still works.
		page = b.Submit(page.FormWithButton(t, "method", "recovery_code").Set("code", codes[1]))
		if c = finishAuthorization(t, r, b, page, s); c.ACR != "mfa" {
			t.Fatalf("second recovery code: acr=%q", c.ACR)
		}
	})
}

// TestTurnOffTwoFactor is issue 4's acceptance 4: turning 2FA off without
// a recent re-authentication leads to re-authentication and deletes
// nothing; after it, the secret and codes are gone, the user was emailed,
// and the next sign-in asks only for the password.
func TestTurnOffTwoFactor(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		const email, pw = "erin@example.com", "erin's long password"
		srv, clock, box := totpServer(t, dsn)
		userID := srv.AddUser(t, email, pw)
		b := testkit.NewBrowser(t, shopCallback)
		secret, _ := enrollTOTP(t, srv, b, clock, email, pw)
		clock.Advance(time.Minute)

		stillOn := func(when string) {
			t.Helper()
			c, err := srv.Store.TOTPCredential(ctx, userID)
			left, _, serr := srv.Store.RecoveryCodeStats(ctx, userID)
			if err != nil || c.ConfirmedAt == nil || serr != nil || left != 10 {
				t.Fatalf("%s: TOTP or recovery codes changed: %v %v, %d codes left", when, err, serr, left)
			}
		}

		// A forged form (no CSRF token) is refused outright.
		page := b.Get(srv.URL + "/account/totp")
		forged := page.FormWithButton(t, "action", "disable")
		forged.Fields.Del("csrf_token")
		if p := b.Submit(forged); p.Status != http.StatusForbidden {
			t.Fatalf("disable without CSRF token: status %d, want 403", p.Status)
		}
		stillOn("no CSRF token")

		// The session proved only the password: off to re-authenticate.
		page = b.Submit(page.FormWithButton(t, "action", "disable"))
		if !strings.HasPrefix(page.URL.Path, "/login") || page.FormWithButton(t, "method", "totp") == nil {
			t.Fatalf("disable without recent 2FA was not sent to re-authenticate: %d %s", page.Status, page.URL)
		}
		stillOn("without re-authentication")
		if strings.Contains(box.String(), "turned off") {
			t.Fatalf("a turned-off email was sent although nothing changed")
		}

		page = b.Submit(page.FormWithButton(t, "method", "password").Set("password", pw))
		page = b.Submit(page.FormWithButton(t, "method", "totp").Set("code", totpCode(t, secret, clock.Now())))
		if page.URL.Path != "/account/totp" {
			t.Fatalf("re-authentication did not return to /account/totp: %d %s\n%.1500s", page.Status, page.URL, page.Body)
		}
		page = b.Submit(page.FormWithButton(t, "action", "disable"))
		if page.Status != http.StatusOK || !strings.Contains(page.Body, "Two-factor authentication is off") {
			t.Fatalf("disable after re-authentication: %d\n%.1500s", page.Status, page.Body)
		}
		if _, err := srv.Store.TOTPCredential(ctx, userID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("TOTP secret still stored: %v", err)
		}
		if left, _, err := srv.Store.RecoveryCodeStats(ctx, userID); err != nil || left != 0 {
			t.Fatalf("recovery codes left after disabling: %d %v", left, err)
		}
		mails := box.String()
		if !strings.Contains(mails, "to="+email) || !strings.Contains(mails, `subject="Two-factor authentication turned off"`) {
			t.Fatalf("no email about turning 2FA off; mail log:\n%s", mails)
		}
		if acct := b.Get(srv.URL + "/account"); !strings.Contains(acct.Body, "Two-factor authentication turned off") {
			t.Errorf("/account recent activity lacks totp.disabled")
		}
		signOut(t, srv, b)

		// The password alone signs in again.
		r := newRP(t, srv.URL, "shop", shopSecret, shopCallback, "openid", "email")
		s := r.start(oauth2.SetAuthURLParam("prompt", "login"))
		page = passwordLogin(t, b, b.Get(s.URL), email, pw)
		if strings.HasPrefix(page.URL.Path, "/login") {
			t.Fatalf("after turning 2FA off the sign-in still asks for more than the password:\n%.1500s", page.Body)
		}
		c := finishAuthorization(t, r, b, page, s)
		if !slices.Equal(c.AMR, []string{"pwd"}) || c.ACR != "1fa" {
			t.Fatalf("amr=%v acr=%q, want [pwd] 1fa", c.AMR, c.ACR)
		}
	})
}

// TestRecoveryCodesPage: /account/recovery-codes counts what is left, warns
// at three or fewer, and regenerating needs a recent two-factor sign-in and
// makes the old set stop working.
func TestRecoveryCodesPage(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		const email, pw = "finn@example.com", "finn's long password"
		srv, clock, _ := totpServer(t, dsn)
		userID := srv.AddUser(t, email, pw)
		b := testkit.NewBrowser(t, shopCallback)
		secret, old := enrollTOTP(t, srv, b, clock, email, pw)
		clock.Advance(time.Minute)

		page := b.Get(srv.URL + "/account/recovery-codes")
		if page.Text("recovery-codes-left") != "10" || page.Text("recovery-codes-warning") != "" {
			t.Fatalf("fresh set: left %q, warning %q", page.Text("recovery-codes-left"), page.Text("recovery-codes-warning"))
		}
		// The session proved only the password: regenerating re-authenticates first.
		page = b.Submit(page.FormWithButton(t, "action", "regenerate"))
		if !strings.HasPrefix(page.URL.Path, "/login") {
			t.Fatalf("regenerating without recent 2FA: %d %s", page.Status, page.URL)
		}
		page = b.Submit(page.FormWithButton(t, "method", "password").Set("password", pw))
		page = b.Submit(page.FormWithButton(t, "method", "totp").Set("code", totpCode(t, secret, clock.Now())))
		if page.URL.Path != "/account/recovery-codes" {
			t.Fatalf("re-authentication did not return to /account/recovery-codes: %s", page.URL)
		}
		page = b.Submit(page.FormWithButton(t, "action", "regenerate"))
		fresh := listItems(page, "recovery-codes")
		if len(fresh) != 10 || slices.Contains(fresh, old[0]) {
			t.Fatalf("regenerated codes: %v", fresh)
		}
		if acct := b.Get(srv.URL + "/account"); !strings.Contains(acct.Body, "New recovery codes made") {
			t.Errorf("/account recent activity lacks recovery_codes.regenerated")
		}
		signOut(t, srv, b)

		r := newRP(t, srv.URL, "shop", shopSecret, shopCallback, "openid")
		s := r.start()
		page = passwordLogin(t, b, b.Get(s.URL), email, pw)
		page = b.Submit(page.FormWithButton(t, "method", "recovery_code").Set("code", old[1]))
		wantLoginError(t, page, "a code of the replaced set")
		page = b.Submit(page.FormWithButton(t, "method", "recovery_code").Set("code", fresh[0]))
		if c := finishAuthorization(t, r, b, page, s); c.ACR != "mfa" {
			t.Fatalf("new recovery code: acr %q", c.ACR)
		}

		// Six more used elsewhere leave three: the pages warn.
		for _, c := range fresh[1:7] {
			n, _ := recovery.Normalize(c)
			if ok, err := srv.Store.UseRecoveryCode(ctx, userID, recovery.Hash(userID, n)); !ok || err != nil {
				t.Fatalf("use %s: %v %v", c, ok, err)
			}
		}
		page = b.Get(srv.URL + "/account/recovery-codes")
		if page.Text("recovery-codes-left") != "3" || !strings.Contains(page.Text("recovery-codes-warning"), "Only 3 recovery codes left") {
			t.Fatalf("three left: left %q, warning %q", page.Text("recovery-codes-left"), page.Text("recovery-codes-warning"))
		}
		if acct := b.Get(srv.URL + "/account"); !strings.Contains(acct.Body, "3 of 10 left") || !strings.Contains(acct.Body, "Only 3 recovery codes left") {
			t.Errorf("/account does not warn about three codes left")
		}
	})
}

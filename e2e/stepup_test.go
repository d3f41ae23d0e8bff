package e2e

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"latchkey/config"
	"latchkey/internal/testkit"
	"latchkey/server"
)

// policyClients adds, beside shop (1fa), "vault" (min_acr mfa, a second
// factor at most 10 minutes old) and "strict" (min_acr mfa, never a
// remembered browser). Remembered browsers live 30 minutes.
func policyClients(cfg *config.Config) {
	standardClients(cfg)
	no := false
	cfg.Clients = append(cfg.Clients,
		config.Client{ID: "vault", Name: "Vault", Secret: shopSecret, RedirectURIs: []string{shopCallback},
			Scopes: []string{"openid", "email"}, GrantTypes: []string{"authorization_code"}, MinACR: "mfa",
			StepUpMaxAge: config.Duration{Duration: 10 * time.Minute}},
		config.Client{ID: "strict", Name: "Strict", Secret: shopSecret, RedirectURIs: []string{shopCallback},
			Scopes: []string{"openid", "email"}, GrantTypes: []string{"authorization_code"}, MinACR: "mfa",
			RememberBrowser: &no},
	)
	cfg.RememberBrowser.TTL = config.Duration{Duration: 30 * time.Minute}
}

func policyServer(t *testing.T, dsn string) (*testkit.Server, *testkit.Clock) {
	t.Helper()
	clock, box := testkit.NewClock(), &mailBox{}
	srv := testkit.StartServer(t, dsn, testkit.ServerOptions{Configure: policyClients,
		Server: server.Options{Now: clock.Now, Mailer: box.Mailer()}})
	return srv, clock
}

// wantOnlyTOTP checks the page is the login step asking for the
// authenticator app (or a recovery code) and nothing else.
func wantOnlyTOTP(t *testing.T, page *testkit.Page, what string) {
	t.Helper()
	if !strings.HasPrefix(page.URL.Path, "/login") || page.Find("input", map[string]string{"name": "code", "autocomplete": "one-time-code"}) == nil {
		t.Fatalf("%s: want the TOTP step, got %d %s location %q\n%.1500s", what, page.Status, page.URL, page.Location, page.Body)
	}
	for _, m := range []string{"password", "passkey", "magic_link"} {
		if page.Find("button", map[string]string{"name": "method", "value": m}) != nil {
			t.Errorf("%s: the step also offers %s", what, m)
		}
	}
	if page.Find("input", map[string]string{"name": "password"}) != nil {
		t.Errorf("%s: the step asks for the password again", what)
	}
}

// browserWith is a fresh browser holding only the given session cookie.
func browserWith(t *testing.T, srv *testkit.Server, cookie string) *testkit.Browser {
	b := testkit.NewBrowser(t, shopCallback)
	u, _ := url.Parse(srv.URL)
	b.Client.Jar.SetCookies(u, []*http.Cookie{{Name: "lk_session", Value: cookie, Path: "/"}})
	return b
}

// TestStepUp: a 1fa session asked for mfa is asked only for TOTP and the
// new ID token has pwd and otp; the session cookie changes at each
// step-up and the old one gets login_required with prompt=none; after the
// client's step_up_max_age only the second factor is asked again.
func TestStepUp(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		const email, pw = "erin@example.com", "erin's long password"
		srv, clock := policyServer(t, dsn)
		srv.AddUser(t, email, pw)
		b := testkit.NewBrowser(t, shopCallback)
		shop := newRP(t, srv.URL, "shop", shopSecret, shopCallback, "openid", "email")
		vault := newRP(t, srv.URL, "vault", shopSecret, shopCallback, "openid", "email")

		// A password-only session (signed in on /account), then TOTP is set
		// up on it: the session itself still holds one factor.
		secret, _ := enrollTOTP(t, srv, b, clock, email, pw)
		before := b.Cookie(srv.URL, "lk_session")
		if before == "" {
			t.Fatal("no session cookie after signing in")
		}

		clock.Advance(time.Minute)
		s := shop.start(oauth2.SetAuthURLParam("acr_values", "mfa"))
		page := b.Get(s.URL)
		wantOnlyTOTP(t, page, "1fa session asked for mfa")
		page = b.Submit(page.FormWithButton(t, "method", "totp").Set("code", totpCode(t, secret, clock.Now())))
		c := finishAuthorization(t, shop, b, page, s)
		if !slices.Equal(c.AMR, []string{"pwd", "otp", "mfa"}) || c.ACR != "mfa" {
			t.Fatalf("after step-up amr=%v acr=%q, want [pwd otp mfa] mfa", c.AMR, c.ACR)
		}
		if c.AuthTime != clock.Now().Unix() {
			t.Errorf("auth_time = %d, want the TOTP's time %d", c.AuthTime, clock.Now().Unix())
		}
		after := b.Cookie(srv.URL, "lk_session")
		if after == "" || after == before {
			t.Fatalf("session cookie did not change at the step-up (%q -> %q)", before, after)
		}

		// The cookie copied before the step-up is dead; the new one works.
		s = vault.start(oauth2.SetAuthURLParam("prompt", "none"))
		if q := callback(t, browserWith(t, srv, before).Get(s.URL), shopCallback); q.Get("error") != "login_required" {
			t.Fatalf("old cookie with prompt=none at an mfa client: %v, want login_required", q)
		}
		s = shop.start(oauth2.SetAuthURLParam("prompt", "none"))
		if q := callback(t, browserWith(t, srv, after).Get(s.URL), shopCallback); q.Get("code") == "" {
			t.Fatalf("new cookie with prompt=none: %v, want a code", q)
		}

		// Within vault's step_up_max_age the session answers at once.
		s = vault.start()
		page = b.Get(s.URL)
		if c = finishAuthorization(t, vault, b, page, s); c.ACR != "mfa" {
			t.Fatalf("vault within step_up_max_age: acr %q", c.ACR)
		}

		// Past it: only the second factor again, the password kept.
		clock.Advance(11 * time.Minute)
		s = vault.start()
		page = b.Get(s.URL)
		wantOnlyTOTP(t, page, "past step_up_max_age")
		page = b.Submit(page.FormWithButton(t, "method", "totp").Set("code", totpCode(t, secret, clock.Now())))
		c = finishAuthorization(t, vault, b, page, s)
		if !slices.Equal(c.AMR, []string{"pwd", "otp", "mfa"}) || c.ACR != "mfa" || c.AuthTime != clock.Now().Unix() {
			t.Fatalf("after step_up_max_age: amr=%v acr=%q auth_time=%d, want [pwd otp mfa] mfa %d", c.AMR, c.ACR, c.AuthTime, clock.Now().Unix())
		}
		if again := b.Cookie(srv.URL, "lk_session"); again == after || again == "" {
			t.Errorf("session cookie did not change at the second step-up")
		}
	})
}

// TestRememberedBrowser: after TOTP with "remember this browser" ticked,
// the browser skips TOTP at mfa (amr lists only the password, acr mfa),
// not for a client with remember_browser: false, not at phr, and not once
// remember_browser.ttl has passed.
func TestRememberedBrowser(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		const email, pw = "finn@example.com", "finn's long password"
		srv, clock := policyServer(t, dsn)
		srv.AddUser(t, email, pw)
		b := testkit.NewBrowser(t, shopCallback)
		shop := newRP(t, srv.URL, "shop", shopSecret, shopCallback, "openid", "email")
		strict := newRP(t, srv.URL, "strict", shopSecret, shopCallback, "openid", "email")

		secret, _ := enrollTOTP(t, srv, b, clock, email, pw)
		signOut(t, srv, b)

		// Without ticking the box nothing is remembered.
		clock.Advance(time.Minute)
		s := shop.start()
		page := passwordLogin(t, b, b.Get(s.URL), email, pw)
		wantOnlyTOTP(t, page, "2FA user")
		if page.Find("input", map[string]string{"name": "remember_browser", "type": "checkbox"}) == nil {
			t.Fatalf("the TOTP step has no remember_browser checkbox:\n%.1500s", page.Body)
		}
		page = b.Submit(page.FormWithButton(t, "method", "totp").Set("code", totpCode(t, secret, clock.Now())))
		finishAuthorization(t, shop, b, page, s)
		signOut(t, srv, b)
		clock.Advance(time.Minute)
		s = shop.start()
		page = passwordLogin(t, b, b.Get(s.URL), email, pw)
		wantOnlyTOTP(t, page, "box not ticked before")

		// Ticked: the next sign-in skips TOTP.
		page = b.Submit(page.FormWithButton(t, "method", "totp").Set("code", totpCode(t, secret, clock.Now())).Check("remember_browser"))
		if c := finishAuthorization(t, shop, b, page, s); c.ACR != "mfa" {
			t.Fatalf("sign-in with TOTP: acr %q", c.ACR)
		}
		signOut(t, srv, b) // signing out does not forget the browser
		clock.Advance(time.Minute)
		s = shop.start()
		page = passwordLogin(t, b, b.Get(s.URL), email, pw)
		c := finishAuthorization(t, shop, b, page, s)
		if !slices.Equal(c.AMR, []string{"pwd"}) || c.ACR != "mfa" {
			t.Fatalf("remembered browser: amr=%v acr=%q, want [pwd] mfa", c.AMR, c.ACR)
		}

		// Not for a client with remember_browser: false.
		s = strict.start()
		page = b.Get(s.URL)
		wantOnlyTOTP(t, page, "client with remember_browser: false")

		// Not at phr: a passkey is needed (this user has none), never the
		// remembered browser.
		s = shop.start(oauth2.SetAuthURLParam("acr_values", "phr"))
		page = b.Get(s.URL)
		if page.Location != "" || strings.HasPrefix(page.URL.Path, "/consent") {
			t.Fatalf("phr was answered by the remembered browser: %d %s %q", page.Status, page.URL, page.Location)
		}

		// Past the ttl (30 minutes) TOTP is asked again.
		signOut(t, srv, b)
		clock.Advance(31 * time.Minute)
		s = shop.start()
		page = passwordLogin(t, b, b.Get(s.URL), email, pw)
		wantOnlyTOTP(t, page, "remembered browser past its ttl")
	})
}

// TestWrongFlowKindRefused: a passkey-registration flow (made on
// /account/passkeys) is refused by /consent and /login, which continue
// only sign-in flows; the flow itself stays usable for its ceremony.
func TestWrongFlowKindRefused(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		const email, pw = "gail@example.com", "gail's long password"
		srv, _ := policyServer(t, dsn)
		srv.AddUser(t, email, pw)
		b := testkit.NewBrowser(t, shopCallback)
		if page := passwordLogin(t, b, b.Get(srv.URL+"/account/passkeys"), email, pw); page.URL.Path != "/account/passkeys" {
			t.Fatalf("sign-in did not return to /account/passkeys: %s", page.URL)
		}
		page := b.Get(srv.URL + "/account/passkeys")
		btn := page.Find("button", map[string]string{"id": "passkey-register", "type": "button"})
		if btn == nil {
			t.Fatalf("no passkey-register button:\n%.1500s", page.Body)
		}
		var begin struct {
			Flow string `json:"flow"`
		}
		pkJSON(t, b.Post(srv.URL+"/account/passkeys/register/begin", url.Values{"csrf_token": {pkAttr(btn, "data-csrf")}}), http.StatusOK, &begin)
		if begin.Flow == "" {
			t.Fatal("registration began without a flow")
		}
		id := url.QueryEscape(begin.Flow)
		for _, c := range []struct {
			what string
			page *testkit.Page
		}{
			{"GET /consent", b.Get(srv.URL + "/consent?flow=" + id)},
			{"POST /consent allow", b.Post(srv.URL+"/consent?flow="+id, url.Values{"decision": {"allow"}})},
			{"GET /login", b.Get(srv.URL + "/login?flow=" + id)},
			{"POST /login password", b.Post(srv.URL+"/login?flow="+id, url.Values{"method": {"password"}, "identifier": {email}, "password": {pw}})},
		} {
			if c.page.Status != http.StatusBadRequest || c.page.Location != "" || !strings.Contains(c.page.Body, "expired") {
				t.Errorf("%s with a passkey-registration flow: %d %s %q, want the 400 expired page", c.what, c.page.Status, c.page.URL, c.page.Location)
			}
		}
		opts := b.Post(srv.URL+"/login/passkey/options?flow="+id, url.Values{})
		if opts.Status == http.StatusOK {
			t.Errorf("passkey sign-in options issued for a registration flow")
		}
	})
}

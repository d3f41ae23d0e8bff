package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"latchkey/config"
	"latchkey/internal/testkit"
	"latchkey/login/passkey/passkeytest"
)

// TestEnrollTOTPInFlow is issue 8's acceptance 3 (TOTP): a user with no
// second factor signing in to a min_acr mfa client sets up an
// authenticator app inside the sign-in, sees the recovery codes, and
// lands at the app with acr mfa and amr [pwd otp mfa]; the next sign-in
// asks for the app. Only the flow's identified user, with the form's
// CSRF token and the right code, can turn it on.
func TestEnrollTOTPInFlow(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		const email, pw = "hana@example.com", "hana's long password"
		srv, clock := policyServer(t, dsn)
		srv.AddUser(t, email, pw)
		b := testkit.NewBrowser(t, shopCallback)
		vault := newRP(t, srv.URL, "vault", shopSecret, shopCallback, "openid", "email")

		// Nobody is identified yet: the flow cannot enroll anything.
		s := vault.start()
		page := b.Get(s.URL)
		flowID := page.URL.Query().Get("flow")
		if flowID == "" {
			t.Fatalf("no sign-in flow: %d %s", page.Status, page.URL)
		}
		csrf := page.FormWithButton(t, "method", "password").Fields.Get("csrf_token")
		if p := b.Post(srv.URL+"/login/enroll?flow="+url.QueryEscape(flowID), url.Values{"csrf_token": {csrf}, "code": {"123456"}}); p.Status != http.StatusBadRequest {
			t.Fatalf("enrollment before the password: %d, want 400", p.Status)
		}

		page = passwordLogin(t, b, page, email, pw)
		secret := page.Text("totp-secret")
		if !strings.HasPrefix(page.URL.Path, "/login") || secret == "" ||
			page.Find("input", map[string]string{"name": "code", "autocomplete": "one-time-code"}) == nil ||
			!strings.Contains(page.Body, `src="data:image/png;base64,`) {
			t.Fatalf("after the password: want the in-flow TOTP set-up, got %d %s\n%.2000s", page.Status, page.URL, page.Body)
		}
		form := page.FormWithButton(t, "action", "confirm")

		// Without the CSRF token, and with a wrong code, nothing is turned on.
		noCSRF := url.Values{"code": {totpCode(t, secret, clock.Now())}}
		if p := b.Post(form.Action, noCSRF); p.Status != http.StatusForbidden {
			t.Fatalf("enrollment without CSRF token: %d, want 403", p.Status)
		}
		wrong := totpCode(t, secret, clock.Now().Add(-10*time.Minute))
		p := b.Submit(page.FormWithButton(t, "action", "confirm").Set("code", wrong))
		if p.Status != http.StatusBadRequest || p.Text("totp-secret") != secret || p.Find("p", map[string]string{"role": "alert"}) == nil {
			t.Fatalf("wrong code: want the set-up again with an error (400), got %d\n%.2000s", p.Status, p.Body)
		}

		page = b.Submit(form.Set("code", totpCode(t, secret, clock.Now())))
		codes := listItems(page, "recovery-codes")
		if page.Status != http.StatusOK || len(codes) != 10 {
			t.Fatalf("confirming in-flow did not show 10 recovery codes: %d %v\n%.2000s", page.Status, codes, page.Body)
		}
		cont := page.FormWithButton(t, "step", "continue")
		cont.Fields.Set("step", "continue")
		page = b.Get(cont.Action + "?" + cont.Fields.Encode())
		c := finishAuthorization(t, vault, b, page, s)
		if !slices.Equal(c.AMR, []string{"pwd", "otp", "mfa"}) || c.ACR != "mfa" {
			t.Fatalf("after in-flow enrollment amr=%v acr=%q, want [pwd otp mfa] mfa", c.AMR, c.ACR)
		}

		// 2FA is on now: the next sign-in asks for the app, and the account
		// page shows it.
		if p := b.Get(srv.URL + "/account/totp"); p.Text("totp-status") == "" || !strings.Contains(p.Text("totp-status"), "set up since") {
			t.Fatalf("/account/totp does not show the app on: %d\n%.1500s", p.Status, p.Body)
		}
		signOut(t, srv, b)
		clock.Advance(time.Minute)
		s = vault.start()
		page = passwordLogin(t, b, b.Get(s.URL), email, pw)
		wantOnlyTOTP(t, page, "second sign-in")
		page = b.Submit(page.FormWithButton(t, "method", "totp").Set("code", totpCode(t, secret, clock.Now())))
		if c := finishAuthorization(t, vault, b, page, s); c.ACR != "mfa" {
			t.Fatalf("second sign-in: acr %q", c.ACR)
		}
	})
}

// phrClients adds "keys" (min_acr phr) beside the policy clients.
func phrClients(cfg *config.Config) {
	policyClients(cfg)
	cfg.Clients = append(cfg.Clients, config.Client{ID: "keys", Name: "Keys", Secret: shopSecret,
		RedirectURIs: []string{shopCallback}, Scopes: []string{"openid", "email"},
		GrantTypes: []string{"authorization_code"}, MinACR: "phr"})
}

// TestEnrollPasskeyInFlowHTTP is issue 8's acceptance 3 (passkey) the way
// passkey.js calls the server, with a software authenticator: a
// password-only user signing in to a min_acr phr client registers a
// passkey inside the sign-in, then signs in with it and lands at the app
// with acr phr or phrh. Without the page's CSRF token, or before the
// password, nothing can be registered.
func TestEnrollPasskeyInFlowHTTP(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		const email, pw = "ines@example.com", "ines's long password"
		srv := testkit.StartServer(t, dsn, testkit.ServerOptions{Configure: phrClients})
		srv.AddUser(t, email, pw)
		a := passkeytest.New()
		b := testkit.NewBrowser(t, shopCallback)
		keys := newRP(t, srv.URL, "keys", shopSecret, shopCallback, "openid", "email")

		s := keys.start()
		page := b.Get(s.URL)
		flowID := page.URL.Query().Get("flow")
		csrf := page.FormWithButton(t, "method", "password").Fields.Get("csrf_token")
		begin := srv.URL + "/login/enroll/passkey/begin?flow=" + url.QueryEscape(flowID)
		if p := b.Post(begin, url.Values{"csrf_token": {csrf}}); p.Status != http.StatusBadRequest {
			t.Fatalf("registration before the password: %d, want 400", p.Status)
		}

		page = passwordLogin(t, b, page, email, pw)
		btn := page.Find("button", map[string]string{"id": "passkey-register", "type": "button"})
		if btn == nil {
			t.Fatalf("after the password: want the in-flow passkey registration, got %d %s\n%.2000s", page.Status, page.URL, page.Body)
		}
		csrf = pkAttr(btn, "data-csrf")
		if p := b.Post(srv.URL+pkAttr(btn, "data-begin"), url.Values{"csrf_token": {"forged"}}); p.Status != http.StatusForbidden {
			t.Fatalf("begin with a forged CSRF token: %d, want 403", p.Status)
		}
		var started struct {
			PublicKey json.RawMessage `json:"publicKey"`
		}
		pkJSON(t, b.Post(srv.URL+pkAttr(btn, "data-begin"), url.Values{"csrf_token": {csrf}}), http.StatusOK, &started)
		cred, err := a.Create(srv.URL, []byte(started.PublicKey))
		if err != nil {
			t.Fatalf("authenticator: %v", err)
		}
		var done struct{ ID string }
		finish := srv.URL + pkAttr(btn, "data-finish")
		pkJSON(t, b.Post(finish, url.Values{"csrf_token": {csrf}, "credential": {string(cred)}}), http.StatusOK, &done)
		if done.ID == "" {
			t.Fatal("finish returned no passkey")
		}
		// The challenge answered once.
		if p := b.Post(finish, url.Values{"csrf_token": {csrf}, "credential": {string(cred)}}); p.Status == http.StatusOK {
			t.Fatal("the registration answered twice")
		}

		// The sign-in continues: the new passkey is asked for the level.
		page = b.Get(srv.URL + pkAttr(btn, "data-continue"))
		page = pkLoginHTTP(t, srv, b, page, a)
		c := finishAuthorization(t, keys, b, page, s)
		if c.ACR != "phr" && c.ACR != "phrh" {
			t.Fatalf("after in-flow passkey registration acr=%q amr=%v, want phr or phrh", c.ACR, c.AMR)
		}
		if !slices.Contains(c.AMR, "hwk") && !slices.Contains(c.AMR, "swk") {
			t.Errorf("amr %v names no key", c.AMR)
		}
	})
}

// TestEnrollPasskeyInFlowBrowser is issue 8's acceptance 3 (passkey) in
// Chromium with a virtual authenticator: a password-only user signing in
// to a min_acr phr client presses "Add a passkey" inside the sign-in,
// then signs in with the new passkey, and lands at the app with acr phr
// or phrh (go-oidc verifies the ID token).
func TestEnrollPasskeyInFlowBrowser(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := newChromium(t)
		cb := newRPCallback(t)
		srv := testkit.StartServer(t, dsn, testkit.ServerOptions{Configure: func(cfg *config.Config) {
			browserClients(cb)(cfg)
			cfg.Clients = append(cfg.Clients, config.Client{ID: "webkeys", Name: "Web keys", Secret: webSecret,
				RedirectURIs: []string{cb.URL}, Scopes: []string{"openid", "email"},
				GrantTypes: []string{"authorization_code"}, MinACR: "phr"})
		}})
		const email, pw = "jo@example.com", "jo's long password"
		userID := srv.AddUser(t, email, pw)
		authID := addVirtualAuthenticator(t, ctx, false)
		blockAutofill(t, ctx)

		r := newRP(t, srv.URL, "webkeys", webSecret, cb.URL, "openid", "email")
		s := r.start()
		browse(t, ctx, "sign in with the password", chromedp.Navigate(s.URL), chromePassword(email, pw))
		waitFor(t, ctx, "the in-flow registration shows", `#passkey-register:not([hidden])`)
		browse(t, ctx, "register a passkey in the sign-in", chromedp.Click(chromedp.CSS(`#passkey-register`)))
		waitFor(t, ctx, "the sign-in asks the new passkey", `[data-passkey-only]:not([hidden]) button[name=method][value=passkey]`)
		if n := len(virtualCredentials(t, ctx, authID)); n != 1 {
			t.Fatalf("the authenticator holds %d credentials, want 1", n)
		}
		browse(t, ctx, "use the passkey", chromedp.Click(chromedp.CSS(`[data-passkey-only] button[name=method][value=passkey]`)))
		c := browserFinish(t, ctx, r, cb, s)
		if c.Sub != userID || (c.ACR != "phr" && c.ACR != "phrh") {
			t.Fatalf("sub=%s amr=%v acr=%s, want %s with acr phr or phrh", c.Sub, c.AMR, c.ACR, userID)
		}
		t.Logf("amr=%v acr=%s", c.AMR, c.ACR)
	})
}

// TestStepUpPhrBrowser is issue 8's acceptance 2 (passkey part): a 1fa
// session (the password) asked for acr_values=phr is asked only for the
// passkey, in Chromium with a virtual authenticator, and the new ID token
// keeps the password and adds the key.
func TestStepUpPhrBrowser(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := newChromium(t)
		cb := newRPCallback(t)
		srv := testkit.StartServer(t, dsn, testkit.ServerOptions{Configure: browserClients(cb)})
		const email, pw = "kim@example.com", "kim's long password"
		userID := srv.AddUser(t, email, pw)
		addVirtualAuthenticator(t, ctx, false)
		blockAutofill(t, ctx)
		// Signed in with the password on /account/passkeys, a passkey added:
		// the session holds the password only.
		browserRegister(t, ctx, srv, email, pw)

		r := newRP(t, srv.URL, "web", webSecret, cb.URL, "openid", "email")
		s := r.start(oauth2.SetAuthURLParam("acr_values", "phr"))
		browse(t, ctx, "ask for phr", chromedp.Navigate(s.URL))
		waitFor(t, ctx, "the step offers the passkey", `[data-passkey-only]:not([hidden]) button[name=method][value=passkey]`)
		others, err := chromedp.Run(ctx, chromedp.Evaluate[int](
			`document.querySelectorAll('input[name=password], input[name=code], button[name=method]:not([value=passkey])').length`))
		if err != nil || others != 0 {
			t.Fatalf("the phr step offers %d other inputs or methods (%v), want only the passkey", others, err)
		}
		browse(t, ctx, "use the passkey", chromedp.Click(chromedp.CSS(`[data-passkey-only] button[name=method][value=passkey]`)))
		c := browserFinish(t, ctx, r, cb, s)
		if c.Sub != userID || c.ACR != "phrh" || !slices.Contains(c.AMR, "pwd") || !slices.Contains(c.AMR, "hwk") {
			t.Fatalf("sub=%s amr=%v acr=%s, want %s, acr phrh with pwd and hwk", c.Sub, c.AMR, c.ACR, userID)
		}
	})
}

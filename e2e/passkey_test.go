package e2e

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"golang.org/x/net/html"

	"latchkey/config"
	"latchkey/internal/testkit"
	"latchkey/login/passkey/passkeytest"
	"latchkey/server"
)

// passkeyAMR is what a verified passkey adds to amr, per SPEC.md.
func passkeyAMR(deviceBound bool) []string {
	if deviceBound {
		return []string{"hwk", "user", "pin"}
	}
	return []string{"swk", "user", "pin"}
}

func passkeyACR(deviceBound bool) string {
	if deviceBound {
		return "phrh"
	}
	return "phr"
}

// TestPasskeyHTTP drives the passkey pages and endpoints over plain HTTP
// with the software authenticator: registration on /account/passkeys,
// usernameless sign-in and the second-factor step through a real OIDC
// flow, and the refusals a script must not get around.
func TestPasskeyHTTP(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		srv := testkit.StartServer(t, dsn, testkit.ServerOptions{Configure: standardClients})
		const email, pw = "pat@example.com", "pat's long password"
		userID := srv.AddUser(t, email, pw)
		a := passkeytest.New()

		b := testkit.NewBrowser(t, shopCallback)
		page := b.Get(srv.URL + "/account")
		page = passwordLogin(t, b, page, email, pw)
		if page.URL.Path != "/account" || !strings.Contains(page.Body, "Add a passkey") {
			t.Fatalf("/account without a passkey does not invite to add one (%d %s):\n%.1500s", page.Status, page.URL, page.Body)
		}
		pkRegisterHTTP(t, srv, b, a, "Test key")
		page = b.Get(srv.URL + "/account/passkeys")
		if !strings.Contains(page.Text("passkeys"), "Test key") {
			t.Fatalf("the new passkey is not listed:\n%.1500s", page.Body)
		}
		if !strings.Contains(b.Get(srv.URL+"/account").Body, "1 passkey") {
			t.Fatalf("/account does not count the passkey")
		}

		t.Run("the login page without script", func(t *testing.T) {
			b := testkit.NewBrowser(t, shopCallback)
			r := newRP(t, srv.URL, "shop", shopSecret, shopCallback, "openid")
			page := b.Get(r.start().URL)
			if page.Find("button", map[string]string{"type": "submit", "name": "method", "value": "passkey", "hidden": ""}) == nil {
				t.Fatalf("the passkey button must be hidden until the script finds WebAuthn:\n%.1500s", page.Body)
			}
			form := page.FormWithButton(t, "method", "passkey")
			action, _ := url.Parse(form.Action)
			p := b.Post(srv.URL+"/login/passkey/options?flow="+action.Query().Get("flow"), url.Values{"csrf_token": {"forged"}})
			if p.Status != http.StatusForbidden {
				t.Fatalf("options with a forged CSRF token: %d, want 403", p.Status)
			}
			// The button posted without an assertion (no script ran) is no
			// wrong answer: the login page comes back, without an error.
			p = b.Submit(form)
			if p.Status != http.StatusOK || !strings.HasPrefix(p.URL.Path, "/login") || p.Find("p", map[string]string{"role": "alert"}) != nil {
				t.Fatalf("passkey button without an assertion: %d %s", p.Status, p.URL)
			}
		})

		t.Run("usernameless", func(t *testing.T) {
			b := testkit.NewBrowser(t, shopCallback)
			r := newRP(t, srv.URL, "shop", shopSecret, shopCallback, "openid", "email")
			s := r.start()
			c := pkFinish(t, r, b, pkLoginHTTP(t, srv, b, b.Get(s.URL), a), s)
			want := append(passkeyAMR(true), "mfa")
			if c.Sub != userID || !slices.Equal(c.AMR, want) || c.ACR != "phrh" {
				t.Fatalf("sub=%s amr=%v acr=%s, want %s %v phrh", c.Sub, c.AMR, c.ACR, userID, want)
			}
		})

		t.Run("second factor", func(t *testing.T) {
			b := testkit.NewBrowser(t, shopCallback)
			r := newRP(t, srv.URL, "shop", shopSecret, shopCallback, "openid", "email")
			s := r.start()
			page := passwordLogin(t, b, b.Get(s.URL), email, pw)
			if page.FormWithButton(t, "method", "passkey") == nil || page.Find("input", map[string]string{"name": "password"}) != nil {
				t.Fatalf("after the password the login must ask for the passkey only")
			}
			c := pkFinish(t, r, b, pkLoginHTTP(t, srv, b, page, a), s)
			want := append([]string{"pwd"}, append(passkeyAMR(true), "mfa")...)
			if !slices.Equal(c.AMR, want) || c.ACR != "phrh" {
				t.Fatalf("amr=%v acr=%s, want %v phrh", c.AMR, c.ACR, want)
			}
		})

		t.Run("an assertion is used once", func(t *testing.T) {
			b := testkit.NewBrowser(t, shopCallback)
			r := newRP(t, srv.URL, "shop", shopSecret, shopCallback, "openid")
			page := b.Get(r.start().URL)
			form := page.FormWithButton(t, "method", "passkey")
			action, _ := url.Parse(form.Action)
			var options map[string]any
			pkJSON(t, b.Post(srv.URL+"/login/passkey/options?flow="+action.Query().Get("flow"),
				url.Values{"csrf_token": {form.Fields.Get("csrf_token")}}), http.StatusOK, &options)
			assertion, err := a.Get(srv.URL, options)
			if err != nil {
				t.Fatal(err)
			}
			form.Set("credential", string(assertion))
			// Another browser replays it into a flow of its own, which holds
			// a challenge of its own.
			thief := testkit.NewBrowser(t, shopCallback)
			theirs := thief.Get(r.start().URL).FormWithButton(t, "method", "passkey")
			theirAction, _ := url.Parse(theirs.Action)
			pkJSON(t, thief.Post(srv.URL+"/login/passkey/options?flow="+theirAction.Query().Get("flow"),
				url.Values{"csrf_token": {theirs.Fields.Get("csrf_token")}}), http.StatusOK, new(map[string]any))
			theirs.Set("credential", string(assertion))
			if p := thief.Submit(theirs); p.Status != http.StatusUnauthorized || thief.Cookie(srv.URL, "lk_session") != "" {
				t.Fatalf("an assertion for another flow was accepted: %d %s", p.Status, p.URL)
			}
			if p := b.Submit(form); p.Location == "" || p.Find("p", map[string]string{"role": "alert"}) != nil {
				t.Fatalf("the genuine assertion was refused: %d %s", p.Status, p.URL)
			}
		})

	})
}

// TestPasskeyManage: renaming works at once, deleting needs a recent
// sign-in (a passkey on its own will do), the last way to sign in cannot
// be deleted, and each change is in the user's recent activity.
func TestPasskeyManage(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		clock := testkit.NewClock()
		srv := testkit.StartServer(t, dsn, testkit.ServerOptions{Configure: standardClients, Server: server.Options{Now: clock.Now}})
		const email, pw = "kim@example.com", "kim's long password"
		userID := srv.AddUser(t, email, pw)
		a, spare := passkeytest.New(), passkeytest.New()
		b := testkit.NewBrowser(t, shopCallback)
		passwordLogin(t, b, b.Get(srv.URL+"/account/passkeys"), email, pw)
		pkRegisterHTTP(t, srv, b, a, "First")
		// 2FA is on now: adding another passkey needs a recent proof of
		// both factors, which the passkey alone (verified) gives.
		var refused struct{ Error, Reauthenticate string }
		pkJSON(t, b.Post(srv.URL+"/account/passkeys/register/begin", url.Values{"csrf_token": {pkCSRF(t, b.Get(srv.URL+"/account/passkeys"))}}),
			http.StatusForbidden, &refused)
		if refused.Reauthenticate == "" {
			t.Fatalf("begin without a recent second factor: %+v", refused)
		}
		if page := pkLoginHTTP(t, srv, b, b.Get(srv.URL+refused.Reauthenticate), a); page.URL.Path != "/account/passkeys" {
			t.Fatalf("after re-authentication: %d %s", page.Status, page.URL)
		}
		clock.Advance(time.Minute)
		pkRegisterHTTP(t, srv, b, spare, "")

		page := b.Get(srv.URL + "/account/passkeys")
		ids := passkeyIDs(page)
		if len(ids) != 2 || !strings.Contains(page.Text("passkeys"), "Passkey 2") {
			t.Fatalf("want two passkeys, the unnamed one called Passkey 2:\n%s", page.Text("passkeys"))
		}
		page = b.Post(srv.URL+"/account/passkeys/"+ids[1]+"/rename", url.Values{"csrf_token": {pkCSRF(t, page)}, "name": {"  Spare\tkey \x00 "}})
		if !strings.Contains(page.Text("passkeys"), "Spare key") || page.Find("p", map[string]string{"role": "status"}) == nil {
			t.Fatalf("rename: %d %s\n%s", page.Status, page.URL, page.Text("passkeys"))
		}

		// Ten minutes later the sign-in is no longer recent: deleting leads
		// through /login, where the passkey alone (verified) is enough.
		clock.Advance(10 * time.Minute)
		page = b.Post(srv.URL+"/account/passkeys/"+ids[1]+"/delete", url.Values{"csrf_token": {pkCSRF(t, page)}})
		if !strings.HasPrefix(page.URL.Path, "/login") {
			t.Fatalf("delete without a recent sign-in went to %s, want /login", page.URL)
		}
		page = pkLoginHTTP(t, srv, b, page, a)
		if page.URL.Path != "/account/passkeys" {
			t.Fatalf("after re-authentication: %d %s", page.Status, page.URL)
		}
		page = b.Post(srv.URL+"/account/passkeys/"+ids[1]+"/delete", url.Values{"csrf_token": {pkCSRF(t, page)}})
		if got := passkeyIDs(page); !slices.Equal(got, ids[:1]) {
			t.Fatalf("after delete: %v, want %v", got, ids[:1])
		}

		// Without a password the last passkey is the only way in.
		if err := srv.Store.SetPasswordHash(context.Background(), userID, ""); err != nil {
			t.Fatal(err)
		}
		page = b.Post(srv.URL+"/account/passkeys/"+ids[0]+"/delete", url.Values{"csrf_token": {pkCSRF(t, page)}})
		if got := passkeyIDs(page); !slices.Equal(got, ids[:1]) || page.Find("p", map[string]string{"role": "alert"}) == nil {
			t.Fatalf("the last way to sign in was deleted, or no error shown: %v", got)
		}

		activity := b.Get(srv.URL + "/account").Text("recent-activity")
		for _, ev := range []string{"Passkey added", "Passkey renamed", "Passkey removed"} {
			if !strings.Contains(activity, ev) {
				t.Errorf("recent activity lacks %s:\n%s", ev, activity)
			}
		}
	})
}

// pkFinish allows consent when asked (it is remembered after the first
// time) and returns the ID token's claims.
func pkFinish(t *testing.T, r *rp, b *testkit.Browser, page *testkit.Page, s authStart) idClaims {
	t.Helper()
	if strings.HasPrefix(page.URL.Path, "/consent") {
		page = b.Submit(page.FormWithButton(t, "decision", "allow"))
	}
	q := callback(t, page, r.OAuth.RedirectURL)
	if q.Get("state") != s.State {
		t.Fatalf("state = %q, want %q", q.Get("state"), s.State)
	}
	_, _, c := exchange(t, r, q.Get("code"), s)
	return c
}

// passkeyIDs lists the passkeys /account/passkeys shows.
func passkeyIDs(p *testkit.Page) []string {
	var ids []string
	var visit func(n *html.Node)
	visit = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "li" {
			if id := pkAttr(n, "data-passkey-id"); id != "" {
				ids = append(ids, id)
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			visit(c)
		}
	}
	if p.Doc != nil {
		visit(p.Doc)
	}
	return ids
}

// pkCSRF is the account CSRF token the page's forms carry.
func pkCSRF(t *testing.T, p *testkit.Page) string {
	t.Helper()
	btn := p.Find("button", map[string]string{"id": "passkey-register"})
	if btn == nil {
		t.Fatalf("not the passkeys page: %d %s", p.Status, p.URL)
	}
	return pkAttr(btn, "data-csrf")
}

// TestPasskeysOffOnIPIssuer: an issuer on an IP address is a valid
// config, but browsers refuse passkeys there; the server starts without
// them rather than offering a button that cannot work.
func TestPasskeysOffOnIPIssuer(t *testing.T) {
	srv := testkit.StartServer(t, testkit.SQLiteDSN(t), testkit.ServerOptions{Configure: func(cfg *config.Config) {
		cfg.Issuer = strings.Replace(cfg.Issuer, "localhost", "127.0.0.1", 1)
	}})
	b := testkit.NewBrowser(t)
	page := b.Get(srv.URL + "/login")
	if page.Status != http.StatusOK || page.Find("button", map[string]string{"name": "method", "value": "password"}) == nil {
		t.Fatalf("no login page on %s: %d", srv.URL, page.Status)
	}
	if page.Find("button", map[string]string{"name": "method", "value": "passkey"}) != nil {
		t.Fatalf("the passkey button is offered on an IP-address issuer")
	}
}

// TestPasskeyBrowserUsernameless is the acceptance test in a real browser:
// sign in with a password, register a passkey on /account/passkeys with
// Chromium's virtual authenticator, sign out, then sign in to a relying
// party with the passkey alone (usernameless, discoverable credential):
// first with the "Sign in with a passkey" button, then through autofill.
func TestPasskeyBrowserUsernameless(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		began := time.Now()
		ctx := newChromium(t)
		cb := newRPCallback(t)
		srv := testkit.StartServer(t, dsn, testkit.ServerOptions{Configure: browserClients(cb)})
		const email, pw = "robin@example.com", "robin's long password"
		userID := srv.AddUser(t, email, pw)
		// A synced passkey (backup eligible): amr swk, acr phr.
		authID := addVirtualAuthenticator(t, ctx, true)
		unblock := blockAutofill(t, ctx)

		browserRegister(t, ctx, srv, email, pw)
		creds := virtualCredentials(t, ctx, authID)
		if len(creds) != 1 || !creds[0].IsResidentCredential {
			t.Fatalf("the virtual authenticator holds %d credentials, want one discoverable: %+v", len(creds), creds)
		}
		deviceBound := !creds[0].BackupEligibility
		wantAMR, wantACR := append(passkeyAMR(deviceBound), "mfa"), passkeyACR(deviceBound)
		browserSignOut(t, ctx, srv)

		r := newRP(t, srv.URL, "web", webSecret, cb.URL, "openid", "email")
		s := r.start()
		browse(t, ctx, "open the relying party's sign-in", chromedp.Navigate(s.URL))
		waitFor(t, ctx, "the passkey button shows", `button[name=method][value=passkey]:not([hidden])`)
		browse(t, ctx, "sign in with a passkey", chromedp.Click(chromedp.CSS(`button[name=method][value=passkey]`)))
		c := browserFinish(t, ctx, r, cb, s)
		if c.Sub != userID || !slices.Equal(c.AMR, wantAMR) || c.ACR != wantACR {
			t.Fatalf("button: sub=%s amr=%v acr=%s, want %s %v %s", c.Sub, c.AMR, c.ACR, userID, wantAMR, wantACR)
		}

		// Autofill: the identifier field offers the passkey; the virtual
		// authenticator picks it as soon as the page asks.
		browserSignOut(t, ctx, srv)
		unblock()
		s = r.start()
		browse(t, ctx, "open the relying party's sign-in again", chromedp.Navigate(s.URL))
		c = browserFinish(t, ctx, r, cb, s)
		if c.Sub != userID || !slices.Equal(c.AMR, wantAMR) || c.ACR != wantACR {
			t.Fatalf("autofill: sub=%s amr=%v acr=%s, want %s %v %s", c.Sub, c.AMR, c.ACR, userID, wantAMR, wantACR)
		}
		// Three sign-ins, each fresh: the password, the button, autofill.
		events, err := srv.Store.RecentEvents(context.Background(), userID, 50)
		if err != nil {
			t.Fatal(err)
		}
		var logins []string
		for _, ev := range events {
			if ev.Event == "login.succeeded" {
				logins = append(logins, ev.Detail)
			}
		}
		if len(logins) != 3 {
			t.Fatalf("login.succeeded events = %q, want 3", logins)
		}
		t.Logf("browser test took %s", time.Since(began).Round(time.Millisecond))
	})
}

// TestPasskeyBrowserSecondFactor: a user with a passkey has 2FA on, so
// after the password the login asks for the passkey, with the user's
// credentials in allowCredentials.
func TestPasskeyBrowserSecondFactor(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		began := time.Now()
		ctx := newChromium(t)
		cb := newRPCallback(t)
		srv := testkit.StartServer(t, dsn, testkit.ServerOptions{Configure: browserClients(cb)})
		const email, pw = "sam@example.com", "sam's long password"
		userID := srv.AddUser(t, email, pw)
		// A device-bound passkey: amr hwk, acr phrh.
		authID := addVirtualAuthenticator(t, ctx, false)
		// This user types their password and ignores the autofill offer.
		blockAutofill(t, ctx)

		browserRegister(t, ctx, srv, email, pw)
		cred := virtualCredentials(t, ctx, authID)[0]
		deviceBound := !cred.BackupEligibility
		browserSignOut(t, ctx, srv)

		r := newRP(t, srv.URL, "web", webSecret, cb.URL, "openid", "email")
		s := r.start()
		browse(t, ctx, "sign in with the password", chromedp.Navigate(s.URL), chromePassword(email, pw))
		waitFor(t, ctx, "the second-factor step offers the passkey", `[data-passkey-only]:not([hidden]) button[name=method][value=passkey]`)

		// The passkey is not on this device (the credential is taken off
		// the authenticator): the page says so and stays usable.
		if _, err := chromedp.Call(ctx, cdpwebauthn.RemoveCredential, cdpwebauthn.RemoveCredentialParams{AuthenticatorID: authID, CredentialID: cred.CredentialID}); err != nil {
			t.Fatal(err)
		}
		button := chromedp.CSS(`[data-passkey-only] button[name=method][value=passkey]`)
		browse(t, ctx, "use a passkey that is not there", chromedp.Click(button),
			chromedp.WaitVisible(chromedp.CSS(`[data-passkey-only] [data-passkey-error]`)))
		msg, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`[data-passkey-only] [data-passkey-error]`)))
		if err != nil || !strings.Contains(msg, "cancelled or not allowed") {
			t.Fatalf("error shown = %q, %v; want the cancelled-or-not-allowed message", msg, err)
		}
		restoreVirtualCredential(t, ctx, authID, cred)
		browse(t, ctx, "use the passkey", chromedp.WaitEnabled(button), chromedp.Click(button))
		c := browserFinish(t, ctx, r, cb, s)
		want := append([]string{"pwd"}, append(passkeyAMR(deviceBound), "mfa")...)
		if c.Sub != userID || !slices.Equal(c.AMR, want) || c.ACR != passkeyACR(deviceBound) {
			t.Fatalf("sub=%s amr=%v acr=%s, want %s %v %s", c.Sub, c.AMR, c.ACR, userID, want, passkeyACR(deviceBound))
		}
		t.Logf("browser test took %s", time.Since(began).Round(time.Millisecond))
	})
}

// browserRegister signs in with a password on /account/passkeys and adds a
// passkey with the page's button.
func browserRegister(t *testing.T, ctx context.Context, srv *testkit.Server, email, pw string) {
	t.Helper()
	browse(t, ctx, "sign in to /account/passkeys", chromedp.Navigate(srv.URL+"/account/passkeys"), chromePassword(email, pw))
	waitFor(t, ctx, "the register button shows", `#passkey-register:not([hidden])`)
	browse(t, ctx, "register a passkey",
		chromedp.SendKeys(chromedp.CSS(`#passkey-name`), "Virtual authenticator"),
		chromedp.Click(chromedp.CSS(`#passkey-register`)))
	waitFor(t, ctx, "the passkey is listed", `#passkeys li[data-passkey-id]`)
	name, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#passkeys .passkey-name`)))
	if err != nil || name != "Virtual authenticator" {
		t.Fatalf("listed passkey name = %q, %v", name, err)
	}
}

// browserSignOut posts the sign-out form on /account and checks the
// session is gone.
func browserSignOut(t *testing.T, ctx context.Context, srv *testkit.Server) {
	t.Helper()
	browse(t, ctx, "sign out", chromedp.Navigate(srv.URL+"/account"),
		chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)))
	// Signing out lands on the home page; wait for it before going on,
	// or the next navigation cuts the POST short.
	deadline := time.Now().Add(10 * time.Second)
	for {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		ready, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.readyState`))
		if loc == srv.URL+"/" && ready == "complete" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sign out: still at %s", loc)
		}
		time.Sleep(50 * time.Millisecond)
	}
	browse(t, ctx, "check the session ended", chromedp.Navigate(srv.URL+"/account"))
	waitFor(t, ctx, "/account asks to sign in again", `input[name=identifier]`)
}

// browserFinish allows the consent page when it comes (it is remembered
// after the first time), and returns the claims of the ID token the
// relying party gets for the code its callback received.
func browserFinish(t *testing.T, ctx context.Context, r *rp, cb *rpCallback, s authStart) idClaims {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case q := <-cb.codes:
			if q.Get("state") != s.State || q.Get("code") == "" {
				t.Fatalf("callback got %v, want a code and state %q", q, s.State)
			}
			_, _, c := exchange(t, r, q.Get("code"), s)
			return c
		default:
		}
		state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
			if (document.querySelector('button[name=decision][value=allow]')) return "consent";
			const err = [...document.querySelectorAll('.alert.error')].find(el => !el.hidden && el.textContent.trim());
			return err ? "error: " + err.textContent.trim() : "";
		})()`))
		switch {
		case state == "consent":
			browse(t, ctx, "allow", chromedp.Click(chromedp.CSS(`button[name=decision][value=allow]`)))
		case strings.HasPrefix(state, "error: "):
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			t.Fatalf("the page at %s shows %q", loc, strings.TrimPrefix(state, "error: "))
		case time.Now().After(deadline):
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
			t.Fatalf("the browser never reached the relying party; it is at %s:\n%.1500s", loc, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

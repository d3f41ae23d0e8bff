package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"latchkey/config"
	"latchkey/internal/testkit"
	"latchkey/login/passkey/passkeytest"
	"latchkey/server"
)

// noticeServer is a server with the policy clients (mfa and phr) whose
// mail goes over real SMTP to an inbox.
func noticeServer(t *testing.T, dsn string) (*testkit.Server, *testkit.Clock, *inbox) {
	t.Helper()
	clock, in := testkit.NewClock(), newInbox(t)
	srv := testkit.StartServer(t, dsn, testkit.ServerOptions{
		Server: server.Options{Now: clock.Now},
		Configure: func(cfg *config.Config) {
			phrClients(cfg)
			cfg.Mail.SMTPURL = in.URL
		},
	})
	return srv, clock, in
}

// TestEnrollInFlowMailsNotice: a factor set up inside a sign-in (forced
// enrollment for a client's min_acr) is announced to the owner by the same
// security notice as one added on /account: turning TOTP on, and adding a
// passkey, whose in-flow mail is the /account one but for the name.
func TestEnrollInFlowMailsNotice(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		t.Run("totp", func(t *testing.T) {
			const email, pw = "tomas@example.com", "tomas's long password"
			srv, clock, in := noticeServer(t, dsn)
			srv.AddUser(t, email, pw)
			b := testkit.NewBrowser(t, shopCallback)
			vault := newRP(t, srv.URL, "vault", shopSecret, shopCallback, "openid", "email")

			page := passwordLogin(t, b, b.Get(vault.start().URL), email, pw)
			secret := page.Text("totp-secret")
			if secret == "" {
				t.Fatalf("after the password: want the in-flow TOTP set-up, got %d %s\n%.1500s", page.Status, page.URL, page.Body)
			}
			page = b.Submit(page.FormWithButton(t, "action", "confirm").Set("code", totpCode(t, secret, clock.Now())))
			if codes := listItems(page, "recovery-codes"); page.Status != http.StatusOK || len(codes) != 10 {
				t.Fatalf("in-flow TOTP confirmation: %d, %d recovery codes", page.Status, len(codes))
			}
			m := in.wait(t, email, "Two-factor authentication turned on")
			if !strings.Contains(m.Text, "Two-factor authentication was turned on") || m.HTML == "" {
				t.Errorf("the in-flow TOTP notice is not the security notice:\n%s", m.Text)
			}
		})

		t.Run("passkey", func(t *testing.T) {
			const email, pw = "petra@example.com", "petra's long password"
			srv, _, in := noticeServer(t, dsn)
			srv.AddUser(t, email, pw)
			a := passkeytest.New()
			b := testkit.NewBrowser(t, shopCallback)
			keys := newRP(t, srv.URL, "keys", shopSecret, shopCallback, "openid", "email")

			s := keys.start()
			page := passwordLogin(t, b, b.Get(s.URL), email, pw)
			btn := page.Find("button", map[string]string{"id": "passkey-register", "type": "button"})
			if btn == nil {
				t.Fatalf("after the password: want the in-flow passkey registration, got %d %s\n%.1500s", page.Status, page.URL, page.Body)
			}
			csrf := pkAttr(btn, "data-csrf")
			var started struct {
				PublicKey json.RawMessage `json:"publicKey"`
			}
			pkJSON(t, b.Post(srv.URL+pkAttr(btn, "data-begin"), url.Values{"csrf_token": {csrf}}), http.StatusOK, &started)
			cred, err := a.Create(srv.URL, []byte(started.PublicKey))
			if err != nil {
				t.Fatalf("authenticator: %v", err)
			}
			var done struct{ ID string }
			pkJSON(t, b.Post(srv.URL+pkAttr(btn, "data-finish"),
				url.Values{"csrf_token": {csrf}, "name": {"Flow key"}, "credential": {string(cred)}}), http.StatusOK, &done)
			inFlow := in.wait(t, email, "A passkey was added")
			if !strings.Contains(inFlow.Text, `"Flow key"`) || inFlow.HTML == "" {
				t.Errorf("the in-flow passkey notice does not name the passkey:\n%s", inFlow.Text)
			}

			// Finish the sign-in, then add a passkey on /account: the same
			// letter, but for the name.
			page = pkLoginHTTP(t, srv, b, b.Get(srv.URL+pkAttr(btn, "data-continue")), a)
			finishAuthorization(t, keys, b, page, s)
			pkRegisterHTTP(t, srv, b, passkeytest.New(), "Desk key")
			onAccount := in.wait(t, email, "A passkey was added")
			if inFlow.Subject != onAccount.Subject ||
				strings.ReplaceAll(inFlow.Text, "Flow key", "Desk key") != onAccount.Text {
				t.Errorf("the in-flow notice differs from the /account one:\n--- in flow: %s\n%s\n--- /account: %s\n%s",
					inFlow.Subject, inFlow.Text, onAccount.Subject, onAccount.Text)
			}
			in.none(t, email, "A passkey was added")
		})
	})
}

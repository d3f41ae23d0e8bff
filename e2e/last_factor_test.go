package e2e

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"latchkey/internal/testkit"
	"latchkey/login/passkey/passkeytest"
)

// TestLastSecondFactor: a user whose only second factor is one passkey
// cannot delete it by the ordinary Delete button (2FA would silently turn
// off); only the explicit "turn two-factor authentication off" answer does,
// and the sign-in is then one factor again.
func TestLastSecondFactor(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		srv := testkit.StartServer(t, dsn, testkit.ServerOptions{Configure: standardClients})
		const email, pw = "lee@example.com", "lee's long password"
		srv.AddUser(t, email, pw)
		a := passkeytest.New()
		b := testkit.NewBrowser(t, shopCallback)
		passwordLogin(t, b, b.Get(srv.URL+"/account/passkeys"), email, pw)
		pkRegisterHTTP(t, srv, b, a, "Only key")

		page := b.Get(srv.URL + "/account/passkeys")
		ids := passkeyIDs(page)
		if len(ids) != 1 {
			t.Fatalf("passkeys: %v", ids)
		}
		// 2FA is on: deleting needs a recent second factor first.
		page = b.Post(srv.URL+"/account/passkeys/"+ids[0]+"/delete", url.Values{"csrf_token": {pkCSRF(t, page)}})
		if strings.HasPrefix(page.URL.Path, "/login") {
			page = pkLoginHTTP(t, srv, b, page, a)
		}
		page = b.Post(srv.URL+"/account/passkeys/"+ids[0]+"/delete", url.Values{"csrf_token": {pkCSRF(t, page)}})
		if got := passkeyIDs(page); !slices.Equal(got, ids) || page.Find("form", map[string]string{"id": "confirm-2fa-off"}) == nil ||
			!strings.Contains(page.Body, "only second factor") {
			t.Fatalf("the only second factor was deleted without the explicit answer, or no confirmation offered: %v\n%.1500s", got, page.Body)
		}
		// The explicit answer turns 2FA off with it.
		page = b.Submit(page.FormWithButton(t, "confirm", "turn-off-2fa"))
		if got := passkeyIDs(page); len(got) != 0 || page.Status != http.StatusOK {
			t.Fatalf("after confirming: %d %v", page.Status, got)
		}
		if act := b.Get(srv.URL + "/account").Text("recent-activity"); !strings.Contains(act, "Two-factor authentication turned off") {
			t.Errorf("activity lacks turning 2FA off:\n%s", act)
		}
		// A password alone signs in again.
		shop := newRP(t, srv.URL, "shop", shopSecret, shopCallback, "openid")
		fresh := testkit.NewBrowser(t, shopCallback)
		_, _, c := signIn(t, shop, fresh, email, pw, oauth2.SetAuthURLParam("prompt", "login"))
		if c.ACR != "1fa" {
			t.Errorf("after turning 2FA off: acr %q", c.ACR)
		}
	})
}

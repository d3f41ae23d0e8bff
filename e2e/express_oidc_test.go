package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"

	"latchkey/internal/testkit"
)

// TestExpressOpenIDConnect drives express-openid-connect 3.4.0 (npm) against
// the built binary: sign-in with the claims from the user record, a
// refresh, and RP-initiated logout back to its base URL, which it sends
// without the trailing slash admins register.
func TestExpressOpenIDConnect(t *testing.T) {
	node := needTool(t, "node", "apt-get install nodejs")
	if _, err := os.Stat("node/node_modules/express-openid-connect/package.json"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("express-openid-connect missing: CI must run `npm ci --prefix e2e/node`")
		}
		t.Skip("needs `npm ci --prefix e2e/node`; skipping")
	}
	eachBackend(t, func(t *testing.T, dsn string) {
		const clientSecret = "express-secret-express-secret-express-1"
		port := testkit.FreePort(t)
		base := fmt.Sprintf("http://127.0.0.1:%d", port)
		clients := fmt.Sprintf(`  - id: express
    name: Express app
    secret: "${EXPRESS_CLIENT_SECRET}"
    redirect_uris: [ "%[1]s/callback" ]
    post_logout_redirect_uris: [ "%[1]s/" ]
    scopes: [ openid, email, profile, offline_access ]
    grant_types: [ authorization_code, refresh_token ]
    skip_consent: true`, base)
		lk := startLatchkey(t, dsn, clients, "", "EXPRESS_CLIENT_SECRET="+clientSecret)
		lk.addUser(t, "edda@example.com", "edda's good password", "--verified", "--name", "Edda Express")

		startProcess(t, node, append(os.Environ(), "ISSUER="+lk.Issuer, "BASE_URL="+base, "CLIENT_ID=express",
			"CLIENT_SECRET="+clientSecret, "SESSION_SECRET=session-secret-session-secret-session-1", fmt.Sprintf("PORT=%d", port)),
			"node", "express-rp.mjs")
		waitHTTP(t, base+"/", "express-openid-connect", &testkit.Buffer{})

		b := testkit.NewBrowser(t)
		p := b.Get(base + "/profile")
		if !strings.HasPrefix(p.URL.Path, "/login") {
			t.Fatalf("no Latchkey login: %d at %s\n%.800s", p.Status, p.URL, p.Body)
		}
		p = passwordLogin(t, b, p, "edda@example.com", "edda's good password")
		var user map[string]any
		if p.Status != http.StatusOK || json.Unmarshal([]byte(p.Body), &user) != nil {
			t.Fatalf("sign-in through express-openid-connect: %d at %s\n%.1500s", p.Status, p.URL, p.Body)
		}
		if user["email"] != "edda@example.com" || user["email_verified"] != true || user["name"] != "Edda Express" {
			t.Errorf("claims via express-openid-connect: %v", user)
		}

		p = b.Get(base + "/refresh")
		var refreshed struct {
			Rotated  bool           `json:"rotated"`
			Userinfo map[string]any `json:"userinfo"`
		}
		if p.Status != http.StatusOK || json.Unmarshal([]byte(p.Body), &refreshed) != nil || !refreshed.Rotated ||
			refreshed.Userinfo["email"] != "edda@example.com" {
			t.Fatalf("refresh via express-openid-connect: %d %s", p.Status, p.Body)
		}

		// Logout: the middleware sends post_logout_redirect_uri=BASE_URL
		// (no slash); Latchkey accepts it as the registered BASE_URL/.
		p = b.Get(base + "/logout")
		if p.Status != http.StatusOK || p.Body != "signed out" {
			t.Fatalf("logout did not return to the app signed out: %d at %s\n%.800s", p.Status, p.URL, p.Body)
		}
		if p := b.Get(base + "/profile"); !strings.HasPrefix(p.URL.Path, "/login") {
			t.Fatalf("after logout the Latchkey session survived: %d at %s", p.Status, p.URL)
		}
	})
}

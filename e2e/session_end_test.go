package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v3"
	"golang.org/x/oauth2"

	"latchkey/internal/testkit"
	"latchkey/login"
	"latchkey/store"
)

// logoutClaims are what the tests read from a back-channel logout token.
type logoutClaims struct {
	Sub    string         `json:"sub"`
	SID    string         `json:"sid"`
	Events map[string]any `json:"events"`
}

// expectLogout checks that exactly one logout token arrived since seen
// tokens had, that it verifies for the shop client, and that it names the
// session sid of user sub. It returns the new count.
func expectLogout(t *testing.T, bc *backchannel, shop *rp, seen int, sub, sid string) int {
	t.Helper()
	got := bc.received()
	if len(got) != seen+1 {
		t.Fatalf("back-channel logout tokens: %d new, want 1", len(got)-seen)
	}
	lt, err := shop.Provider.Verifier(&oidc.Config{ClientID: "shop"}).Verify(context.Background(), got[seen])
	if err != nil {
		t.Fatalf("logout token does not verify: %v", err)
	}
	var c logoutClaims
	if err := lt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	if c.Sub != sub || c.SID != sid {
		t.Errorf("logout token names sub %q sid %q, want %q %q", c.Sub, c.SID, sub, sid)
	}
	if _, ok := c.Events["http://schemas.openid.net/event/backchannel-logout"]; !ok {
		t.Errorf("logout token events: %v", c.Events)
	}
	return len(got)
}

// expectSignedOut checks that the browser's session is gone: prompt=none
// gets login_required.
func expectSignedOut(t *testing.T, shop *rp, b *testkit.Browser) {
	t.Helper()
	s := shop.start(oauth2.SetAuthURLParam("prompt", "none"))
	if q := callback(t, b.Get(s.URL), shopCallback); q.Get("error") != "login_required" {
		t.Errorf("the session survived: prompt=none got %v", q)
	}
}

var cliBuild struct {
	once sync.Once
	path string
	err  error
	out  []byte
}

// latchkeyBinary builds the command once for the test run.
func latchkeyBinary(t *testing.T) string {
	t.Helper()
	cliBuild.once.Do(func() {
		dir, err := os.MkdirTemp("", "latchkey-e2e-bin")
		if err != nil {
			cliBuild.err = err
			return
		}
		cliBuild.path = filepath.Join(dir, "latchkey")
		cliBuild.out, cliBuild.err = exec.Command("go", "build", "-o", cliBuild.path, "latchkey/cmd/latchkey").CombinedOutput()
	})
	if cliBuild.err != nil {
		t.Fatalf("build: %v\n%s", cliBuild.err, cliBuild.out)
	}
	return cliBuild.path
}

// adminCLI runs the built latchkey binary against the test server's
// database and clients, as an admin on the same host would.
func adminCLI(t *testing.T, srv *testkit.Server, bc *backchannel, args ...string) string {
	t.Helper()
	cfgPath := filepath.Join(t.TempDir(), "latchkey.yaml")
	cfg := fmt.Sprintf(`issuer: %s
listen: %s
database:
  dsn: "%s"
secrets:
  keys: [ "%s" ]
clients:
  - id: shop
    name: Shop
    secret: "%s"
    redirect_uris: [ "%s" ]
    scopes: [ openid, profile, email, offline_access ]
    grant_types: [ authorization_code, refresh_token ]
    backchannel_logout_uri: %s/backchannel
`, srv.URL, srv.Config.Listen, srv.Config.Database.DSN, testkit.TestSecret, shopSecret, shopCallback, bc.srv.URL)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(latchkeyBinary(t), append(args, "--config", cfgPath)...)
	cmd.Env = append(os.Environ(), "LATCHKEY_CONFIG=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("latchkey %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// TestSessionEndNotifies: every way a session ends goes through
// login.Sessions.End, so the relying party that received tokens in it gets
// a back-channel logout token naming it, and the session is dead.
func TestSessionEndNotifies(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		clock := testkit.NewClock()
		bc := newBackchannel(t)
		srv := suiteServer(t, dsn, clock, bc)
		dana := srv.AddUser(t, "dana@example.com", "dana's good password")
		erin := srv.AddUser(t, "erin@example.com", "erin's good password")
		shop := newRP(t, srv.URL, "shop", shopSecret, shopCallback, "openid", "email")
		seen := 0

		t.Run("sign-out on the browser", func(t *testing.T) {
			b := testkit.NewBrowser(t, shopCallback)
			_, _, c := signIn(t, shop, b, "dana@example.com", "dana's good password")
			p := b.Get(srv.URL + "/logout")
			b.Submit(p.FormWithButton(t, "decision", "logout"))
			seen = expectLogout(t, bc, shop, seen, dana, c.SID)
			expectSignedOut(t, shop, b)
		})

		t.Run("another user signs in on the browser", func(t *testing.T) {
			b := testkit.NewBrowser(t, shopCallback)
			_, _, c := signIn(t, shop, b, "dana@example.com", "dana's good password")
			_, _, c2 := signIn(t, shop, b, "erin@example.com", "erin's good password", oauth2.SetAuthURLParam("prompt", "login"))
			if c2.Sub != erin || c2.SID == c.SID {
				t.Fatalf("second sign-in: %+v", c2)
			}
			seen = expectLogout(t, bc, shop, seen, dana, c.SID)
			if s, err := srv.Store.GetSession(ctx, c.SID); err == nil {
				t.Errorf("dana's session still live: %+v", s)
			}
			// Erin's own sign-out later notifies only for erin's session.
			p := b.Get(srv.URL + "/logout")
			b.Submit(p.FormWithButton(t, "decision", "logout"))
			seen = expectLogout(t, bc, shop, seen, erin, c2.SID)
		})

		t.Run("end_session from the relying party's server", func(t *testing.T) {
			b := testkit.NewBrowser(t, shopCallback)
			tok, _, c := signIn(t, shop, b, "dana@example.com", "dana's good password")
			raw, _ := tok.Extra("id_token").(string)
			// The server has no cookie of the browser: only the hint.
			server := testkit.NewBrowser(t, "https://shop.example/")
			p := server.Get(srv.URL + "/oauth2/logout?" + url.Values{"id_token_hint": {raw},
				"post_logout_redirect_uri": {"https://shop.example/bye"}, "state": {"s1"}}.Encode())
			if p.Location != "https://shop.example/bye?state=s1" {
				t.Fatalf("end_session: %d %q\n%.300s", p.Status, p.Location, p.Body)
			}
			seen = expectLogout(t, bc, shop, seen, dana, c.SID)
			expectSignedOut(t, shop, b)
			// Again: nothing more to end, nobody told twice.
			server.Get(srv.URL + "/oauth2/logout?" + url.Values{"id_token_hint": {raw}}.Encode())
			if n := len(bc.received()); n != seen {
				t.Errorf("a second end_session sent %d more tokens", n-seen)
			}
		})

		t.Run("end_session with a hint without sid ends the user's sessions at that client", func(t *testing.T) {
			b1 := testkit.NewBrowser(t, shopCallback)
			_, _, c1 := signIn(t, shop, b1, "dana@example.com", "dana's good password")
			b2 := testkit.NewBrowser(t, shopCallback)
			_, _, c2 := signIn(t, shop, b2, "dana@example.com", "dana's good password")
			// A third session that never signed in to the shop stays.
			b3 := testkit.NewBrowser(t, shopCallback)
			p := passwordLogin(t, b3, b3.Get(srv.URL+"/account"), "dana@example.com", "dana's good password")
			if p.URL.Path != "/account" {
				t.Fatalf("sign-in to /account: %s", p.URL)
			}
			// Erin's session at the shop is not dana's to end.
			eb := testkit.NewBrowser(t, shopCallback)
			_, _, ec := signIn(t, shop, eb, "erin@example.com", "erin's good password")
			hint := signedHint(t, srv, map[string]any{"iss": srv.URL, "sub": dana, "aud": "shop",
				"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()})
			server := testkit.NewBrowser(t, "https://shop.example/")
			if p := server.Get(srv.URL + "/oauth2/logout?" + url.Values{"id_token_hint": {hint}}.Encode()); p.Status != http.StatusOK {
				t.Fatalf("end_session: %d\n%.300s", p.Status, p.Body)
			}
			got := bc.received()[seen:]
			sids := map[string]bool{}
			for _, raw := range got {
				lt, err := shop.Provider.Verifier(&oidc.Config{ClientID: "shop"}).Verify(ctx, raw)
				if err != nil {
					t.Fatal(err)
				}
				var lc logoutClaims
				lt.Claims(&lc)
				sids[lc.SID] = lc.Sub == dana
			}
			if len(got) != 2 || !sids[c1.SID] || !sids[c2.SID] {
				t.Errorf("logout tokens for %v, want dana's shop sessions %s and %s", sids, c1.SID, c2.SID)
			}
			seen = len(bc.received())
			expectSignedOut(t, shop, b1)
			expectSignedOut(t, shop, b2)
			if p := b3.Get(srv.URL + "/account"); p.URL.Path != "/account" {
				t.Errorf("the session that never signed in to the shop ended: %s", p.URL)
			}
			if s, err := srv.Store.GetSession(ctx, ec.SID); err != nil || s == nil {
				t.Errorf("erin's session ended: %v", err)
			}
		})

		t.Run("end_session hint of another user leaves the browser's session", func(t *testing.T) {
			eb := testkit.NewBrowser(t, shopCallback)
			etok, _, _ := signIn(t, shop, eb, "erin@example.com", "erin's good password")
			b := testkit.NewBrowser(t, shopCallback)
			_, _, c := signIn(t, shop, b, "dana@example.com", "dana's good password")
			raw, _ := etok.Extra("id_token").(string)
			// Dana's browser carries erin's hint: it is asked to confirm,
			// nothing ends yet.
			p := b.Get(srv.URL + "/oauth2/logout?" + url.Values{"id_token_hint": {raw}}.Encode())
			if p.Status != 200 || p.Find("button", map[string]string{"name": "decision", "value": "logout"}) == nil {
				t.Fatalf("foreign hint with a session: %d\n%.300s", p.Status, p.Body)
			}
			if n := len(bc.received()); n != seen {
				t.Fatalf("a foreign hint ended %d sessions", n-seen)
			}
			if s, err := srv.Store.GetSession(ctx, c.SID); err != nil || s == nil {
				t.Errorf("dana's session ended by erin's hint: %v", err)
			}
			p = b.Get(srv.URL + "/logout")
			b.Submit(p.FormWithButton(t, "decision", "logout"))
			seen = expectLogout(t, bc, shop, seen, dana, c.SID)
			p = eb.Get(srv.URL + "/logout")
			eb.Submit(p.FormWithButton(t, "decision", "logout"))
			seen = len(bc.received())
		})

		t.Run("user disable", func(t *testing.T) {
			frank := srv.AddUser(t, "frank@example.com", "frank's good password")
			b := testkit.NewBrowser(t, shopCallback)
			_, _, c := signIn(t, shop, b, "frank@example.com", "frank's good password")
			out := adminCLI(t, srv, bc, "user", "disable", "frank@example.com")
			if !strings.Contains(out, "1 sessions ended") {
				t.Errorf("disable output: %s", out)
			}
			seen = expectLogout(t, bc, shop, seen, frank, c.SID)
			expectSignedOut(t, shop, b)
			expectEnded(t, srv.Store, frank, "reason=user_disabled")
		})

		t.Run("user reset-factors", func(t *testing.T) {
			gail := srv.AddUser(t, "gail@example.com", "gail's good password")
			b1 := testkit.NewBrowser(t, shopCallback)
			_, _, c1 := signIn(t, shop, b1, "gail@example.com", "gail's good password")
			b2 := testkit.NewBrowser(t, shopCallback)
			_, _, c2 := signIn(t, shop, b2, "gail@example.com", "gail's good password")
			out := adminCLI(t, srv, bc, "user", "reset-factors", "gail@example.com")
			if !strings.Contains(out, "2 sessions ended") {
				t.Errorf("reset-factors output: %s", out)
			}
			got := bc.received()[seen:]
			if len(got) != 2 {
				t.Fatalf("reset-factors sent %d logout tokens, want 2", len(got))
			}
			sids := map[string]bool{}
			for i := range got {
				lt, err := shop.Provider.Verifier(&oidc.Config{ClientID: "shop"}).Verify(ctx, got[i])
				if err != nil {
					t.Fatal(err)
				}
				var lc logoutClaims
				lt.Claims(&lc)
				if lc.Sub != gail {
					t.Errorf("token for %s", lc.Sub)
				}
				sids[lc.SID] = true
			}
			if !sids[c1.SID] || !sids[c2.SID] {
				t.Errorf("reset-factors tokens name %v, want %s and %s", sids, c1.SID, c2.SID)
			}
			seen += 2
			expectSignedOut(t, shop, b1)
			expectSignedOut(t, shop, b2)
			expectEnded(t, srv.Store, gail, "reason=factors_reset")
		})
	})
}

// expectEnded checks the audit trail has a session.ended event with detail.
func expectEnded(t *testing.T, st *store.Store, userID, detail string) {
	t.Helper()
	evs, err := st.RecentEvents(context.Background(), userID, 20)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.Event == login.EventSessionEnded && e.Detail == detail {
			return
		}
	}
	t.Errorf("no %s %q event in %+v", login.EventSessionEnded, detail, evs)
}

// signedHint signs claims with the server's active key, as an ID token
// the relying party holds.
func signedHint(t *testing.T, srv *testkit.Server, claims map[string]any) string {
	t.Helper()
	jwk, err := srv.App.Keys.Active(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(jwk.Algorithm), Key: jwk},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	obj, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"latchkey/config"
	"latchkey/internal/testkit"
	"latchkey/login"
	"latchkey/server"
)

// backchannel collects the logout tokens posted to a client.
type backchannel struct {
	mu     sync.Mutex
	tokens []string
	srv    *httptest.Server
}

func newBackchannel(t *testing.T) *backchannel {
	bc := &backchannel{}
	bc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.PostForm.Get("logout_token") == "" {
			http.Error(w, "no logout_token", http.StatusBadRequest)
			return
		}
		bc.mu.Lock()
		bc.tokens = append(bc.tokens, r.PostForm.Get("logout_token"))
		bc.mu.Unlock()
	}))
	t.Cleanup(bc.srv.Close)
	return bc
}

func (bc *backchannel) received() []string {
	bc.mu.Lock()
	defer bc.mu.Unlock()
	return slices.Clone(bc.tokens)
}

const machineSecret = "machine-secret-machine-secret-machine-1"

// suiteServer is a server with the clients the OP Basic checks need.
func suiteServer(t *testing.T, dsn string, clock *testkit.Clock, bc *backchannel) *testkit.Server {
	return testkit.StartServer(t, dsn, testkit.ServerOptions{
		Server: server.Options{Now: clock.Now},
		Configure: func(cfg *config.Config) {
			standardClients(cfg)
			cfg.Clients[0].PostLogoutRedirectURIs = []string{"https://shop.example/bye"}
			cfg.Clients[0].BackchannelLogoutURI = bc.srv.URL + "/backchannel"
			cfg.Clients = append(cfg.Clients, config.Client{ID: "machine", Name: "Machine", Secret: machineSecret,
				GrantTypes: []string{"client_credentials"}, Scopes: []string{"openid", "email"}, MinACR: "1fa"})
		},
	})
}

// signIn runs a whole authorization for user through the browser and
// returns the tokens.
func signIn(t *testing.T, r *rp, b *testkit.Browser, email, pw string, opts ...oauth2.AuthCodeOption) (*oauth2.Token, *oidc.IDToken, idClaims) {
	t.Helper()
	s := r.start(opts...)
	page := b.Get(s.URL)
	if strings.HasPrefix(page.URL.Path, "/login") {
		page = passwordLogin(t, b, page, email, pw)
	}
	if strings.HasPrefix(page.URL.Path, "/consent") {
		page = b.Submit(page.FormWithButton(t, "decision", "allow"))
	}
	q := callback(t, page, r.OAuth.RedirectURL)
	if q.Get("state") != s.State {
		t.Fatalf("state = %q, want %q", q.Get("state"), s.State)
	}
	return exchange(t, r, q.Get("code"), s)
}

func exchange(t *testing.T, r *rp, code string, s authStart) (*oauth2.Token, *oidc.IDToken, idClaims) {
	t.Helper()
	tok, err := r.OAuth.Exchange(context.Background(), code, oauth2.VerifierOption(s.PKCE))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := r.Verifier.Verify(context.Background(), raw)
	if err != nil {
		t.Fatalf("verify ID token: %v", err)
	}
	if idt.Nonce != s.Nonce {
		t.Fatalf("nonce %q, want %q", idt.Nonce, s.Nonce)
	}
	var c idClaims
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	return tok, idt, c
}

func jwtHeader(t *testing.T, raw string) map[string]any {
	t.Helper()
	part, _, _ := strings.Cut(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

func postForm(t *testing.T, endpoint string, form url.Values, user, pass string) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	return resp.StatusCode, m, resp.Header
}

// TestOPBasic walks the OpenID Foundation's OP Basic checks one by one,
// with go-oidc and x/oauth2 as the relying party.
func TestOPBasic(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		clock := testkit.NewClock()
		bc := newBackchannel(t)
		srv := suiteServer(t, dsn, clock, bc)
		userID := srv.AddVerifiedUser(t, "dana@example.com", "Dana Scully", "dana's good password")
		other := srv.AddUser(t, "erin@example.com", "erin's good password")
		_ = other
		shop := newRP(t, srv.URL, "shop", shopSecret, shopCallback, "openid", "email", "profile", "offline_access")

		t.Run("discovery", func(t *testing.T) {
			var d map[string]any
			if err := shop.Provider.Claims(&d); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri",
				"end_session_endpoint", "revocation_endpoint", "introspection_endpoint"} {
				if s, _ := d[k].(string); !strings.HasPrefix(s, srv.URL+"/") {
					t.Errorf("%s = %v", k, d[k])
				}
			}
			has := func(k, v string) bool {
				arr, _ := d[k].([]any)
				return slices.Contains(arr, any(v))
			}
			for _, c := range []string{"amr", "acr", "auth_time", "at_hash", "sid", "email", "email_verified"} {
				if !has("claims_supported", c) {
					t.Errorf("claims_supported lacks %s", c)
				}
			}
			for _, a := range login.ACRValuesSupported() {
				if !has("acr_values_supported", a) {
					t.Errorf("acr_values_supported lacks %s", a)
				}
			}
			if !has("id_token_signing_alg_values_supported", "RS256") || !has("code_challenge_methods_supported", "S256") ||
				has("code_challenge_methods_supported", "plain") || !has("response_types_supported", "code") {
				t.Errorf("discovery algorithms: %v", d)
			}
			if d["backchannel_logout_supported"] != true || d["backchannel_logout_session_supported"] != true {
				t.Errorf("back-channel logout not advertised")
			}
		})

		b := testkit.NewBrowser(t, shopCallback, "https://shop.example/bye")
		tok, idt, c := signIn(t, shop, b, "dana@example.com", "dana's good password")
		raw, _ := tok.Extra("id_token").(string)

		t.Run("id token alg and kid", func(t *testing.T) {
			h := jwtHeader(t, raw)
			if h["alg"] != "RS256" {
				t.Errorf("alg = %v", h["alg"])
			}
			kid, _ := h["kid"].(string)
			set := b.Get(srv.URL + "/oauth2/jwks")
			if kid == "" || !strings.Contains(set.Body, `"kid":"`+kid+`"`) {
				t.Errorf("kid %q not in JWKS %s", kid, set.Body)
			}
		})
		t.Run("claims of a password sign-in", func(t *testing.T) {
			if c.Sub != userID || !slices.Equal(c.AMR, []string{"pwd"}) || c.ACR != "1fa" || c.AuthTime == 0 || c.AtHash == "" || c.SID == "" {
				t.Errorf("claims: %+v", c)
			}
			if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
				t.Errorf("at_hash: %v", err)
			}
			if idt.IssuedAt.IsZero() || idt.Expiry.Before(idt.IssuedAt) {
				t.Errorf("iat/exp: %v %v", idt.IssuedAt, idt.Expiry)
			}
		})
		t.Run("claims per scope", func(t *testing.T) {
			only := newRP(t, srv.URL, "shop", shopSecret, shopCallback, "openid")
			tk, _, cc := signIn(t, only, b, "", "")
			if cc.Email != "" {
				t.Errorf("email in ID token without the email scope")
			}
			ui, err := only.Provider.UserInfo(ctx, oauth2.StaticTokenSource(tk))
			if err != nil {
				t.Fatal(err)
			}
			if ui.Email != "" || ui.Subject != userID {
				t.Errorf("userinfo without email scope: %+v", ui)
			}
			ui, err = shop.Provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
			if err != nil || ui.Email != "dana@example.com" || !ui.EmailVerified {
				t.Errorf("userinfo with email scope: %+v %v", ui, err)
			}
		})
		t.Run("userinfo refuses bad tokens", func(t *testing.T) {
			for name, hdr := range map[string]string{"invalid": "Bearer not-a-token", "missing": ""} {
				req, _ := http.NewRequest(http.MethodGet, srv.URL+"/oauth2/userinfo", nil)
				if hdr != "" {
					req.Header.Set("Authorization", hdr)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("%s token: %d %q", name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
				}
			}
		})
		t.Run("sso and prompt=none", func(t *testing.T) {
			s := shop.start(oauth2.SetAuthURLParam("prompt", "none"))
			q := callback(t, b.Get(s.URL), shopCallback)
			if q.Get("code") == "" || q.Get("state") != s.State {
				t.Fatalf("prompt=none with a session: %v", q)
			}
			_, _, c2 := exchange(t, shop, q.Get("code"), s)
			if c2.AuthTime != c.AuthTime || !slices.Equal(c2.AMR, c.AMR) {
				t.Errorf("silent sign-in changed auth_time/amr: %+v vs %+v", c2, c)
			}
		})
		t.Run("prompt=none needing consent", func(t *testing.T) {
			spa := newRP(t, srv.URL, "spa", "", spaCallback, "openid", "email")
			bs := testkit.NewBrowser(t, spaCallback)
			bs.Client.Jar = b.Client.Jar
			s := spa.start(oauth2.SetAuthURLParam("prompt", "none"))
			q := callback(t, bs.Get(s.URL), spaCallback)
			if q.Get("error") != "consent_required" {
				t.Errorf("got %v, want consent_required", q)
			}
		})
		t.Run("prompt=consent asks again", func(t *testing.T) {
			s := shop.start(oauth2.SetAuthURLParam("prompt", "consent"))
			p := b.Get(s.URL)
			if !strings.HasPrefix(p.URL.Path, "/consent") {
				t.Fatalf("prompt=consent did not show consent: %s", p.URL)
			}
			q := callback(t, b.Submit(p.FormWithButton(t, "decision", "allow")), shopCallback)
			exchange(t, shop, q.Get("code"), s)
		})
		t.Run("consent denied", func(t *testing.T) {
			s := shop.start(oauth2.SetAuthURLParam("prompt", "consent"))
			p := b.Get(s.URL)
			q := callback(t, b.Submit(p.FormWithButton(t, "decision", "deny")), shopCallback)
			if q.Get("error") != "access_denied" || q.Get("state") != s.State {
				t.Errorf("deny: %v", q)
			}
		})
		t.Run("prompt=login re-authenticates", func(t *testing.T) {
			clock.Advance(10 * time.Second)
			s := shop.start(oauth2.SetAuthURLParam("prompt", "login"))
			p := b.Get(s.URL)
			if !strings.HasPrefix(p.URL.Path, "/login") {
				t.Fatalf("prompt=login did not show the login page: %s", p.URL)
			}
			p = passwordLogin(t, b, p, "dana@example.com", "dana's good password")
			_, _, c3 := exchange(t, shop, callback(t, p, shopCallback).Get("code"), s)
			if c3.AuthTime <= c.AuthTime {
				t.Errorf("auth_time %d not after the earlier %d", c3.AuthTime, c.AuthTime)
			}
		})
		t.Run("max_age", func(t *testing.T) {
			clock.Advance(2 * time.Minute)
			s := shop.start(oauth2.SetAuthURLParam("max_age", "60"))
			p := b.Get(s.URL)
			if !strings.HasPrefix(p.URL.Path, "/login") {
				t.Fatalf("max_age exceeded but no login page: %s", p.URL)
			}
			p = passwordLogin(t, b, p, "dana@example.com", "dana's good password")
			_, _, c4 := exchange(t, shop, callback(t, p, shopCallback).Get("code"), s)
			if c4.AuthTime == 0 || time.Unix(c4.AuthTime, 0).Before(clock.Now().Add(-time.Minute)) {
				t.Errorf("auth_time %d not fresh", c4.AuthTime)
			}
			// Within max_age the session answers silently, auth_time kept.
			s2 := shop.start(oauth2.SetAuthURLParam("max_age", "3600"))
			_, _, c5 := exchange(t, shop, callback(t, b.Get(s2.URL), shopCallback).Get("code"), s2)
			if c5.AuthTime != c4.AuthTime {
				t.Errorf("auth_time changed within max_age: %d vs %d", c5.AuthTime, c4.AuthTime)
			}
		})
		t.Run("login_hint prefills", func(t *testing.T) {
			fresh := testkit.NewBrowser(t, shopCallback)
			p := fresh.Get(shop.start(oauth2.SetAuthURLParam("login_hint", "hint@example.com")).URL)
			if p.Find("input", map[string]string{"name": "identifier", "value": "hint@example.com"}) == nil {
				t.Errorf("login_hint not prefilled")
			}
		})
		t.Run("id_token_hint of another user", func(t *testing.T) {
			eb := testkit.NewBrowser(t, shopCallback)
			etok, _, _ := signIn(t, shop, eb, "erin@example.com", "erin's good password")
			erinRaw, _ := etok.Extra("id_token").(string)
			s := shop.start(oauth2.SetAuthURLParam("prompt", "none"), oauth2.SetAuthURLParam("id_token_hint", erinRaw))
			q := callback(t, b.Get(s.URL), shopCallback)
			if q.Get("error") != "login_required" {
				t.Errorf("hint for another user with prompt=none: %v", q)
			}
			s = shop.start(oauth2.SetAuthURLParam("id_token_hint", "garbage.token.here"))
			q = callback(t, b.Get(s.URL), shopCallback)
			if q.Get("error") != "invalid_request" {
				t.Errorf("garbage id_token_hint: %v", q)
			}
		})
		t.Run("acr_values", func(t *testing.T) {
			s := shop.start(oauth2.SetAuthURLParam("acr_values", "1fa"))
			_, _, ca := exchange(t, shop, callback(t, b.Get(s.URL), shopCallback).Get("code"), s)
			if ca.ACR != "1fa" {
				t.Errorf("acr = %q", ca.ACR)
			}
		})

		t.Run("refresh rotation and reuse detection", func(t *testing.T) {
			if tok.RefreshToken == "" {
				t.Fatal("no refresh token although offline_access was granted")
			}
			src := shop.OAuth.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken})
			t2, err := src.Token()
			if err != nil {
				t.Fatalf("refresh: %v", err)
			}
			if t2.RefreshToken == "" || t2.RefreshToken == tok.RefreshToken {
				t.Fatalf("refresh token not rotated")
			}
			raw2, _ := t2.Extra("id_token").(string)
			idt2, err := shop.Verifier.Verify(ctx, raw2)
			if err != nil {
				t.Fatalf("refreshed ID token: %v", err)
			}
			var c2 idClaims
			idt2.Claims(&c2)
			if !slices.Equal(c2.AMR, c.AMR) || c2.ACR != c.ACR || c2.AuthTime != c.AuthTime || c2.Sub != c.Sub {
				t.Errorf("refreshed ID token changed amr/acr/auth_time: %+v vs %+v", c2, c)
			}
			// The old refresh token comes back after the reuse grace:
			// reuse revokes the family.
			clock.Advance(srv.Config.Tokens.RefreshReuseGrace.Duration + time.Second)
			_, err = shop.OAuth.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
			if !isOAuthError(err, "invalid_grant") {
				t.Fatalf("reused refresh token: %v", err)
			}
			if _, err := shop.OAuth.TokenSource(ctx, &oauth2.Token{RefreshToken: t2.RefreshToken}).Token(); err == nil {
				t.Fatalf("the rotated refresh token survived reuse of its predecessor")
			}
			if _, err := shop.Provider.UserInfo(ctx, oauth2.StaticTokenSource(t2)); err == nil {
				t.Fatalf("the family's access token survived reuse")
			}
		})
		t.Run("no refresh token without offline_access", func(t *testing.T) {
			plain := newRP(t, srv.URL, "shop", shopSecret, shopCallback, "openid")
			tk, _, _ := signIn(t, plain, b, "", "")
			if tk.RefreshToken != "" {
				t.Errorf("refresh token without offline_access")
			}
		})
		t.Run("introspection and revocation", func(t *testing.T) {
			tk, _, _ := signIn(t, shop, b, "", "")
			introspect := srv.URL + "/oauth2/introspect"
			code, m, _ := postForm(t, introspect, url.Values{"token": {tk.AccessToken}}, "shop", shopSecret)
			if code != 200 || m["active"] != true || m["sub"] != userID || m["client_id"] != "shop" {
				t.Fatalf("introspect: %d %v", code, m)
			}
			if code, _, _ := postForm(t, introspect, url.Values{"token": {tk.AccessToken}}, "", ""); code != http.StatusUnauthorized {
				t.Errorf("unauthenticated introspection: %d", code)
			}
			if code, _, _ := postForm(t, introspect, url.Values{"token": {tk.AccessToken}}, "shop", "wrong-secret"); code != http.StatusUnauthorized {
				t.Errorf("wrong secret introspection: %d", code)
			}
			// client_secret_post works as well as basic.
			code, m, _ = postForm(t, introspect, url.Values{"token": {tk.AccessToken}, "client_id": {"shop"}, "client_secret": {shopSecret}}, "", "")
			if code != 200 || m["active"] != true {
				t.Errorf("client_secret_post introspection: %d %v", code, m)
			}
			if code, _, _ := postForm(t, srv.URL+"/oauth2/revoke", url.Values{"token": {tk.AccessToken}, "token_type_hint": {"access_token"}}, "shop", shopSecret); code != 200 {
				t.Fatalf("revoke: %d", code)
			}
			_, m, _ = postForm(t, introspect, url.Values{"token": {tk.AccessToken}}, "shop", shopSecret)
			if m["active"] != false {
				t.Errorf("revoked token still active: %v", m)
			}
			if _, err := shop.Provider.UserInfo(ctx, oauth2.StaticTokenSource(tk)); err == nil {
				t.Errorf("revoked token accepted by userinfo")
			}
			postForm(t, srv.URL+"/oauth2/revoke", url.Values{"token": {tk.RefreshToken}}, "shop", shopSecret)
			if _, err := shop.OAuth.TokenSource(ctx, &oauth2.Token{RefreshToken: tk.RefreshToken}).Token(); err == nil {
				t.Errorf("revoked refresh token still refreshes")
			}
		})
		t.Run("client credentials", func(t *testing.T) {
			cc := clientcredentials.Config{ClientID: "machine", ClientSecret: machineSecret, TokenURL: srv.URL + "/oauth2/token", Scopes: []string{"email"}}
			tk, err := cc.Token(ctx)
			if err != nil {
				t.Fatalf("client credentials: %v", err)
			}
			if tk.Extra("id_token") != nil || tk.RefreshToken != "" {
				t.Errorf("client credentials issued an ID or refresh token")
			}
			_, m, _ := postForm(t, srv.URL+"/oauth2/introspect", url.Values{"token": {tk.AccessToken}}, "machine", machineSecret)
			if m["active"] != true || m["client_id"] != "machine" {
				t.Errorf("introspect machine token: %v", m)
			}
			bad := clientcredentials.Config{ClientID: "shop", ClientSecret: shopSecret, TokenURL: srv.URL + "/oauth2/token"}
			if _, err := bad.Token(ctx); !isOAuthError(err, "unauthorized_client") {
				t.Errorf("client credentials for a client without the grant: %v", err)
			}
		})

		t.Run("rp-initiated and back-channel logout", func(t *testing.T) {
			bad := b.Get(srv.URL + "/oauth2/logout?" + url.Values{"id_token_hint": {raw}, "post_logout_redirect_uri": {"https://evil.example/"}}.Encode())
			if bad.Status != http.StatusBadRequest || bad.Location != "" {
				t.Fatalf("unregistered post_logout_redirect_uri: %d %q", bad.Status, bad.Location)
			}
			p := b.Get(srv.URL + "/oauth2/logout?" + url.Values{"id_token_hint": {raw}, "post_logout_redirect_uri": {"https://shop.example/bye"}, "state": {"st-42"}}.Encode())
			if p.Location != "https://shop.example/bye?state=st-42" {
				t.Fatalf("logout redirect: %d %q\n%.500s", p.Status, p.Location, p.Body)
			}
			s := shop.start(oauth2.SetAuthURLParam("prompt", "none"))
			if q := callback(t, b.Get(s.URL), shopCallback); q.Get("error") != "login_required" {
				t.Errorf("session survived logout: %v", q)
			}
			tokens := bc.received()
			if len(tokens) != 1 {
				t.Fatalf("back-channel logout tokens received: %d, want 1", len(tokens))
			}
			lt, err := shop.Provider.Verifier(&oidc.Config{ClientID: "shop"}).Verify(ctx, tokens[0])
			if err != nil {
				t.Fatalf("logout token does not verify: %v", err)
			}
			var lc struct {
				Sub    string         `json:"sub"`
				SID    string         `json:"sid"`
				Nonce  *string        `json:"nonce"`
				Events map[string]any `json:"events"`
			}
			lt.Claims(&lc)
			if lc.Sub != userID || lc.SID != c.SID || lc.Nonce != nil {
				t.Errorf("logout token sub/sid/nonce: %+v (want sid %s)", lc, c.SID)
			}
			if _, ok := lc.Events["http://schemas.openid.net/event/backchannel-logout"]; !ok {
				t.Errorf("logout token events: %v", lc.Events)
			}
			if h := jwtHeader(t, tokens[0]); h["typ"] != "logout+jwt" {
				t.Errorf("logout token typ = %v", h["typ"])
			}
		})
		t.Run("logout without hint asks to confirm", func(t *testing.T) {
			b2 := testkit.NewBrowser(t, shopCallback)
			signIn(t, shop, b2, "dana@example.com", "dana's good password")
			p := b2.Get(srv.URL + "/oauth2/logout")
			f := p.FormWithButton(t, "decision", "logout")
			if b2.Cookie(srv.URL, login.SessionCookie) == "" {
				t.Fatal("no session before confirming")
			}
			p = b2.Submit(f)
			if !strings.Contains(p.Body, "You are signed out") {
				t.Errorf("after confirming: %.300s", p.Body)
			}
			s := shop.start(oauth2.SetAuthURLParam("prompt", "none"))
			if q := callback(t, b2.Get(s.URL), shopCallback); q.Get("error") != "login_required" {
				t.Errorf("session survived confirmed logout: %v", q)
			}
		})
	})
}

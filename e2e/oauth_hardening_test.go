package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"latchkey/config"
	"latchkey/internal/testkit"
)

// TestIntrospectionOnlyForTheTokensClient: another confidential client
// learns nothing about a token, and a bearer token is not a caller's
// credential.
func TestIntrospectionOnlyForTheTokensClient(t *testing.T) {
	srv := testkit.StartServer(t, testkit.SQLiteDSN(t), testkit.ServerOptions{Configure: faultClients})
	srv.AddUser(t, "ivy@example.com", "ivy's long password")
	shop := newRP(t, srv.URL, "shop", shopSecret, shopCallback, "openid", "offline_access")
	tok, _, _ := signIn(t, shop, testkit.NewBrowser(t, shopCallback), "ivy@example.com", "ivy's long password")
	intro := srv.URL + "/oauth2/introspect"

	if r := call(t, intro, "shop", shopSecret, url.Values{"token": {tok.AccessToken}}); r.Status != 200 || r.Active == nil || !*r.Active {
		t.Fatalf("the token's own client: %+v, want active", r)
	}
	for _, form := range []url.Values{{"token": {tok.AccessToken}}, {"token": {tok.RefreshToken}}} {
		status, m, _ := postForm(t, intro, form, "machine", machineSecret)
		if status != 200 || m["active"] != false || len(m) != 1 {
			t.Errorf("another client: %d %v, want only active=false", status, m)
		}
	}
	// The caller presents shop's own access token as its credential.
	machine := call(t, srv.URL+"/oauth2/token", "machine", machineSecret, url.Values{"grant_type": {"client_credentials"}})
	for _, bearer := range []string{tok.AccessToken, machine.Token} {
		req, _ := http.NewRequest(http.MethodPost, intro, strings.NewReader(url.Values{"token": {tok.RefreshToken}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+bearer)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		if resp.StatusCode != http.StatusUnauthorized || m["active"] == true || m["sub"] != nil || m["client_id"] != nil {
			t.Errorf("bearer as caller: %d %s, want 401 and nothing about the token", resp.StatusCode, body)
		}
	}
}

// TestUserinfoRefusesTokenInURL and exact redirect URIs for confidential
// clients, loopback included.
func TestUserinfoAndRedirectRules(t *testing.T) {
	srv := testkit.StartServer(t, testkit.SQLiteDSN(t), testkit.ServerOptions{Configure: func(cfg *config.Config) {
		standardClients(cfg)
		cfg.Clients[0].RedirectURIs = append(cfg.Clients[0].RedirectURIs, "http://127.0.0.1:8080/cb")
	}})
	srv.AddUser(t, "uma@example.com", "uma's long password")
	shop := newRP(t, srv.URL, "shop", shopSecret, shopCallback, "openid")
	tok, _, _ := signIn(t, shop, testkit.NewBrowser(t, shopCallback), "uma@example.com", "uma's long password")

	resp, err := http.Get(srv.URL + "/oauth2/userinfo?access_token=" + url.QueryEscape(tok.AccessToken))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || strings.Contains(string(body), `"sub"`) {
		t.Errorf("userinfo with the token in the URL: %d %s, want 400", resp.StatusCode, body)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/oauth2/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Errorf("userinfo with the header: %v %v", resp, err)
	}

	for _, tc := range []struct {
		client, redirect string
		ok               bool
	}{
		{"shop", "http://127.0.0.1:8080/cb", true},
		{"shop", "http://127.0.0.1:9090/cb", false}, // confidential: the port counts
		{"spa", "http://127.0.0.1:4321/cb", true},   // public native: RFC 8252 port rule
	} {
		rp := newRP(t, srv.URL, tc.client, "", tc.redirect, "openid")
		if tc.client == "shop" {
			rp.OAuth.ClientSecret = shopSecret
		}
		st, loc := getStatus(t, rp.start().URL)
		if got := st != http.StatusBadRequest && !strings.Contains(loc, "error="); got != tc.ok {
			t.Errorf("%s with %s: status %d location %q, allowed=%v want %v", tc.client, tc.redirect, st, loc, got, tc.ok)
		}
	}
}

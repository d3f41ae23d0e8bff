package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"latchkey/config"
	"latchkey/internal/testkit"
	"latchkey/server"
)

func fuzzServer(f *testing.F) *testkit.Server {
	// Every input comes from one address, so the IP throttle would soon
	// make each wrong answer wait seconds (lockout.Guard): the throttle is
	// still counted, but its waits return at once, so fuzzing explores the
	// parsers instead of sleeping.
	noWait := func(context.Context, time.Duration) error { return nil }
	return testkit.StartServer(f, testkit.SQLiteDSN(f), testkit.ServerOptions{Server: server.Options{LockoutSleep: noWait}, Configure: func(cfg *config.Config) {
		cfg.Clients = []config.Client{{ID: "shop", Name: "Shop", Secret: "shop-secret-shop-secret-shop-secret-42",
			RedirectURIs: []string{"https://shop.example/cb", "http://127.0.0.1:8080/cb"}, Scopes: []string{"openid", "email", "offline_access"},
			GrantTypes: []string{"authorization_code", "refresh_token"}, MinACR: "1fa"}}
	}})
}

// serve runs one request through the whole handler in-process.
func serve(t *testing.T, srv *testkit.Server, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	srv.App.Handler.ServeHTTP(rec, req)
	return rec
}

// FuzzAuthorizeRequest: no query string makes the authorization endpoint
// fail with a 5xx or redirect anywhere but a registered redirect URI or
// one of Latchkey's own pages.
func FuzzAuthorizeRequest(f *testing.F) {
	srv := fuzzServer(f)
	for _, q := range []string{
		"client_id=shop&response_type=code&scope=openid&redirect_uri=https%3A%2F%2Fshop.example%2Fcb&state=abcdefgh&nonce=abcdefgh",
		"client_id=shop&response_type=code&scope=openid&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&code_challenge=x&code_challenge_method=plain",
		"client_id=shop&response_type=code&scope=openid&claims=%7B%22id_token%22%3A%7B%22acr%22%3A%7B%22values%22%3A%5B1%5D%7D%7D%7D",
		"client_id=shop&response_type=code&scope=openid&max_age=-1&prompt=none&login_hint=%00&id_token_hint=a.b.c",
		"request=eyJ&client_id=nosuch", "%zz", "",
	} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		req := httptest.NewRequest(http.MethodGet, "/oauth2/auth", nil)
		req.URL.RawQuery = q
		rec := serve(t, srv, req)
		if rec.Code >= 500 {
			t.Fatalf("?%s: %d %.300s", q, rec.Code, rec.Body)
		}
		if loc := rec.Header().Get("Location"); loc != "" && !strings.HasPrefix(loc, "/") &&
			!strings.HasPrefix(loc, "https://shop.example/cb") && !strings.HasPrefix(loc, "http://127.0.0.1:8080/cb") {
			t.Fatalf("?%s: redirected to %q", q, loc)
		}
	})
}

// FuzzLoginForm: whatever is posted to the login page, with or without a
// flow, the answer is a page or a redirect to one of Latchkey's own pages,
// never a 5xx.
func FuzzLoginForm(f *testing.F) {
	srv := fuzzServer(f)
	srv.AddUser(f, "fay@example.com", "fay's long password")
	for _, s := range []struct{ query, body string }{
		{"", "method=password&identifier=fay%40example.com&password=x&csrf_token=x"},
		{"flow=abc", "method=totp&code=123456"},
		{"return_to=%2F%2Fevil", "method=recovery_code&code=ABCD-EFGH-JKMN"},
		{"flow=", "method=passkey&credential=%7B%7D"},
		{"", "identifier=" + strings.Repeat("a", 300)},
	} {
		f.Add(s.query, s.body)
	}
	f.Fuzz(func(t *testing.T, query, body string) {
		req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(body))
		req.URL.RawQuery = query
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := serve(t, srv, req)
		if rec.Code >= 500 {
			t.Fatalf("POST /login?%s %q: %d %.300s", query, body, rec.Code, rec.Body)
		}
		if loc := rec.Header().Get("Location"); loc != "" && (!strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//")) {
			t.Fatalf("POST /login?%s %q: redirected to %q", query, body, loc)
		}
	})
}

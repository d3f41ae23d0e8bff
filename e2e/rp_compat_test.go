package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/net/html"
	"golang.org/x/oauth2"

	"latchkey/config"
	"latchkey/internal/testkit"
)

// TestRPCompatibility covers what deployed relying parties stumbled on:
// claims from the user record, discovery that says what is honoured,
// request objects refused at the client, form_post, post-logout URIs
// without the trailing slash, and errors for people as HTML.
func TestRPCompatibility(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		clock := testkit.NewClock()
		bc := newBackchannel(t)
		srv := suiteServer(t, dsn, clock, bc)
		srv.AddVerifiedUser(t, "vera@example.com", "Vera Rubin", "vera's good password")
		srv.AddUser(t, "ulf@example.com", "ulf's good password")
		shop := newRP(t, srv.URL, "shop", shopSecret, shopCallback, "openid", "email", "profile", "offline_access")

		t.Run("discovery", func(t *testing.T) {
			var d struct {
				ResponseModes []string `json:"response_modes_supported"`
				ClaimsParam   *bool    `json:"claims_parameter_supported"`
				Request       *bool    `json:"request_parameter_supported"`
			}
			if err := shop.Provider.Claims(&d); err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(d.ResponseModes, "form_post") || !slices.Contains(d.ResponseModes, "query") {
				t.Errorf("response_modes_supported = %v", d.ResponseModes)
			}
			if d.ClaimsParam == nil || *d.ClaimsParam {
				t.Errorf("claims_parameter_supported must be false (only acr is honoured from it)")
			}
			if d.Request == nil || *d.Request {
				t.Errorf("request_parameter_supported must be false")
			}
		})

		t.Run("claims from the user record", func(t *testing.T) {
			for _, tc := range []struct {
				email, pw, name string
				verified        bool
			}{
				{"vera@example.com", "vera's good password", "Vera Rubin", true},
				{"ulf@example.com", "ulf's good password", "", false},
			} {
				b := testkit.NewBrowser(t, shopCallback)
				tok, _, _ := signIn(t, shop, b, tc.email, tc.pw)
				raw, _ := tok.Extra("id_token").(string)
				claims := jwtClaims(t, raw)
				if _, ok := claims["rat"]; ok {
					t.Errorf("ID token carries the non-standard rat claim")
				}
				if claims["email_verified"] != tc.verified {
					t.Errorf("%s: ID token email_verified = %v, want %v", tc.email, claims["email_verified"], tc.verified)
				}
				if name, _ := claims["name"].(string); name != tc.name {
					t.Errorf("%s: ID token name = %q, want %q", tc.email, name, tc.name)
				}
				ui, err := shop.Provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
				if err != nil {
					t.Fatal(err)
				}
				var uc map[string]any
				if err := ui.Claims(&uc); err != nil {
					t.Fatal(err)
				}
				if uc["email_verified"] != tc.verified || (tc.name == "" && uc["name"] != nil) || (tc.name != "" && uc["name"] != tc.name) {
					t.Errorf("%s: userinfo = %v", tc.email, uc)
				}
			}
		})

		t.Run("request objects are refused at the client", func(t *testing.T) {
			b := testkit.NewBrowser(t, shopCallback)
			for param, code := range map[string]string{"request": "request_not_supported", "request_uri": "request_uri_not_supported"} {
				value := "eyJhbGciOiJub25lIn0.eyJzY29wZSI6Im9wZW5pZCJ9."
				if param == "request_uri" {
					value = "https://shop.example/request.jwt"
				}
				s := shop.start(oauth2.SetAuthURLParam(param, value))
				q := callback(t, b.Get(s.URL), shopCallback)
				if q.Get("error") != code || q.Get("state") != s.State {
					t.Errorf("%s: got %v, want error=%s with the state", param, q, code)
				}
			}
			// With an unknown client there is nowhere to redirect: a page.
			p := b.Get(srv.URL + "/oauth2/auth?client_id=nobody&response_type=code&scope=openid&redirect_uri=" +
				url.QueryEscape(shopCallback) + "&request=x.y.z&state=s")
			if p.Status != http.StatusBadRequest || !strings.HasPrefix(p.Header.Get("Content-Type"), "text/html") {
				t.Errorf("request object with an unknown client: %d %s", p.Status, p.Header.Get("Content-Type"))
			}
		})

		t.Run("errors for people are HTML", func(t *testing.T) {
			b := testkit.NewBrowser(t, shopCallback)
			for name, tc := range map[string]struct{ query, code string }{
				"unknown client":   {"client_id=nobody&response_type=code&scope=openid&redirect_uri=" + url.QueryEscape(shopCallback), "invalid_client"},
				"bad redirect_uri": {"client_id=shop&response_type=code&scope=openid&redirect_uri=" + url.QueryEscape("https://evil.example/cb"), "invalid_request"},
			} {
				p := b.Get(srv.URL + "/oauth2/auth?" + tc.query + "&state=st")
				if p.Status != http.StatusBadRequest || !strings.HasPrefix(p.Header.Get("Content-Type"), "text/html") {
					t.Errorf("%s: status %d %s, want an HTML 400:\n%.500s", name, p.Status, p.Header.Get("Content-Type"), p.Body)
					continue
				}
				if p.Location != "" || !strings.Contains(p.Body, "<code>"+tc.code+"</code>") || strings.Contains(p.Body, `{"error"`) {
					t.Errorf("%s: page lacks the error code %s in small print or shows JSON:\n%.1500s", name, tc.code, p.Body)
				}
			}
			// API endpoints keep answering JSON.
			code, m, _ := postForm(t, srv.URL+"/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {"x"}}, "shop", shopSecret)
			if code != http.StatusBadRequest || m["error"] != "invalid_grant" {
				t.Errorf("token endpoint error: %d %v", code, m)
			}
		})

		t.Run("form_post", func(t *testing.T) {
			b := testkit.NewBrowser(t, shopCallback)
			s := shop.start(oauth2.SetAuthURLParam("response_mode", "form_post"))
			p := b.Get(s.URL)
			p = passwordLogin(t, b, p, "vera@example.com", "vera's good password")
			if strings.HasPrefix(p.URL.Path, "/consent") {
				p = b.Submit(p.FormWithButton(t, "decision", "allow"))
			}
			form := p.Find("form", map[string]string{"method": "post", "action": shopCallback})
			if p.Status != http.StatusOK || form == nil || p.Find("script", map[string]string{"src": "/static/form_post.js"}) == nil {
				t.Fatalf("form_post: no auto-submitting form to the callback (status %d at %s):\n%.1500s", p.Status, p.URL, p.Body)
			}
			csp := p.Header.Get("Content-Security-Policy")
			if !strings.Contains(csp, "script-src 'self'") || !strings.HasSuffix(csp, "form-action 'self' https://shop.example") {
				t.Errorf("form_post CSP does not allow the auto-submit, or allows more than the callback's origin: %q", csp)
			}
			if cc := p.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("form_post Cache-Control = %q", cc)
			}
			fields := hiddenFields(p)
			if fields.Get("state") != s.State || fields.Get("code") == "" {
				t.Fatalf("form_post fields = %v", fields)
			}
			exchange(t, shop, fields.Get("code"), s)
		})

	})
}

// TestEmptyPathURIs: a client registered with "https://app.example/" may
// send "https://app.example" as its redirect and post-logout URIs (RFC 3986
// 6.2.3), which express-openid-connect does.
func TestEmptyPathURIs(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		const base = "https://app.example"
		srv := testkit.StartServer(t, dsn, testkit.ServerOptions{Configure: func(cfg *config.Config) {
			cfg.Clients = []config.Client{{ID: "app", Name: "App", Secret: shopSecret, RedirectURIs: []string{base + "/"},
				PostLogoutRedirectURIs: []string{base + "/"}, Scopes: []string{"openid", "email"},
				GrantTypes: []string{"authorization_code"}, MinACR: "1fa"}}
		}})
		srv.AddUser(t, "eve@example.com", "eve's good password")
		app := newRP(t, srv.URL, "app", shopSecret, base, "openid", "email")
		b := testkit.NewBrowser(t, base)
		tok, _, _ := signIn(t, app, b, "eve@example.com", "eve's good password")
		raw, _ := tok.Extra("id_token").(string)
		p := b.Get(srv.URL + "/oauth2/logout?" + url.Values{"id_token_hint": {raw}, "post_logout_redirect_uri": {base}, "state": {"bye"}}.Encode())
		if !strings.HasPrefix(p.Location, base+"?state=bye") && !strings.HasPrefix(p.Location, base+"/?state=bye") {
			t.Fatalf("logout with %s: status %d location %q:\n%.800s", base, p.Status, p.Location, p.Body)
		}
		// Looser forms stay refused.
		for _, bad := range []string{base + "/other", "https://app.example.evil", base + "?x=1"} {
			p := b.Get(srv.URL + "/oauth2/logout?" + url.Values{"id_token_hint": {raw}, "post_logout_redirect_uri": {bad}}.Encode())
			if p.Status != http.StatusBadRequest {
				t.Errorf("post_logout_redirect_uri %q accepted: %d %q", bad, p.Status, p.Location)
			}
		}
	})
}

// TestErrorPagesOnPhones: the errors the OP cannot redirect are pages that
// fit a 375 px wide phone, and form_post submits itself under the CSP, in
// Chromium.
func TestErrorPagesOnPhones(t *testing.T) {
	ctx := newChromium(t)
	posted := make(chan url.Values, 1)
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.ParseForm() == nil {
			posted <- r.PostForm
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte("<!doctype html><title>RP</title><p id=rp-done>Signed in.</p>"))
	}))
	t.Cleanup(rp.Close)
	cb := rp.URL + "/cb"
	srv := testkit.StartServer(t, testkit.SQLiteDSN(t), testkit.ServerOptions{Configure: func(cfg *config.Config) {
		cfg.Clients = []config.Client{{ID: "web", Name: "Web", Secret: webSecret, RedirectURIs: []string{cb},
			Scopes: []string{"openid", "email"}, GrantTypes: []string{"authorization_code"}, MinACR: "1fa", SkipConsent: true}}
	}})
	srv.AddUser(t, "phone@example.com", "phone's good password")
	browse(t, ctx, "phone viewport", chromedp.EmulateViewport(375, 812, chromedp.EmulateScale(2)))
	for name, query := range map[string]string{
		"unknown client":   "client_id=" + strings.Repeat("nobody", 40) + "&response_type=code&scope=openid&redirect_uri=" + url.QueryEscape(cb),
		"bad redirect_uri": "client_id=web&response_type=code&scope=openid&redirect_uri=" + url.QueryEscape("https://evil.example/"+strings.Repeat("x", 300)),
	} {
		resp, err := chromedp.RunResponse(ctx, chromedp.Navigate(srv.URL+"/oauth2/auth?"+query))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if resp.Status != http.StatusBadRequest || !strings.HasPrefix(resp.MimeType, "text/html") {
			t.Errorf("%s: status %d %s, want an HTML 400", name, resp.Status, resp.MimeType)
		}
		widths, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`[document.documentElement.scrollWidth, window.innerWidth, document.querySelectorAll('code').length]`))
		if err != nil {
			t.Fatal(err)
		}
		if widths[1] != 375 || widths[0] > widths[1] || widths[2] < 1 {
			t.Errorf("%s: scrollWidth %v, innerWidth %v, code elements %v: the page scrolls sideways at 375 px or lacks the code", name, widths[0], widths[1], widths[2])
		}
	}

	// form_post: the page posts the code to the RP by itself.
	state := "st-" + base64.RawURLEncoding.EncodeToString([]byte(time.Now().String()))
	authURL := srv.URL + "/oauth2/auth?" + url.Values{"client_id": {"web"}, "response_type": {"code"}, "scope": {"openid email"},
		"redirect_uri": {cb}, "state": {state}, "nonce": {"n-0123456789"}, "response_mode": {"form_post"}}.Encode()
	browse(t, ctx, "sign in with form_post", chromedp.Navigate(authURL), chromePassword("phone@example.com", "phone's good password"))
	// A browser that can make passkeys is offered one first; decline.
	deadline := time.Now().Add(20 * time.Second)
	for len(posted) == 0 && time.Now().Before(deadline) {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		if strings.Contains(loc, "/account/passkeys/suggest") {
			browse(t, ctx, "decline the passkey", chromedp.Click(chromedp.CSS(`button[name=decision][value=later]`)))
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	select {
	case f := <-posted:
		if f.Get("code") == "" || f.Get("state") != state {
			t.Fatalf("the RP received %v", f)
		}
	case <-time.After(20 * time.Second):
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		t.Fatalf("the form_post page did not submit itself (at %s)", loc)
	}
}

func jwtClaims(t *testing.T, raw string) map[string]any {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", raw)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// hiddenFields reads the hidden inputs of a page.
func hiddenFields(p *testkit.Page) url.Values {
	v := url.Values{}
	var visit func(n *html.Node)
	visit = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "input" {
			var name, value, typ string
			for _, a := range n.Attr {
				switch a.Key {
				case "name":
					name = a.Val
				case "value":
					value = a.Val
				case "type":
					typ = a.Val
				}
			}
			if typ == "hidden" && name != "" {
				v.Add(name, value)
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			visit(c)
		}
	}
	visit(p.Doc)
	return v
}

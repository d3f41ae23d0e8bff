package templates

import (
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

func TestFormOrigins(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want []string
	}{
		{[]string{"https://shop.example/callback", "https://shop.example/other"}, []string{"https://shop.example"}},
		{[]string{"https://shop.example:8443/cb"}, []string{"https://shop.example:8443"}},
		{[]string{"http://127.0.0.1:9999/cb", "http://[::1]/cb", "http://localhost:3000/cb"}, []string{"http://127.0.0.1:*", "http://[::1]:*", "http://localhost:*"}},
		{[]string{"com.example.app:/cb"}, []string{"com.example.app:"}},
		{[]string{"", "not a url", "https://a.example/x;y"}, []string{"https://a.example"}},
		{nil, nil},
	} {
		if got := FormOrigins(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("FormOrigins(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestFormActionHeader: a page outside an authorization flow posts to
// 'self' only; a step of a flow also to its own client's redirect origins
// and no other client's; a page's own list (form_post) is exact.
func TestFormActionHeader(t *testing.T) {
	r, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	r.SetClientRedirects(map[string][]string{
		"shop":   {"https://shop.example/cb", "https://shop.example/other"},
		"native": {"http://127.0.0.1/cb", "com.example.app:/cb"},
		"bank":   {"https://bank.example:8443/cb"},
	})
	for _, tc := range []struct {
		kind string
		page Page
		want string
	}{
		{"account page", Page{Title: "x", SignedIn: "a@example.com"}, "form-action 'self'"},
		{"error page", Page{Title: "x", Error: "e"}, "form-action 'self'"},
		{"local sign-in (no client)", Page{Title: "x", CSRF: "t"}, "form-action 'self'"},
		{"sign-in for shop", Page{Title: "x", Client: "shop"}, "form-action 'self' https://shop.example"},
		{"consent for bank", Page{Title: "x", Client: "bank"}, "form-action 'self' https://bank.example:8443"},
		{"sign-in for a native app", Page{Title: "x", Client: "native"}, "form-action 'self' http://127.0.0.1:* com.example.app:"},
		{"unknown client", Page{Title: "x", Client: "nobody"}, "form-action 'self'"},
		{"form_post", Page{Title: "x", Client: "shop", FormAction: []string{"https://rp.example"}}, "form-action 'self' https://rp.example"},
		{"explicit empty list", Page{Title: "x", Client: "shop", FormAction: []string{}}, "form-action 'self'"},
	} {
		w := httptest.NewRecorder()
		r.Render(w, 200, "error", tc.page)
		csp := w.Header().Get("Content-Security-Policy")
		var got []string
		for _, d := range strings.Split(csp, ";") {
			if d = strings.TrimSpace(d); strings.HasPrefix(d, "form-action") {
				got = append(got, d)
			}
		}
		if len(got) != 1 || got[0] != tc.want {
			t.Errorf("%s: CSP %q: form-action %q, want %q", tc.kind, csp, got, tc.want)
		}
	}
}

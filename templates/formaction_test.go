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

// TestFormActionHeader: pages may post to 'self' and the registered
// redirect origins only; a page's own list replaces the registered ones.
func TestFormActionHeader(t *testing.T) {
	r, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	r.SetFormOrigins([]string{"https://shop.example"})
	for _, tc := range []struct {
		page Page
		want string
	}{
		{Page{Title: "x"}, "form-action 'self' https://shop.example"},
		{Page{Title: "x", FormAction: []string{"https://rp.example"}}, "form-action 'self' https://rp.example"},
	} {
		w := httptest.NewRecorder()
		r.Render(w, 200, "error", tc.page)
		csp := w.Header().Get("Content-Security-Policy")
		var got string
		for _, d := range strings.Split(csp, ";") {
			if d = strings.TrimSpace(d); strings.HasPrefix(d, "form-action") {
				got = d
			}
		}
		if got != tc.want {
			t.Errorf("CSP %q: form-action %q, want %q", csp, got, tc.want)
		}
	}
}

package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"latchkey/internal/testkit"
)

// TestMagicLinkIPLimit429: once a client IP has asked for as many sign-in
// mails as the window allows, /login answers 429, as /signup and /recover
// do for their limit: the identify form again, with the error, for a known
// and an unknown address alike (byte for byte after masking), and nobody
// is mailed. (Before, the refusal lost the flow and the handler panicked:
// the client saw the connection drop.)
func TestMagicLinkIPLimit429(t *testing.T) {
	const perIP = 30 // magiclink.Proofs' default per IP and window
	eachBackend(t, func(t *testing.T, dsn string) {
		srv, in := mailServer(t, dsn, testkit.NewClock(), nil, nil)
		const known = "known@example.com"
		srv.AddUser(t, known, "a known user's password")
		ask := func(b *testkit.Browser, email string) *testkit.Page {
			page := b.Get(srv.URL + "/login")
			return b.Submit(page.FormWithButton(t, "method", "magic_link").Set("identifier", email))
		}
		// A malformed address is the form again with the error (400); it
		// does not count toward the limit.
		if p := ask(testkit.NewBrowser(t), "not an address"); p.Status != http.StatusBadRequest ||
			p.Find("p", map[string]string{"role": "alert"}) == nil {
			t.Fatalf("malformed address: %d, want 400 with the form\n%.1500s", p.Status, p.Body)
		}
		for i := range perIP {
			if p := ask(testkit.NewBrowser(t), fmt.Sprintf("nobody%d@example.com", i)); p.Status != http.StatusOK {
				t.Fatalf("request %d of %d allowed: %d\n%.1500s", i+1, perIP, p.Status, p.Body)
			}
		}
		over := map[string]*testkit.Page{}
		for _, email := range []string{known, "nobody@example.com"} {
			p := ask(testkit.NewBrowser(t), email)
			if p.Status != http.StatusTooManyRequests {
				t.Fatalf("request over the IP limit for %s: %d, want 429\n%.1500s", email, p.Status, p.Body)
			}
			if p.URL.Path != "/login" || p.Find("p", map[string]string{"role": "alert"}) == nil ||
				!strings.Contains(p.Body, "too many requests for emails") ||
				p.Find("input", map[string]string{"name": "identifier", "autocomplete": "username webauthn"}) == nil {
				t.Errorf("429 for %s: want the sign-in form again with the error\n%.2000s", email, p.Body)
			}
			over[email] = p
		}
		if a, b := answer(over[known], known), answer(over["nobody@example.com"], "nobody@example.com"); a != b {
			t.Errorf("the 429 differs for a known and an unknown address:\n--- known\n%s\n--- unknown\n%s", a, b)
		}
		in.none(t, known, "")
	})
}

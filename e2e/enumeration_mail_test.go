package e2e

import (
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"latchkey/internal/testkit"
)

// perRequest matches the values that differ on every request by design:
// flow IDs, CSRF tokens and cookie values.
var perRequest = regexp.MustCompile(`(flow=|name="csrf_token" value=")[A-Za-z0-9_-]+|(=)[A-Za-z0-9_-]{30,}`)

// answer is a response reduced to what must not depend on the account:
// status, headers (Date aside), cookies and body, with per-request tokens
// and the typed email masked.
func answer(p *testkit.Page, email string) string {
	var b strings.Builder
	b.WriteString(p.URL.Path + "\n")
	b.WriteString(http.StatusText(p.Status) + "\n")
	keys := make([]string, 0, len(p.Header))
	for k := range p.Header {
		if k != "Date" && k != "Content-Length" && k != "X-Request-Id" { // the request ID differs by design
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := strings.Join(p.Header.Values(k), " | ")
		if k == "X-Request-Id" {
			v = "MASKED" // per request by design
		}
		b.WriteString(k + ": " + v + "\n")
	}
	b.WriteString(strings.ReplaceAll(p.Body, email, "EMAIL"))
	return perRequest.ReplaceAllString(b.String(), "${1}${2}MASKED")
}

// sameForKnownAndUnknown posts the same form from two fresh browsers, one
// for a known and one for an unknown email, and compares the answers byte
// for byte after masking.
func sameForKnownAndUnknown(t *testing.T, srv *testkit.Server, path, known, unknown string, fill func(b *testkit.Browser, email string) *testkit.Page) {
	t.Helper()
	a := fill(testkit.NewBrowser(t), known)
	b := fill(testkit.NewBrowser(t), unknown)
	if a.Status != http.StatusOK {
		t.Fatalf("%s for a known email: %d\n%.1500s", path, a.Status, a.Body)
	}
	ra, rb := answer(a, known), answer(b, unknown)
	if ra != rb {
		t.Fatalf("%s answers differ for known and unknown emails:\n--- known\n%s\n--- unknown\n%s", path, ra, rb)
	}
}

// TestRecoverSameForUnknown is issue 9's acceptance 4 for /recover.
func TestRecoverSameForUnknown(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		clock := testkit.NewClock()
		srv, in := mailServer(t, dsn, clock, nil, nil)
		srv.AddUser(t, "known@example.com", "a known user's password")
		sameForKnownAndUnknown(t, srv, "/recover", "known@example.com", "nobody@example.com", func(b *testkit.Browser, email string) *testkit.Page {
			page := b.Get(srv.URL + "/recover")
			return b.Submit(page.FormWithButton(t, "", "").Set("identifier", email))
		})
		in.wait(t, "known@example.com", "Reset your")
		in.none(t, "nobody@example.com", "")
	})
}

package e2e

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"latchkey/internal/testkit"
)

// flowSizes opens dsn's database beside the server and tells how many
// flows it holds and the size of the largest.
func flowSizes(t *testing.T, dsn string) func() (count, largest int64) {
	t.Helper()
	var dial gorm.Dialector
	if path, ok := strings.CutPrefix(dsn, "sqlite://"); ok {
		dial = sqlite.Open("file:" + path + "?_busy_timeout=10000")
	} else {
		dial = postgres.Open(dsn)
	}
	db, err := gorm.Open(dial, &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if s, err := db.DB(); err == nil {
			s.Close()
		}
	})
	return func() (count, largest int64) {
		var row struct{ N, Largest int64 }
		if err := db.Raw("SELECT COUNT(*) AS n, COALESCE(MAX(LENGTH(data)), 0) AS largest FROM flows").Scan(&row).Error; err != nil {
			t.Fatal(err)
		}
		return row.N, row.Largest
	}
}

// TestUnauthenticatedRequestsStoreLittle: an authorization request or a
// /login visit with 100 KB parameters gets a clear error or a bounded flow,
// never a flow row of its own size.
func TestUnauthenticatedRequestsStoreLittle(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		srv := testkit.StartServer(t, dsn, testkit.ServerOptions{Configure: standardClients})
		flows := flowSizes(t, dsn)
		noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		get := func(path string) (int, string, string) {
			t.Helper()
			resp, err := noFollow.Get(srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return resp.StatusCode, resp.Header.Get("Location"), string(body)
		}
		auth := func(extra url.Values) string {
			q := url.Values{"client_id": {"shop"}, "response_type": {"code"}, "scope": {"openid"},
				"redirect_uri": {shopCallback}, "state": {"st-12345678"}, "nonce": {"n-12345678"}}
			for k, v := range extra {
				q[k] = v
			}
			return "/oauth2/auth?" + q.Encode()
		}
		huge := strings.Repeat("a", 100<<10)

		// A normal request stores a flow: the count below can move.
		if status, loc, _ := get(auth(url.Values{"login_hint": {"ann@example.com"}})); status != http.StatusSeeOther || !strings.HasPrefix(loc, "/login?flow=") {
			t.Fatalf("a normal request: %d %q, want a redirect to /login", status, loc)
		}
		n0, _ := flows()
		if n0 != 1 {
			t.Fatalf("after a normal request: %d flows, want 1", n0)
		}

		for _, param := range []string{"login_hint", "nonce", "claims", "extra"} {
			status, loc, _ := get(auth(url.Values{param: {huge}}))
			u, _ := url.Parse(loc)
			if status/100 != 3 || !strings.HasPrefix(loc, shopCallback) || u.Query().Get("error") != "invalid_request" ||
				u.Query().Get("state") != "st-12345678" {
				t.Errorf("100 KB %s: %d %.200q, want a redirect to the client with error=invalid_request", param, status, loc)
			}
		}
		// A huge state is not echoed back: the error is shown.
		if status, loc, body := get(auth(url.Values{"state": {huge}})); status != http.StatusBadRequest || loc != "" ||
			!strings.Contains(body, "invalid_request") || len(body) > 50<<10 {
			t.Errorf("100 KB state: %d %.200q (%d bytes), want a 400 page naming invalid_request", status, loc, len(body))
		}
		if n, _ := flows(); n != n0 {
			t.Errorf("refused requests stored %d flows", n-n0)
		}

		// /login stores a flow for a visit; a huge return_to is not kept.
		if status, loc, _ := get("/login?return_to=/account%3Fx%3D" + huge + "&login_hint=" + huge); status != http.StatusSeeOther || !strings.HasPrefix(loc, "/login?flow=") {
			t.Fatalf("GET /login: %d %.200q", status, loc)
		}
		n, largest := flows()
		if n != n0+1 || largest > 4<<10 {
			t.Errorf("after GET /login with 100 KB parameters: %d flows, largest %d bytes; want %d flows of at most 4 KiB", n, largest, n0+1)
		}
		t.Logf("largest flow: %d bytes", largest)
	})
}

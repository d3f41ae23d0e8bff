package login_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"latchkey/internal/testkit"
	"latchkey/login"
	"latchkey/store"
	"latchkey/web"
)

func TestRememberedBrowsers(t *testing.T) {
	for _, b := range testkit.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			clock := testkit.NewClock()
			st := testkit.OpenStore(t, b.DSN(t), store.Options{Now: clock.Now})
			rb := &login.RememberedBrowsers{Store: st, Kit: &web.Kit{}, TTL: 24 * time.Hour, Now: clock.Now}
			ctx := t.Context()

			// Remembering sets a random cookie; the row keeps only its hash.
			w := httptest.NewRecorder()
			r := httptest.NewRequest(http.MethodPost, "/login", nil)
			r.Header.Set("User-Agent", "Firefox on Linux")
			if err := rb.Remember(ctx, w, r, "u-alice"); err != nil {
				t.Fatal(err)
			}
			var cookie *http.Cookie
			for _, c := range w.Result().Cookies() {
				if c.Name == login.RememberCookie {
					cookie = c
				}
			}
			if cookie == nil || len(cookie.Value) < 43 || !cookie.HttpOnly || cookie.MaxAge != int((24*time.Hour)/time.Second) {
				t.Fatalf("remember cookie = %+v, want a random HttpOnly value living the ttl", cookie)
			}
			rows, err := st.ListRememberedBrowsers(ctx, "u-alice")
			if err != nil || len(rows) != 1 {
				t.Fatalf("rows = %v, %v", rows, err)
			}
			if rows[0].TokenHash == cookie.Value || rows[0].TokenHash != web.Hash(cookie.Value) {
				t.Errorf("stored token %q is not the hash of the cookie", rows[0].TokenHash)
			}

			with := func(c *http.Cookie) *http.Request {
				r := httptest.NewRequest(http.MethodGet, "/login", nil)
				if c != nil {
					r.AddCookie(c)
				}
				return r
			}
			stands := func(r *http.Request, user string) bool {
				t.Helper()
				ok, err := rb.Stands(ctx, r, user)
				if err != nil {
					t.Fatal(err)
				}
				return ok
			}
			if !stands(with(cookie), "u-alice") {
				t.Error("remembered browser does not stand in for its user")
			}
			if stands(with(cookie), "u-bob") {
				t.Error("remembered browser stands in for another user")
			}
			if stands(with(nil), "u-alice") {
				t.Error("a browser without the cookie stands in")
			}
			forged := &http.Cookie{Name: login.RememberCookie, Value: rows[0].TokenHash[:43]}
			if stands(with(forged), "u-alice") {
				t.Error("the stored hash works as a cookie")
			}

			// A second user on the same browser shares the token.
			w2 := httptest.NewRecorder()
			if err := rb.Remember(ctx, w2, with(cookie), "u-bob"); err != nil {
				t.Fatal(err)
			}
			if !stands(with(cookie), "u-bob") || !stands(with(cookie), "u-alice") {
				t.Error("remembering Bob on the browser lost one of the two")
			}

			list, err := rb.List(ctx, with(cookie), "u-alice")
			if err != nil || len(list) != 1 || !list[0].Current || list[0].UserAgent != "Firefox on Linux" {
				t.Fatalf("List = %+v, %v; want one current entry", list, err)
			}
			if list, _ := rb.List(ctx, with(nil), "u-alice"); len(list) != 1 || list[0].Current {
				t.Errorf("List from another browser = %+v, want one entry not current", list)
			}

			// Revoking one, then all.
			if ok, err := rb.Revoke(ctx, "u-bob", list[0].ID); err != nil || ok {
				t.Errorf("Bob revoking Alice's entry = %v, %v; want false", ok, err)
			}
			if ok, err := rb.Revoke(ctx, "u-alice", list[0].ID); err != nil || !ok {
				t.Errorf("Revoke = %v, %v", ok, err)
			}
			if stands(with(cookie), "u-alice") {
				t.Error("revoked browser stands in")
			}
			if n, err := rb.RevokeAll(ctx, "u-bob"); err != nil || n != 1 {
				t.Errorf("RevokeAll(bob) = %d, %v; want 1", n, err)
			}
			if stands(with(cookie), "u-bob") {
				t.Error("browser stands in after RevokeAll")
			}

			// The ttl ends it.
			if err := rb.Remember(ctx, httptest.NewRecorder(), with(cookie), "u-carol"); err != nil {
				t.Fatal(err)
			}
			clock.Advance(24*time.Hour - time.Second)
			if !stands(with(cookie), "u-carol") {
				t.Error("forgotten before the ttl")
			}
			clock.Advance(time.Second)
			if stands(with(cookie), "u-carol") {
				t.Error("still stands in once the ttl passed")
			}

			// ttl 0 turns it off: nothing is remembered.
			off := &login.RememberedBrowsers{Store: st, Kit: &web.Kit{}, TTL: 0, Now: clock.Now}
			w3 := httptest.NewRecorder()
			if err := off.Remember(ctx, w3, with(nil), "u-dave"); err != nil {
				t.Fatal(err)
			}
			if len(w3.Result().Cookies()) != 0 {
				t.Error("ttl 0 still sets a cookie")
			}
			if rows, _ := st.ListRememberedBrowsers(ctx, "u-dave"); len(rows) != 0 {
				t.Errorf("ttl 0 still stores rows: %v", rows)
			}
		})
	}
}

package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"latchkey/seal"
)

func testKit(t *testing.T, secure bool) *Kit {
	t.Helper()
	kr, err := seal.New([]string{"test-secret-test-secret-test-secret-0123"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &Kit{Keys: kr, Secure: secure}
}

// TestBrowserCookieIsServerIssued: BrowserID keeps only a cookie this
// server issued; any other value is replaced by a fresh one.
func TestBrowserCookieIsServerIssued(t *testing.T) {
	for _, secure := range []bool{false, true} {
		k := testKit(t, secure)
		other := testKit(t, secure)
		other.Keys, _ = seal.New([]string{"another-secret-another-secret-another-0"}, nil)

		// Issue one.
		w := httptest.NewRecorder()
		issuedID := k.BrowserID(w, httptest.NewRequest(http.MethodGet, "/", nil))
		set := w.Result().Cookies()
		if len(set) != 1 {
			t.Fatalf("secure=%v: %d cookies set, want 1", secure, len(set))
		}
		issued := set[0]
		if issued.Value == issuedID {
			t.Errorf("secure=%v: the cookie is the bare ID, with no MAC", secure)
		}
		otherW := httptest.NewRecorder()
		other.BrowserID(otherW, httptest.NewRequest(http.MethodGet, "/", nil))
		foreign := otherW.Result().Cookies()[0].Value

		id43 := strings.Repeat("A", 43)
		for _, tc := range []struct {
			name, value string
			keep        bool
		}{
			{"issued", issued.Value, true},
			{"arbitrary", id43, false},
			{"arbitrary with a dot", id43 + ".AAAA", false},
			{"issued ID, MAC cut", issued.Value[:len(issued.Value)-2], false},
			{"another server's", foreign, false},
			{"empty", "", false},
		} {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.AddCookie(&http.Cookie{Name: issued.Name, Value: tc.value})
			w := httptest.NewRecorder()
			got := k.BrowserID(w, r)
			reissued := len(w.Result().Cookies()) == 1
			switch {
			case tc.keep && (got != issuedID || reissued):
				t.Errorf("secure=%v %s: ID %q reissued=%v, want the issued ID kept", secure, tc.name, got, reissued)
			case !tc.keep && (got == issuedID || got == id43 || !reissued):
				t.Errorf("secure=%v %s: ID %q reissued=%v, want a fresh server-issued ID", secure, tc.name, got, reissued)
			}
			// CSRF tokens follow the same rule.
			r = httptest.NewRequest(http.MethodPost, "/", strings.NewReader("csrf_token="+k.CSRFToken(id43, "s")))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.AddCookie(&http.Cookie{Name: issued.Name, Value: id43})
			_ = r.ParseForm()
			if k.CheckCSRF(r, "s") {
				t.Errorf("secure=%v: a CSRF token for a client-chosen browser cookie was accepted", secure)
			}
		}
	}
}

// TestCookieNames: an https issuer gives __Host- cookies (Secure, Path=/,
// no Domain); plain http keeps the bare names.
func TestCookieNames(t *testing.T) {
	for _, tc := range []struct {
		secure bool
		want   string
	}{{false, "lk_browser"}, {true, "__Host-lk_browser"}} {
		k := testKit(t, tc.secure)
		w := httptest.NewRecorder()
		k.BrowserID(w, httptest.NewRequest(http.MethodGet, "/", nil))
		c := w.Result().Cookies()[0]
		if c.Name != tc.want || c.Path != "/" || c.Domain != "" || c.Secure != tc.secure || !c.HttpOnly {
			t.Errorf("secure=%v: %+v, want name %s, Path=/, no Domain, Secure=%v, HttpOnly", tc.secure, c, tc.want, tc.secure)
		}
		if got := k.CookieName("lk_session"); got != strings.TrimSuffix(tc.want, "lk_browser")+"lk_session" {
			t.Errorf("secure=%v: CookieName(lk_session) = %q", tc.secure, got)
		}
		// A cookie sent under the other name is not read.
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.AddCookie(&http.Cookie{Name: "lk_session", Value: "x"})
		if _, err := k.Cookie(r, "lk_session"); (err == nil) != !tc.secure {
			t.Errorf("secure=%v: a bare lk_session cookie read: %v", tc.secure, err)
		}
	}
}

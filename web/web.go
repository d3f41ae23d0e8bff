package web

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"latchkey/seal"
)

// BrowserCookie names the long-lived random cookie that identifies a browser
// (not a user): flows and CSRF tokens are bound to it, so a flow started in
// one browser cannot be finished in another.
const BrowserCookie = "lk_browser"

// Kit carries what the helpers need; one per server.
type Kit struct {
	Keys   *seal.Keyring
	Secure bool // cookies get the Secure flag (https issuer)
	Rand   io.Reader
}

// RandomID returns 32 random bytes, base64url-encoded.
func (k *Kit) RandomID() string {
	return RandomString(k.Rand, 32)
}

// RandomString returns n random bytes from r (crypto/rand when nil),
// base64url-encoded.
func RandomString(r io.Reader, n int) string {
	if r == nil {
		r = rand.Reader
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		panic("web: random source failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// Hash is the hex SHA-256 of a bearer value, the form in which such values
// are stored so a database leak does not reveal them.
func Hash(v string) string {
	sum := sha256.Sum256([]byte(v))
	return hex.EncodeToString(sum[:])
}

// BrowserID returns the browser's ID, setting the cookie when it is missing
// or was not issued by this server. The cookie carries the ID and a MAC of
// it, so a client cannot choose its own ID (to plant one in another
// browser, or to collide with a flow's binding).
func (k *Kit) BrowserID(w http.ResponseWriter, r *http.Request) string {
	if id, ok := k.browser(r); ok {
		return id
	}
	id := k.RandomID()
	v := k.browserValue(id)
	k.SetCookie(w, BrowserCookie, v, 400*24*time.Hour)
	// Later handlers in this request must see the same ID.
	r.AddCookie(&http.Cookie{Name: k.CookieName(BrowserCookie), Value: v})
	return id
}

func (k *Kit) browserValue(id string) string {
	return id + "." + base64.RawURLEncoding.EncodeToString(k.Keys.MAC("browser", id))
}

// browser is the ID of a server-issued browser cookie on r.
func (k *Kit) browser(r *http.Request) (string, bool) {
	c, err := k.Cookie(r, BrowserCookie)
	if err != nil || len(c.Value) > 128 {
		return "", false
	}
	id, mac, ok := strings.Cut(c.Value, ".")
	if !ok || len(id) < 43 || len(id) > 64 {
		return "", false
	}
	sum, err := base64.RawURLEncoding.DecodeString(mac)
	if err != nil || !k.Keys.VerifyMAC(sum, "browser", id) {
		return "", false
	}
	return id, true
}

// CookieName is the name a cookie is sent under: with an https issuer it
// takes the __Host- prefix, which browsers accept only with Secure, Path=/
// and no Domain, so no subdomain or plain-http page can set or shadow it.
func (k *Kit) CookieName(name string) string {
	if k.Secure {
		return "__Host-" + name
	}
	return name
}

// Cookie reads the cookie set by SetCookie under name.
func (k *Kit) Cookie(r *http.Request, name string) (*http.Cookie, error) {
	return r.Cookie(k.CookieName(name))
}

// SetCookie sets an HttpOnly, SameSite=Lax cookie on the whole site, named
// by CookieName; maxAge 0 makes it a session cookie, negative deletes it.
func (k *Kit) SetCookie(w http.ResponseWriter, name, value string, maxAge time.Duration) {
	c := &http.Cookie{Name: k.CookieName(name), Value: value, Path: "/", HttpOnly: true, Secure: k.Secure, SameSite: http.SameSiteLaxMode}
	switch {
	case maxAge < 0:
		c.MaxAge = -1
	case maxAge > 0:
		c.MaxAge = int(maxAge / time.Second)
	}
	http.SetCookie(w, c)
}

// CSRFToken is the token a form in scope (a flow ID, "account") carries; it
// is a MAC of the browser ID, so it needs no storage and cannot be used from
// another browser.
func (k *Kit) CSRFToken(browserID, scope string) string {
	return base64.RawURLEncoding.EncodeToString(k.Keys.MAC("csrf", browserID, scope))
}

// CheckCSRF verifies the csrf_token form field of r for scope, in constant
// time. Call after ParseForm.
func (k *Kit) CheckCSRF(r *http.Request, scope string) bool {
	id, ok := k.browser(r)
	if !ok {
		return false
	}
	sum, err := base64.RawURLEncoding.DecodeString(r.PostForm.Get("csrf_token"))
	if err != nil || len(sum) == 0 {
		return false
	}
	return k.Keys.VerifyMAC(sum, "csrf", id, scope)
}

// LocalPath tells whether s is a path on this server that is safe to
// redirect to: it starts with one slash, holds no backslash or control
// character (browsers drop tabs and newlines, so "/\t/evil" would become
// "//evil"), and parses without scheme or host.
func LocalPath(s string) bool {
	if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f || s[i] == '\\' {
			return false
		}
	}
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "" && u.Host == "" && !strings.HasPrefix(u.Path, "//")
}

// ClientIP is the remote address without the port. Forwarded headers are
// not read here: the server's request layer has already replaced
// RemoteAddr with the client's address when, and only when, the peer is one
// of trusted_proxies.
func ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

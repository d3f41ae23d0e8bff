package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"latchkey/internal/testkit"
)

// TestOAuth2Proxy drives oauth2-proxy (v7.15.6, its default email rule)
// against the built binary with the configuration of
// docs/integrations/oauth2-proxy.md: a verified user signs in, four
// parallel requests after the cookie-refresh interval keep the session in
// each of three rounds, and sign-out ends the Latchkey session through
// end_session from the proxy's server.
func TestOAuth2Proxy(t *testing.T) {
	proxyBin := needTool(t, "oauth2-proxy", "go install github.com/oauth2-proxy/oauth2-proxy/v7@v7.15.6")
	const guide = "docs/integrations/oauth2-proxy.md"
	eachBackend(t, func(t *testing.T, dsn string) {
		const clientSecret = "oauth2-proxy-secret-oauth2-proxy-secret-1"
		proxyPort := testkit.FreePort(t)
		app := fmt.Sprintf("http://127.0.0.1:%d", proxyPort)
		clients := strings.ReplaceAll(docSnippet(t, guide, "latchkey-client"), "https://app.example.com", app)
		lk := startLatchkey(t, dsn, clients, "", "OAUTH2_PROXY_CLIENT_SECRET="+clientSecret)
		lk.addUser(t, "olga@example.com", "olga's good password", "--verified", "--name", "Olga Proxy")
		lk.addUser(t, "nils@example.com", "nils's good password") // not verified

		upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "upstream sees %s", r.Header.Get("X-Forwarded-Email"))
		}))
		t.Cleanup(upstream.Close)

		cfg := docSnippet(t, guide, "oauth2-proxy.cfg")
		cfg = strings.ReplaceAll(cfg, "https://id.example.com", lk.Issuer)
		cfg = strings.ReplaceAll(cfg, "https://app.example.com", app)
		dir := t.TempDir()
		cfgPath := filepath.Join(dir, "oauth2-proxy.cfg")
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		const refresh = 2 * time.Second
		// Flags override the guide only where a test must: plain http on
		// loopback, its own ports, and a refresh interval worth waiting for.
		startProcess(t, proxyBin, append(os.Environ(),
			"OAUTH2_PROXY_CLIENT_SECRET="+clientSecret,
			"OAUTH2_PROXY_COOKIE_SECRET=0123456789abcdef0123456789abcdef"), dir,
			"--config", cfgPath,
			"--http-address", fmt.Sprintf("127.0.0.1:%d", proxyPort),
			"--upstream", upstream.URL+"/",
			"--cookie-secure=false",
			"--cookie-refresh", refresh.String())
		waitHTTP(t, app+"/ping", "oauth2-proxy", &testkit.Buffer{})

		t.Run("unverified email is refused", func(t *testing.T) {
			b := testkit.NewBrowser(t)
			p := passwordLogin(t, b, b.Get(app+"/"), "nils@example.com", "nils's good password")
			if p.Status == http.StatusOK && strings.Contains(p.Body, "upstream sees") {
				t.Fatalf("oauth2-proxy let an unverified address in")
			}
		})

		b := testkit.NewBrowser(t)
		p := b.Get(app + "/")
		if !strings.HasPrefix(p.URL.Path, "/login") {
			t.Fatalf("oauth2-proxy did not send the browser to Latchkey's login: %d at %s\n%.800s", p.Status, p.URL, p.Body)
		}
		p = passwordLogin(t, b, p, "olga@example.com", "olga's good password")
		if p.Status != http.StatusOK || p.Body != "upstream sees olga@example.com" {
			t.Fatalf("sign-in through oauth2-proxy: %d at %s\n%.1500s", p.Status, p.URL, p.Body)
		}

		// The requests must be answered by the upstream directly: a
		// redirect would mean the session was lost.
		direct := &http.Client{Jar: b.Client.Jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		get := func() error {
			resp, err := direct.Get(app + "/")
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK || string(body) != "upstream sees olga@example.com" {
				return fmt.Errorf("status %d location %q body %.200q", resp.StatusCode, resp.Header.Get("Location"), body)
			}
			return nil
		}
		for round := 1; round <= 3; round++ {
			// oauth2-proxy runs on the wall clock: wait past its refresh
			// interval so every one of the parallel requests refreshes.
			time.Sleep(refresh + 500*time.Millisecond)
			for i, err := range testkit.Race(4, func(int) error { return get() }) {
				if err != nil {
					t.Fatalf("round %d: parallel request %d after the refresh interval lost the session: %v", round, i, err)
				}
			}
			if err := get(); err != nil {
				t.Fatalf("round %d: the session did not survive the parallel refresh: %v", round, err)
			}
		}
		// Sign-out: oauth2-proxy clears its cookie and calls end_session
		// with the id_token_hint from its server; the Latchkey session ends,
		// so the next visit asks for the password again.
		p = b.Get(app + "/oauth2/sign_out?rd=%2F")
		if !strings.HasPrefix(p.URL.Path, "/login") || p.Find("input", map[string]string{"name": "password"}) == nil {
			t.Fatalf("after sign-out the browser was not asked to sign in again: %d at %s\n%.800s", p.Status, p.URL, p.Body)
		}
	})
}

package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"latchkey/internal/testkit"
)

// apacheModules are the Debian module files the test's private httpd loads.
const apacheModules = "/usr/lib/apache2/modules"

// TestModAuthOpenIDC drives Apache httpd with mod_auth_openidc (Debian's
// packages) against the built binary, configured from
// docs/integrations/mod_auth_openidc.md: the protected page gets the
// claims, parallel requests at refresh time keep the session, and both
// RP-initiated and back-channel logout end the Apache session.
func TestModAuthOpenIDC(t *testing.T) {
	httpd := needTool(t, "apache2", "apt-get install apache2 libapache2-mod-auth-openidc")
	if _, err := os.Stat(filepath.Join(apacheModules, "mod_auth_openidc.so")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("mod_auth_openidc is missing: CI must install libapache2-mod-auth-openidc")
		}
		t.Skip("needs libapache2-mod-auth-openidc; skipping")
	}
	const guide = "docs/integrations/mod_auth_openidc.md"
	eachBackend(t, func(t *testing.T, dsn string) {
		const clientSecret = "apache-secret-apache-secret-apache-secret"
		port := testkit.FreePort(t)
		app := fmt.Sprintf("http://127.0.0.1:%d", port)
		clients := strings.ReplaceAll(docSnippet(t, guide, "latchkey-client"), "https://app.example.com", app)
		// Access tokens live a minute, so the guide's "refresh 60 s before
		// expiry" refreshes on every request: each parallel request below
		// refreshes with the same refresh token.
		lk := startLatchkey(t, dsn, clients, "tokens:\n  access_token_ttl: 1m", "APACHE_OIDC_CLIENT_SECRET="+clientSecret)
		lk.addUser(t, "ann@example.com", "ann's good password", "--verified", "--name", "Ann Apache")

		root := apacheRoot(t)
		conf := docSnippet(t, guide, "apache.conf")
		conf = strings.ReplaceAll(conf, "https://id.example.com", lk.Issuer)
		conf = strings.ReplaceAll(conf, "https://app.example.com", app)
		user := ""
		if os.Geteuid() == 0 {
			// httpd refuses to serve as root; its children run as www-data.
			user = "User www-data\nGroup www-data\n"
		}
		httpdConf := fmt.Sprintf(`ServerRoot %[1]s
ServerName 127.0.0.1
Listen 127.0.0.1:%[2]d
PidFile %[1]s/httpd.pid
ErrorLog %[1]s/error.log
LogLevel warn auth_openidc:info
%[3]s
LoadModule mpm_prefork_module %[4]s/mod_mpm_prefork.so
# Several processes, so parallel requests (and the provider's back-channel
# call) are served at once, as in production.
StartServers 6
MinSpareServers 6
LoadModule authn_core_module %[4]s/mod_authn_core.so
LoadModule authz_core_module %[4]s/mod_authz_core.so
LoadModule authz_user_module %[4]s/mod_authz_user.so
LoadModule alias_module %[4]s/mod_alias.so
LoadModule cgi_module %[4]s/mod_cgi.so
LoadModule dir_module %[4]s/mod_dir.so
DirectoryIndex index.html
LoadModule auth_openidc_module %[4]s/mod_auth_openidc.so
DocumentRoot %[1]s/htdocs
ScriptAlias /protected/env %[1]s/env.cgi
OIDCCacheDir %[1]s/cache
%[5]s
`, root, port, user, apacheModules, conf)
		if err := os.WriteFile(filepath.Join(root, "httpd.conf"), []byte(httpdConf), 0o644); err != nil {
			t.Fatal(err)
		}
		env := append(os.Environ(), "APACHE_OIDC_CLIENT_SECRET="+clientSecret,
			"APACHE_OIDC_CRYPTO_PASSPHRASE=crypto-passphrase-crypto-passphrase-42")
		startProcess(t, httpd, env, root, "-DFOREGROUND", "-f", filepath.Join(root, "httpd.conf"))
		t.Cleanup(func() {
			if t.Failed() {
				b, _ := os.ReadFile(filepath.Join(root, "error.log"))
				t.Logf("apache error.log:\n%s", b)
			}
		})
		waitHTTP(t, app+"/", "apache", &testkit.Buffer{})
		b := testkit.NewBrowser(t)
		// mod_auth_openidc answers 401 instead of redirecting to the
		// provider unless the request accepts HTML, as a browser's does.
		b.Client.Transport = acceptHTML{http.DefaultTransport}
		signIn := func() map[string]string {
			t.Helper()
			p := b.Get(app + "/protected/env")
			if strings.HasPrefix(p.URL.Path, "/login") {
				p = passwordLogin(t, b, p, "ann@example.com", "ann's good password")
			}
			if p.Status != http.StatusOK || p.URL.Path != "/protected/env" {
				t.Fatalf("sign-in through mod_auth_openidc: %d at %s\n%.1500s", p.Status, p.URL, p.Body)
			}
			return cgiEnv(p.Body)
		}
		direct := &http.Client{Jar: b.Client.Jar, Transport: b.Client.Transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		protected := func() (map[string]string, error) {
			resp, err := direct.Get(app + "/protected/env")
			if err != nil {
				return nil, err
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK {
				return nil, fmt.Errorf("status %d location %q", resp.StatusCode, resp.Header.Get("Location"))
			}
			return cgiEnv(string(body)), nil
		}

		env1 := signIn()
		for k, want := range map[string]string{"OIDC_CLAIM_email": "ann@example.com", "OIDC_CLAIM_email_verified": "1", "OIDC_CLAIM_name": "Ann Apache"} {
			if env1[k] != want {
				t.Errorf("%s = %q, want %q", k, env1[k], want)
			}
		}

		t.Run("parallel requests at refresh time", func(t *testing.T) {
			last := env1["OIDC_access_token"]
			for round := 1; round <= 3; round++ {
				for i, err := range testkit.Race(4, func(int) error { _, err := protected(); return err }) {
					if err != nil {
						t.Fatalf("round %d: parallel request %d lost the session: %v", round, i, err)
					}
				}
				e, err := protected()
				if err != nil {
					t.Fatalf("round %d: the session did not survive the parallel refreshes: %v", round, err)
				}
				if e["OIDC_access_token"] == "" || e["OIDC_access_token"] == last {
					t.Fatalf("round %d: the access token was not refreshed", round)
				}
				last = e["OIDC_access_token"]
			}
		})

		t.Run("RP-initiated logout", func(t *testing.T) {
			p := b.Get(app + "/protected/redirect_uri?logout=" + url.QueryEscape(app+"/"))
			if p.Status != http.StatusOK || p.URL.String() != app+"/" {
				t.Fatalf("logout did not come back to %s/: %d at %s\n%.800s", app, p.Status, p.URL, p.Body)
			}
			if _, err := protected(); err == nil {
				t.Fatal("the Apache session survived RP-initiated logout")
			}
			// Latchkey's session ended too: the password is asked again.
			if p := b.Get(app + "/protected/env"); !strings.HasPrefix(p.URL.Path, "/login") {
				t.Fatalf("after logout the browser was not asked to sign in: %d at %s", p.Status, p.URL)
			}
		})

		t.Run("back-channel logout", func(t *testing.T) {
			signIn()
			if _, err := protected(); err != nil {
				t.Fatalf("signed in again: %v", err)
			}
			// Signing out at Latchkey itself: the module hears of it only
			// through the back-channel logout token.
			p := b.Get(lk.Issuer + "/logout")
			p = b.Submit(p.FormWithButton(t, "decision", "logout"))
			if p.Status != http.StatusOK {
				t.Fatalf("sign-out at Latchkey: %d at %s", p.Status, p.URL)
			}
			if _, err := protected(); err == nil {
				t.Fatal("the Apache session survived back-channel logout")
			}
		})
	})
}

// apacheRoot makes a ServerRoot that httpd's www-data children can read:
// the CGI that prints the environment the module passes, and a home page.
func apacheRoot(t *testing.T) string {
	t.Helper()
	root, err := os.MkdirTemp("", "latchkey-apache")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	for _, d := range []string{root, filepath.Join(root, "htdocs"), filepath.Join(root, "cache")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if os.Geteuid() == 0 {
		// mod_auth_openidc's file cache and state live here; the children write.
		if err := os.Chown(filepath.Join(root, "cache"), 33, 33); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		"htdocs/index.html": "<!doctype html><title>App</title><p>Home.</p>\n",
		"env.cgi":           "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n'\nenv\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// cgiEnv parses the CGI's env output.
func cgiEnv(body string) map[string]string {
	m := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			m[k] = v
		}
	}
	return m
}

// acceptHTML sends the Accept header of a browser's navigation.
type acceptHTML struct{ rt http.RoundTripper }

func (a acceptHTML) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
	return a.rt.RoundTrip(r)
}

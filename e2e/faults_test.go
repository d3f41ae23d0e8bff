package e2e

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"latchkey/config"
	"latchkey/internal/testkit"
	"latchkey/store"
)

func faultClients(cfg *config.Config) {
	standardClients(cfg)
	cfg.Clients = append(cfg.Clients, config.Client{ID: "machine", Name: "Machine", Secret: machineSecret,
		Scopes: []string{"email"}, GrantTypes: []string{"client_credentials"}, MinACR: "1fa"})
}

// outage makes a test database unusable and usable again without touching
// the server under test.
type outage interface {
	Start(t *testing.T)
	Stop(t *testing.T)
}

// sqliteLock holds SQLite's write lock from a second connection: writes
// fail once the busy timeout passes, as with a read-only file (the tests
// run as root, for whom a file mode changes nothing).
type sqliteLock struct {
	path string
	db   *sql.DB
	conn *sql.Conn
}

func (l *sqliteLock) Start(t *testing.T) {
	g, err := gorm.Open(sqlite.Open("file:"+l.path), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	l.db, _ = g.DB()
	l.conn, err = l.db.Conn(context.Background())
	if err == nil {
		_, err = l.conn.ExecContext(context.Background(), "BEGIN IMMEDIATE")
	}
	if err != nil {
		t.Fatalf("take the SQLite write lock: %v", err)
	}
}

func (l *sqliteLock) Stop(t *testing.T) {
	if _, err := l.conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	l.conn.Close()
	l.db.Close()
}

// pgRole is a login role of the test's own: the outage forbids it to log
// in and ends its connections, which is the server going away for this
// test alone (the shared PostgreSQL keeps serving everyone else).
type pgRole struct {
	admin *gorm.DB
	name  string
}

func newPGRole(t *testing.T, dsn string) (*pgRole, string) {
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	schema := u.Query().Get("search_path")
	admin, err := gorm.Open(postgres.Open(dsn), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	r := &pgRole{admin: admin, name: "lk_fault_" + hex.EncodeToString(b[:])}
	for _, q := range []string{"CREATE ROLE " + r.name + " LOGIN", "GRANT ALL ON SCHEMA " + schema + " TO " + r.name} {
		if err := admin.Exec(q).Error; err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() {
		r.terminate()
		admin.Exec("DROP OWNED BY " + r.name)
		admin.Exec("DROP ROLE " + r.name)
		if db, err := admin.DB(); err == nil {
			db.Close()
		}
	})
	u.User = url.User(r.name)
	return r, u.String()
}

func (r *pgRole) terminate() {
	r.admin.Exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = ?", r.name)
}

func (r *pgRole) Start(t *testing.T) {
	if err := r.admin.Exec("ALTER ROLE " + r.name + " NOLOGIN").Error; err != nil {
		t.Fatal(err)
	}
	r.terminate()
}

func (r *pgRole) Stop(t *testing.T) {
	if err := r.admin.Exec("ALTER ROLE " + r.name + " LOGIN").Error; err != nil {
		t.Fatal(err)
	}
}

type oauthReply struct {
	Status int
	Error  string
	Active *bool
	Token  string
}

// call posts an OAuth form and reads the fields the fault tests check.
func call(t *testing.T, u, user, pass string, form url.Values) oauthReply {
	t.Helper()
	status, m, _ := postForm(t, u, form, user, pass)
	out := oauthReply{Status: status}
	out.Error, _ = m["error"].(string)
	out.Token, _ = m["access_token"].(string)
	if a, ok := m["active"].(bool); ok {
		out.Active = &a
	}
	return out
}

func getStatus(t *testing.T, u string) (int, string) {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location")
}

// TestDatabaseOutage: while the database is down (PostgreSQL) or cannot be
// written (SQLite), the OAuth endpoints answer 503 temporarily_unavailable
// and report nothing false; /readyz is 503; afterwards the same process
// serves again and the token is still there to revoke.
func TestDatabaseOutage(t *testing.T) {
	for _, be := range testkit.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			dsn := be.DSN(t)
			var out outage
			if strings.HasPrefix(dsn, "sqlite://") {
				out = &sqliteLock{path: store.SQLitePath(dsn)}
			} else {
				out, dsn = newPGRole(t, dsn)
			}
			srv := testkit.StartServer(t, dsn, testkit.ServerOptions{Configure: faultClients,
				Store: store.Options{BusyTimeout: 200 * time.Millisecond}})
			tokenURL, revokeURL, introURL := srv.URL+"/oauth2/token", srv.URL+"/oauth2/revoke", srv.URL+"/oauth2/introspect"
			grant := url.Values{"grant_type": {"client_credentials"}, "scope": {"email"}}
			tok := call(t, tokenURL, "machine", machineSecret, grant)
			if tok.Status != 200 || tok.Token == "" {
				t.Fatalf("token before the outage: %+v", tok)
			}
			if st, _ := getStatus(t, srv.URL+"/readyz"); st != 200 {
				t.Fatalf("/readyz before the outage: %d", st)
			}

			shop := newRP(t, srv.URL, "shop", shopSecret, shopCallback, "openid")
			b := testkit.NewBrowser(t, shopCallback)
			loginPage := b.Get(shop.start().URL)
			if loginPage.Status != 200 || loginPage.URL.Path != "/login" {
				t.Fatalf("login page before the outage: %d %s", loginPage.Status, loginPage.URL)
			}

			out.Start(t)
			// A flow that cannot be read is not an expired one.
			if p := b.Get(loginPage.URL.String()); p.Status == http.StatusBadRequest || (strings.HasPrefix(dsn, "postgres") && p.Status != 503) {
				t.Errorf("login flow during the outage: %d, want 503 (or the page where reads still work)", p.Status)
			}
			if st, _ := getStatus(t, srv.URL+"/readyz"); st != http.StatusServiceUnavailable {
				t.Errorf("/readyz during the outage: %d, want 503", st)
			}
			if r := call(t, tokenURL, "machine", machineSecret, grant); r.Status != 503 || r.Error != "temporarily_unavailable" {
				t.Errorf("token during the outage: %+v, want 503 temporarily_unavailable", r)
			}
			if r := call(t, revokeURL, "machine", machineSecret, url.Values{"token": {tok.Token}}); r.Status != 503 || r.Error != "temporarily_unavailable" {
				t.Errorf("revoke during the outage: %+v, want 503 temporarily_unavailable (never a 200 that stored nothing)", r)
			}
			// Introspection reads: SQLite still can, PostgreSQL cannot. It
			// may answer truly or 503, never "inactive" about a live token.
			if r := call(t, introURL, "machine", machineSecret, url.Values{"token": {tok.Token}}); !(r.Status == 200 && r.Active != nil && *r.Active) && !(r.Status == 503 && r.Error == "temporarily_unavailable") {
				t.Errorf("introspect during the outage: %+v, want the truth or 503", r)
			}
			if st, loc := getStatus(t, shop.start().URL); !(st == 503 || strings.Contains(loc, "error=temporarily_unavailable")) {
				t.Errorf("authorize during the outage: %d %q, want temporarily_unavailable", st, loc)
			}
			out.Stop(t)

			// The same process recovers.
			if st, _ := getStatus(t, srv.URL+"/readyz"); st != 200 {
				t.Errorf("/readyz after the outage: %d", st)
			}
			if r := call(t, introURL, "machine", machineSecret, url.Values{"token": {tok.Token}}); r.Status != 200 || r.Active == nil || !*r.Active {
				t.Errorf("the token after the outage: %+v, want still active (no revocation was reported)", r)
			}
			if r := call(t, revokeURL, "machine", machineSecret, url.Values{"token": {tok.Token}}); r.Status != 200 {
				t.Errorf("revoke after the outage: %+v", r)
			}
			if r := call(t, introURL, "machine", machineSecret, url.Values{"token": {tok.Token}}); r.Status != 200 || r.Active == nil || *r.Active {
				t.Errorf("the token after revocation: %+v, want inactive", r)
			}
			if r := call(t, tokenURL, "machine", machineSecret, grant); r.Status != 200 {
				t.Errorf("token after the outage: %+v", r)
			}
		})
	}
}

// TestReplayRaces: ten concurrent exchanges of one code, or refreshes of
// one refresh token, give exactly one success; the rest get 400
// invalid_grant, and what the winner got is revoked, on both engines. The
// refresh race runs without tokens.refresh_reuse_grace, which exists to
// let such races through.
func TestReplayRaces(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		srv := testkit.StartServer(t, dsn, testkit.ServerOptions{Configure: func(cfg *config.Config) {
			standardClients(cfg)
			cfg.Tokens.RefreshReuseGrace = config.Duration{}
		}})
		srv.AddUser(t, "rae@example.com", "rae's long password")
		shop := newRP(t, srv.URL, "shop", shopSecret, shopCallback, "openid", "offline_access")
		b := testkit.NewBrowser(t, shopCallback)
		first, _, _ := signIn(t, shop, b, "rae@example.com", "rae's long password")

		active := func(tok string) bool {
			r := call(t, srv.URL+"/oauth2/introspect", "shop", shopSecret, url.Values{"token": {tok}})
			return r.Active != nil && *r.Active
		}
		const n = 10
		check := func(what string, errs []error, toks []*oauth2.Token) {
			t.Helper()
			var won *oauth2.Token
			for i, err := range errs {
				switch {
				case err == nil && won == nil:
					won = toks[i]
				case err == nil:
					t.Errorf("%s: a second success", what)
				case !isOAuthError(err, "invalid_grant"):
					t.Errorf("%s: %v, want invalid_grant", what, err)
				}
			}
			if won == nil {
				t.Fatalf("%s: no success", what)
			}
			if active(won.AccessToken) || active(won.RefreshToken) {
				t.Errorf("%s: the winner's tokens are still active after the replay", what)
			}
		}

		s := shop.start()
		code := callback(t, b.Get(s.URL), shopCallback).Get("code")
		toks := make([]*oauth2.Token, n)
		errs := testkit.Race(n, func(i int) (err error) {
			toks[i], err = shop.OAuth.Exchange(ctx, code, oauth2.VerifierOption(s.PKCE))
			return err
		})
		check("code", errs, toks)

		errs = testkit.Race(n, func(i int) (err error) {
			toks[i], err = shop.OAuth.TokenSource(ctx, &oauth2.Token{RefreshToken: first.RefreshToken}).Token()
			return err
		})
		check("refresh", errs, toks)
	})
}

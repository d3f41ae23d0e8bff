package e2e

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"

	"golang.org/x/oauth2"
	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"latchkey/internal/testkit"
	"latchkey/store"
)

// rowCounter counts the rows UPDATE statements touch in oauth_tokens, with
// a trigger in the database itself, so it sees exactly what the server does.
type rowCounter struct{ db *gorm.DB }

// openRaw is a second connection to a test database, beside the server's.
func openRaw(t *testing.T, dsn string) *gorm.DB {
	t.Helper()
	dial := postgres.Open(dsn)
	if strings.HasPrefix(dsn, "sqlite://") {
		dial = sqlite.Open("file:" + store.SQLitePath(dsn) + "?_busy_timeout=10000")
	}
	db, err := gorm.Open(dial, &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if sqlDB, err := db.DB(); err == nil {
			sqlDB.Close()
		}
	})
	return db
}

func newRowCounter(t *testing.T, dsn string) *rowCounter {
	t.Helper()
	var stmts []string
	if strings.HasPrefix(dsn, "sqlite://") {
		stmts = []string{
			`CREATE TABLE test_token_updates (n INTEGER NOT NULL)`,
			`INSERT INTO test_token_updates VALUES (0)`,
			`CREATE TRIGGER test_count_token_updates AFTER UPDATE ON oauth_tokens
			 BEGIN UPDATE test_token_updates SET n = n + 1; END`,
		}
	} else {
		stmts = []string{
			`CREATE TABLE test_token_updates (n bigint NOT NULL)`,
			`INSERT INTO test_token_updates VALUES (0)`,
			`CREATE FUNCTION test_count_token_update() RETURNS trigger LANGUAGE plpgsql AS
			 $$ BEGIN UPDATE test_token_updates SET n = n + 1; RETURN NULL; END $$`,
			`CREATE TRIGGER test_count_token_updates AFTER UPDATE ON oauth_tokens
			 FOR EACH ROW EXECUTE FUNCTION test_count_token_update()`,
		}
	}
	db := openRaw(t, dsn)
	for _, s := range stmts {
		if err := db.Exec(s).Error; err != nil {
			t.Fatalf("%s: %v", strings.Fields(s)[0:3], err)
		}
	}
	return &rowCounter{db: db}
}

func (c *rowCounter) n(t *testing.T) int64 {
	t.Helper()
	var n int64
	if err := c.db.Raw(`SELECT n FROM test_token_updates`).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRefreshChainTouchesConstantRows: fosite keeps one request ID for a
// whole refresh chain. Each refresh must retire only what is still active
// (the used refresh token and the access token issued with it), not rewrite
// the chain's history: the k-th refresh touches O(1) rows, not O(k).
func TestRefreshChainTouchesConstantRows(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		srv := testkit.StartServer(t, dsn, testkit.ServerOptions{Configure: standardClients})
		srv.AddUser(t, "ray@example.com", "ray's long password")
		shop := newRP(t, srv.URL, "shop", shopSecret, shopCallback, "openid", "offline_access")
		b := testkit.NewBrowser(t, shopCallback)
		tok, _, _ := signIn(t, shop, b, "ray@example.com", "ray's long password")
		rows := newRowCounter(t, dsn)

		const rotations = 50
		// Retiring the used refresh token and the one live access token.
		const perRefresh = 2
		refresh := tok.RefreshToken
		total := int64(0)
		for i := range rotations {
			before := rows.n(t)
			next, err := shop.OAuth.TokenSource(ctx, &oauth2.Token{RefreshToken: refresh}).Token()
			if err != nil {
				t.Fatalf("refresh %d: %v", i+1, err)
			}
			if next.RefreshToken == "" || next.RefreshToken == refresh {
				t.Fatalf("refresh %d did not rotate the refresh token", i+1)
			}
			refresh = next.RefreshToken
			touched := rows.n(t) - before
			total += touched
			if touched > perRefresh {
				t.Fatalf("refresh %d of the chain updated %d token rows, want at most %d", i+1, touched, perRefresh)
			}
		}
		if total < rotations {
			t.Fatalf("%d rows updated over %d refreshes: the counter missed the rotations", total, rotations)
		}
		t.Logf("%d refreshes updated %d token rows", rotations, total)
	})
}

// statements records what the store runs, through store.Options.OnStatement.
type statements struct {
	mu   sync.Mutex
	on   bool
	list []string
}

func (s *statements) observe(sql string, rows int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.on {
		s.list = append(s.list, fmt.Sprintf("%s (%d rows)", sql, rows))
	}
}

func (s *statements) record(on bool) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.on = on
	out := s.list
	s.list = nil
	return out
}

// TestIntrospectionIsOneIndexedRead: introspecting a live access token,
// an unknown token and a refresh token writes nothing and runs at most one
// read, by the token table's primary key.
func TestIntrospectionIsOneIndexedRead(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		stmts := &statements{}
		srv := testkit.StartServer(t, dsn, testkit.ServerOptions{Configure: faultClients,
			Store: store.Options{OnStatement: stmts.observe}})
		srv.AddUser(t, "ray@example.com", "ray's long password")
		grant := call(t, srv.URL+"/oauth2/token", "machine", machineSecret, url.Values{"grant_type": {"client_credentials"}, "scope": {"email"}})
		if grant.Token == "" {
			t.Fatalf("client credentials: %+v", grant)
		}
		shop := newRP(t, srv.URL, "shop", shopSecret, shopCallback, "openid", "offline_access")
		tok, _, _ := signIn(t, shop, testkit.NewBrowser(t, shopCallback), "ray@example.com", "ray's long password")

		for _, tc := range []struct {
			name, client, secret, token, hint string
			active                            bool
			// reads is how many reads the answer needs.
			reads int
		}{
			{"access token", "machine", machineSecret, grant.Token, "", true, 1},
			{"access token, hinted", "machine", machineSecret, grant.Token, "access_token", true, 1},
			{"another client's token", "shop", shopSecret, grant.Token, "", false, 1},
			{"refresh token", "shop", shopSecret, tok.RefreshToken, "", true, 1},
			{"refresh token, hinted", "shop", shopSecret, tok.RefreshToken, "refresh_token", true, 1},
			{"forged access token", "machine", machineSecret, "ory_at_unknown.unknown", "", false, 0},
			{"forged refresh token", "shop", shopSecret, "ory_rt_unknown.unknown", "refresh_token", false, 0},
			{"not a token", "machine", machineSecret, "x", "", false, 0},
		} {
			t.Run(tc.name, func(t *testing.T) {
				form := url.Values{"token": {tc.token}}
				if tc.hint != "" {
					form.Set("token_type_hint", tc.hint)
				}
				stmts.record(true)
				r := call(t, srv.URL+"/oauth2/introspect", tc.client, tc.secret, form)
				ran := stmts.record(false)
				if r.Status != 200 || r.Active == nil || *r.Active != tc.active {
					t.Fatalf("introspect: %+v, want active %v", r, tc.active)
				}
				reads := 0
				for _, s := range ran {
					q := strings.NewReplacer("`", "", `"`, "").Replace(strings.ToUpper(strings.TrimSpace(s)))
					if !strings.HasPrefix(q, "SELECT") {
						t.Errorf("introspection wrote: %s", s)
						continue
					}
					reads++
					if !strings.Contains(q, "FROM OAUTH_TOKENS WHERE KIND = ") || !strings.Contains(q, "SIGNATURE = ") {
						t.Errorf("a read not by the token's primary key: %s", s)
					}
				}
				if reads > tc.reads {
					t.Errorf("introspection ran %d reads, want at most %d:\n%s", reads, tc.reads, strings.Join(ran, "\n"))
				}
			})
		}
	})
}

// TestClientCredentialsTokenRowSize: a client-credentials grant stores a
// small document: the request and the session's expiry, not a page of
// empty ID-token claims (with fosite's session JSON the row was 612 bytes).
func TestClientCredentialsTokenRowSize(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		srv := testkit.StartServer(t, dsn, testkit.ServerOptions{Configure: faultClients})
		grant := call(t, srv.URL+"/oauth2/token", "machine", machineSecret, url.Values{"grant_type": {"client_credentials"}, "scope": {"email"}})
		if grant.Token == "" {
			t.Fatalf("client credentials: %+v", grant)
		}
		var sizes []int64
		if err := openRaw(t, dsn).Raw(`SELECT length(data) FROM oauth_tokens WHERE client_id = 'machine'`).Scan(&sizes).Error; err != nil {
			t.Fatal(err)
		}
		// The request (ID, client, scopes, form) is ~220 of them.
		const most = 320
		if len(sizes) != 1 || sizes[0] > most {
			t.Fatalf("a client-credentials grant stored rows of %v bytes, want one of at most %d", sizes, most)
		}
		t.Logf("%d bytes stored", sizes[0])
		r := call(t, srv.URL+"/oauth2/introspect", "machine", machineSecret, url.Values{"token": {grant.Token}})
		if r.Active == nil || !*r.Active {
			t.Fatalf("the token does not introspect as active: %+v", r)
		}
	})
}

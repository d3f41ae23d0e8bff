package e2e

import (
	"context"
	"strings"
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

func newRowCounter(t *testing.T, dsn string) *rowCounter {
	t.Helper()
	var dial gorm.Dialector
	var stmts []string
	if strings.HasPrefix(dsn, "sqlite://") {
		p := store.SQLitePath(dsn)
		dial = sqlite.Open("file:" + p + "?_busy_timeout=10000")
		stmts = []string{
			`CREATE TABLE test_token_updates (n INTEGER NOT NULL)`,
			`INSERT INTO test_token_updates VALUES (0)`,
			`CREATE TRIGGER test_count_token_updates AFTER UPDATE ON oauth_tokens
			 BEGIN UPDATE test_token_updates SET n = n + 1; END`,
		}
	} else {
		dial = postgres.Open(dsn)
		stmts = []string{
			`CREATE TABLE test_token_updates (n bigint NOT NULL)`,
			`INSERT INTO test_token_updates VALUES (0)`,
			`CREATE FUNCTION test_count_token_update() RETURNS trigger LANGUAGE plpgsql AS
			 $$ BEGIN UPDATE test_token_updates SET n = n + 1; RETURN NULL; END $$`,
			`CREATE TRIGGER test_count_token_updates AFTER UPDATE ON oauth_tokens
			 FOR EACH ROW EXECUTE FUNCTION test_count_token_update()`,
		}
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

// Package e2e drives whole Latchkey servers over real HTTP the way relying
// parties and browsers do: github.com/coreos/go-oidc/v3 and
// golang.org/x/oauth2 as the relying party, testkit's Browser for the hosted
// pages. Every test runs on SQLite and, when LATCHKEY_TEST_POSTGRES_DSN is
// set (always in CI), on PostgreSQL.
package e2e

// Package testkit is shared test support: a fresh database per test on
// SQLite or PostgreSQL, a whole Latchkey server on a real listener, and a
// cookie-keeping browser that reads and submits the hosted pages' forms the
// way a person's browser does.
package testkit

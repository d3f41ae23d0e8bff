// Package conformance is one test suite for the store, run against every
// database engine Latchkey supports (SQLite and PostgreSQL), so both engines
// are held to the same behaviour: the same not-found and conflict errors, the
// same expiry rules, and the same guarantees under concurrency (a flow or an
// authorization code is consumed exactly once, concurrent flow updates never
// lose a write, replicas can migrate at the same time).
//
// A backend's test calls Run with a function that opens a fresh, migrated
// store on an empty database for each subtest, using ClockFor(t).Now as the
// store's clock so the suite can move time forward instead of sleeping; and
// RunMigrations with a function that names a fresh, empty database.
package conformance

// Package store is Latchkey's persistence: the gorm models, the versioned
// migrations, opening SQLite (the embedded default) or PostgreSQL (the engine
// for several replicas), and the one implementation of every small storage
// interface the other packages declare where they consume it.
//
// Single-use secrets (authorization codes, rotated refresh tokens, flows) are
// consumed with one conditional UPDATE whose affected-row count decides who
// won, so two replicas can never both accept the same secret.
//
// The conformance sub-package runs one test suite against both engines.
package store

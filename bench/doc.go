// Command bench is Latchkey's load benchmark. One run measures the
// machine's limits (a minimal HTTP handler through the same load
// generator, one SQLite write transaction, RS256 and ES256 signing on
// GOMAXPROCS goroutines, one argon2id hash at Latchkey's parameters) and
// then Latchkey itself, built from ./cmd/latchkey and run as a child
// process over loopback HTTP, so its CPU time is read from its own
// /proc/<pid>/stat. Every test has a fixed request count.
//
//	go run ./bench                      # full run, writes BENCHMARKS.md
//	go run ./bench -quick -out /tmp/b.md # CI: small counts, under a minute
//	go run ./bench -postgres DSN        # also on PostgreSQL
package main

package store

import (
	"database/sql"
	"strings"
	"testing"
)

// TestDSNParameters: an admin's sqlite:// parameters override the store's
// defaults where that is safe, the ones the store must own and unknown ones
// are a clear error, and PostgreSQL's go to the driver as written.
func TestDSNParameters(t *testing.T) {
	tests := []struct {
		name, dsn string
		// wantErr is part of the error; "" means accepted.
		wantErr string
		check   func(t *testing.T, dsn string)
	}{
		{name: "plain sqlite", dsn: "sqlite://a.db", check: func(t *testing.T, dsn string) {
			c, _ := parseSQLiteDSN(dsn)
			if c.path != "a.db" || len(c.params) != 0 || c.walLimit != DefaultWALLimit {
				t.Errorf("got %+v", c)
			}
		}},
		{name: "tunables pass through", dsn: "sqlite:///var/lib/l.db?_busy_timeout=2500&_sync=FULL&_cache_size=-8000&_journal_size_limit=8388608",
			check: func(t *testing.T, dsn string) {
				c, _ := parseSQLiteDSN(dsn)
				if c.path != "/var/lib/l.db" || c.params.Get("_busy_timeout") != "2500" || c.params.Get("_synchronous") != "FULL" ||
					c.params.Get("_cache_size") != "-8000" || c.walLimit != 8<<20 {
					t.Errorf("got %+v", c)
				}
			}},
		{name: "txlock is ours", dsn: "sqlite://a.db?_txlock=deferred", wantErr: "_txlock is set by Latchkey"},
		{name: "journal mode is ours", dsn: "sqlite://a.db?_journal_mode=DELETE", wantErr: "_journal_mode is set by Latchkey"},
		{name: "foreign keys are ours", dsn: "sqlite://a.db?_fk=off", wantErr: "_fk is set by Latchkey"},
		{name: "read-only is refused", dsn: "sqlite://a.db?mode=ro", wantErr: "mode is set by Latchkey"},
		{name: "unknown", dsn: "sqlite://a.db?_busy_timout=5", wantErr: "unknown sqlite parameter _busy_timout (accepted: _auto_vacuum, _busy_timeout"},
		{name: "bad value", dsn: "sqlite://a.db?_synchronous=sometimes", wantErr: "_synchronous: want OFF, NORMAL, FULL or EXTRA"},
		{name: "negative timeout", dsn: "sqlite://a.db?_busy_timeout=-1", wantErr: "_busy_timeout: want milliseconds"},
		{name: "tiny WAL limit", dsn: "sqlite://a.db?_journal_size_limit=4096", wantErr: "at least 1048576"},
		{name: "alias and name", dsn: "sqlite://a.db?_sync=FULL&_synchronous=OFF", wantErr: "given twice"},
		{name: "repeated", dsn: "sqlite://a.db?_cache_size=1&_cache_size=2", wantErr: "given 2 times"},
		{name: "no path", dsn: "sqlite://?_sync=FULL", wantErr: "needs a file path"},
		{name: "postgres verbatim", dsn: "postgres://u:p@db:5432/l?sslmode=verify-full&application_name=latchkey&statement_timeout=5000",
			check: func(t *testing.T, dsn string) {
				c, _ := parsePostgresDSN(dsn)
				if c.dsn != dsn || c.maxConns != 32 {
					t.Errorf("got %+v", c)
				}
			}},
		{name: "postgres pool size is ours to read", dsn: "postgresql://u@db/l?sslmode=disable&pool_max_conns=8",
			check: func(t *testing.T, dsn string) {
				c, _ := parsePostgresDSN(dsn)
				if c.maxConns != 8 || strings.Contains(c.dsn, "pool_max_conns") || !strings.Contains(c.dsn, "sslmode=disable") {
					t.Errorf("got %+v", c)
				}
			}},
		{name: "postgres pool size bounds", dsn: "postgres://u@db/l?pool_max_conns=0", wantErr: "pool_max_conns: want one whole number from 1 to 1000"},
		{name: "other scheme", dsn: "mysql://u@db/l", wantErr: "unsupported database"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckDSN(tt.dsn)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("CheckDSN: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("CheckDSN: %v, want an error with %q", err, tt.wantErr)
			case err != nil && strings.Contains(err.Error(), "u:p@"):
				t.Fatalf("the error quotes the DSN's password: %v", err)
			}
			if tt.check != nil {
				tt.check(t, tt.dsn)
			}
		})
	}
}

// TestOpenAppliesSQLiteParameters: the parameters reach every connection,
// and a refused one stops Open.
func TestOpenAppliesSQLiteParameters(t *testing.T) {
	dir := t.TempDir()
	st, err := Open("sqlite://"+dir+"/p.db?_cache_size=-12345&_sync=FULL", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for name, db := range map[string]*sql.DB{"reader": st.pools.read, "writer": st.pools.write} {
		var cache, sync int
		if err := db.QueryRow("PRAGMA cache_size").Scan(&cache); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRow("PRAGMA synchronous").Scan(&sync); err != nil {
			t.Fatal(err)
		}
		if cache != -12345 || sync != 2 {
			t.Errorf("%s: cache_size %d synchronous %d, want -12345 and 2 (FULL)", name, cache, sync)
		}
	}
	if _, err := Open("sqlite://"+dir+"/q.db?_txlock=deferred", Options{}); err == nil || !strings.Contains(err.Error(), "_txlock") {
		t.Fatalf("Open with _txlock=deferred: %v, want a config error", err)
	}
}

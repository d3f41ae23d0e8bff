package store

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// The database.dsn query parameters. On SQLite the store sets its own
// defaults and an admin's parameter overrides one only where that cannot
// break what the store relies on; every other parameter is refused at
// start (and by `latchkey check`), because a silently dropped or silently
// honoured one would be worse:
//   - _txlock: the writer's transactions take the write lock up front
//     (immediate), so a read followed by a write in one transaction never
//     deadlocks on the lock upgrade;
//   - _journal_mode: WAL is what lets the read connections run beside the
//     writer;
//   - _foreign_keys: deletes rely on the schema's constraints;
//   - _query_only, mode, _locking_mode, cache, immutable, _mutex, _loc and
//     the rest: they would make the file unwritable, lock the readers out,
//     or change how times are read back.
//
// On PostgreSQL the DSN goes to the driver as written (sslmode,
// connect_timeout, application_name, search_path, statement_timeout...),
// except pool_max_conns, which the store reads itself.

// sqliteTunable maps each parameter an admin may set (and its driver
// alias) to the name the store passes on; the values are checked by
// checkSQLiteParam.
var sqliteTunable = map[string]string{
	"_busy_timeout":       "_busy_timeout",
	"_timeout":            "_busy_timeout",
	"_synchronous":        "_synchronous",
	"_sync":               "_synchronous",
	"_cache_size":         "_cache_size",
	"_secure_delete":      "_secure_delete",
	"_auto_vacuum":        "_auto_vacuum",
	"_vacuum":             "_auto_vacuum",
	"_journal_size_limit": "_journal_size_limit",
}

// sqliteOwned are parameters the store must set itself, with the reason
// the error gives.
var sqliteOwned = map[string]string{
	"_txlock":          "transactions take the write lock up front (immediate) so they never deadlock",
	"_journal_mode":    "the store needs WAL so reads run beside the writer",
	"_journal":         "the store needs WAL so reads run beside the writer",
	"_foreign_keys":    "the schema's constraints must be enforced",
	"_fk":              "the schema's constraints must be enforced",
	"_query_only":      "the store writes",
	"mode":             "the store opens the file read-write",
	"_locking_mode":    "an exclusive lock would shut the read connections out",
	"_locking":         "an exclusive lock would shut the read connections out",
	"cache":            "each connection needs its own cache for WAL reads",
	"immutable":        "the store writes",
	"_loc":             "times are stored and read back in UTC",
	"_writable_schema": "the schema is changed only by migrations",
}

// DefaultWALLimit is the size past which the SQLite write-ahead log is
// checkpointed and truncated (_journal_size_limit overrides it).
const DefaultWALLimit = 64 << 20

// sqliteConfig is a parsed sqlite:// DSN.
type sqliteConfig struct {
	path string
	// params are the admin's driver parameters, canonically named.
	params url.Values
	// walLimit is _journal_size_limit, which the store applies itself.
	walLimit int64
}

func parseSQLiteDSN(dsn string) (sqliteConfig, error) {
	path, err := sqlitePath(dsn)
	if err != nil {
		return sqliteConfig{}, err
	}
	cfg := sqliteConfig{path: path, params: url.Values{}, walLimit: DefaultWALLimit}
	_, rawQuery, _ := strings.Cut(strings.TrimPrefix(dsn, "sqlite://"), "?")
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return sqliteConfig{}, fmt.Errorf("database.dsn: the query string does not parse: %w", err)
	}
	var errs []error
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range q {
			if !yield(k) {
				return
			}
		}
	}) {
		v := q.Get(k)
		if len(q[k]) > 1 {
			errs = append(errs, fmt.Errorf("database.dsn: parameter %s is given %d times", k, len(q[k])))
			continue
		}
		if why, ok := sqliteOwned[k]; ok {
			errs = append(errs, fmt.Errorf("database.dsn: parameter %s is set by Latchkey and cannot be changed (%s)", k, why))
			continue
		}
		name, ok := sqliteTunable[k]
		if !ok {
			errs = append(errs, fmt.Errorf("database.dsn: unknown sqlite parameter %s (accepted: %s)", k, acceptedSQLiteParams()))
			continue
		}
		if _, dup := cfg.params[name]; dup {
			errs = append(errs, fmt.Errorf("database.dsn: parameter %s is given twice (under two names)", name))
			continue
		}
		if err := checkSQLiteParam(name, v); err != nil {
			errs = append(errs, fmt.Errorf("database.dsn: parameter %s: %w", k, err))
			continue
		}
		if name == "_journal_size_limit" {
			cfg.walLimit, _ = strconv.ParseInt(v, 10, 64)
		}
		cfg.params.Set(name, v)
	}
	if err := errors.Join(errs...); err != nil {
		return sqliteConfig{}, err
	}
	return cfg, nil
}

func acceptedSQLiteParams() string {
	var names []string
	for k, v := range sqliteTunable {
		if k == v {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

func checkSQLiteParam(name, v string) error {
	switch name {
	case "_busy_timeout":
		if n, err := strconv.ParseInt(v, 10, 64); err != nil || n < 0 {
			return errors.New("want milliseconds, a whole number of 0 or more")
		}
	case "_cache_size":
		// Negative means KiB, positive pages: SQLite's own convention.
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			return errors.New("want a whole number (pages, or KiB when negative)")
		}
	case "_journal_size_limit":
		if n, err := strconv.ParseInt(v, 10, 64); err != nil || n < 1<<20 {
			return errors.New("want bytes, a whole number of at least 1048576 (1 MiB)")
		}
	case "_synchronous":
		if !slices.Contains([]string{"OFF", "NORMAL", "FULL", "EXTRA", "0", "1", "2", "3"}, strings.ToUpper(v)) {
			return errors.New("want OFF, NORMAL, FULL or EXTRA")
		}
	case "_secure_delete":
		if !slices.Contains([]string{"ON", "OFF", "FAST", "TRUE", "FALSE", "1", "0"}, strings.ToUpper(v)) {
			return errors.New("want on, off or fast")
		}
	case "_auto_vacuum":
		if !slices.Contains([]string{"NONE", "FULL", "INCREMENTAL", "0", "1", "2"}, strings.ToUpper(v)) {
			return errors.New("want none, full or incremental")
		}
	}
	return nil
}

// postgresConfig is a postgres:// DSN with the store's own parameters
// taken out.
type postgresConfig struct {
	dsn      string
	maxConns int
}

func parsePostgresDSN(dsn string) (postgresConfig, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return postgresConfig{}, errors.New("database.dsn: not a valid PostgreSQL URL")
	}
	cfg := postgresConfig{dsn: dsn, maxConns: 32}
	q := u.Query()
	if v, ok := q["pool_max_conns"]; ok {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 1 || n > 1000 || len(v) > 1 {
			return postgresConfig{}, errors.New("database.dsn: parameter pool_max_conns: want one whole number from 1 to 1000")
		}
		cfg.maxConns = n
		q.Del("pool_max_conns")
		u.RawQuery = q.Encode()
		cfg.dsn = u.String()
	}
	return cfg, nil
}

// CheckDSN reports what is wrong with a database.dsn without opening it:
// an unsupported scheme, a missing path, or a query parameter the store
// does not accept (see above). Messages never quote the DSN, which may
// hold a password.
func CheckDSN(dsn string) error {
	switch {
	case strings.HasPrefix(dsn, "sqlite://"):
		_, err := parseSQLiteDSN(dsn)
		return err
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		_, err := parsePostgresDSN(dsn)
		return err
	default:
		return errors.New("database.dsn: unsupported database; use sqlite://PATH or postgres://user:pass@host:5432/db")
	}
}

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// ErrNotFound is returned when a looked-up record does not exist (or has
// expired, been consumed or been revoked: callers need not tell those apart).
var ErrNotFound = errors.New("not found")

// ErrConflict is returned when a unique value (an email, say) is taken.
var ErrConflict = errors.New("already exists")

// Store is the one database handle; every method is safe for concurrent use.
type Store struct {
	db       *gorm.DB
	postgres bool
	now      func() time.Time
	// pools are SQLite's writer and readers; nil on PostgreSQL.
	pools *sqlitePools
	// onStatement is Options.OnStatement, told of the hand-written
	// statements too (exec, queryRow).
	onStatement func(string, int64)
}

// Options tune Open; the zero value is fine.
type Options struct {
	// Now is the clock used for expiries; nil means time.Now.
	Now func() time.Time
	// Logger receives slow-query and error logs from gorm; nil silences them.
	Logger *slog.Logger
	// BusyTimeout is how long a SQLite writer waits for the lock; zero
	// means 10 s. Fault tests shorten it.
	BusyTimeout time.Duration
	// OnStatement, when set, is told every statement run (its SQL with
	// placeholders, and the rows it returned or changed): tests count
	// what a request costs the database with it.
	OnStatement func(sql string, rows int64)
}

// Open connects to the database named by dsn: sqlite://relative.db,
// sqlite:///absolute/path.db or postgres://user:pass@host:port/db, each
// with the query parameters CheckDSN accepts. It does not migrate; call
// Migrate.
func Open(dsn string, opts Options) (*Store, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	gcfg := &gorm.Config{
		Logger:                 logger.Discard,
		SkipDefaultTransaction: true,
		NowFunc:                func() time.Time { return opts.Now().UTC() },
		TranslateError:         true,
	}
	switch {
	case strings.HasPrefix(dsn, "sqlite://"):
		pools, err := openSQLite(dsn, opts)
		if err != nil {
			return nil, err
		}
		db, err := gorm.Open(sqlite.Dialector{Conn: pools}, gcfg)
		if err != nil {
			pools.Close()
			return nil, fmt.Errorf("open sqlite %s: %w", pools.path, err)
		}
		if err := trace(db, opts.OnStatement); err != nil {
			pools.Close()
			return nil, err
		}
		return &Store{db: db, now: opts.Now, pools: pools, onStatement: opts.OnStatement}, nil
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		pg, err := parsePostgresDSN(dsn)
		if err != nil {
			return nil, err
		}
		db, err := gorm.Open(postgres.Open(pg.dsn), gcfg)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		sqlDB, err := db.DB()
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		sqlDB.SetMaxOpenConns(pg.maxConns)
		sqlDB.SetMaxIdleConns(pg.maxConns)
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
		if err := trace(db, opts.OnStatement); err != nil {
			sqlDB.Close()
			return nil, err
		}
		return &Store{db: db, postgres: true, now: opts.Now, onStatement: opts.OnStatement}, nil
	default:
		return nil, fmt.Errorf("database.dsn: unsupported scheme in %q (want sqlite:// or postgres://)", redactDSN(dsn))
	}
}

// trace registers fn after each of gorm's statement kinds.
func trace(db *gorm.DB, fn func(string, int64)) error {
	if fn == nil {
		return nil
	}
	cb := func(tx *gorm.DB) { fn(tx.Statement.SQL.String(), tx.RowsAffected) }
	cbs := db.Callback()
	return errors.Join(
		cbs.Create().After("gorm:create").Register("latchkey:trace", cb),
		cbs.Query().After("gorm:query").Register("latchkey:trace", cb),
		cbs.Update().After("gorm:update").Register("latchkey:trace", cb),
		cbs.Delete().After("gorm:delete").Register("latchkey:trace", cb),
		cbs.Row().After("gorm:row").Register("latchkey:trace", cb),
		cbs.Raw().After("gorm:raw").Register("latchkey:trace", cb),
	)
}

// SQLitePath returns the file a sqlite:// DSN names, or "" for other DSNs.
func SQLitePath(dsn string) string {
	p, err := sqlitePath(dsn)
	if err != nil {
		return ""
	}
	return p
}

func sqlitePath(dsn string) (string, error) {
	p := strings.TrimPrefix(dsn, "sqlite://")
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	if p == "" {
		return "", errors.New("database.dsn: sqlite:// needs a file path")
	}
	return filepath.Clean(p), nil
}

func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparseable)"
	}
	return u.Redacted()
}

// IsPostgres tells whether the store runs on PostgreSQL.
func (s *Store) IsPostgres() bool { return s.postgres }

// Now is the store's clock.
func (s *Store) Now() time.Time { return s.now().UTC() }

// Close releases the connection pool.
func (s *Store) Close() error {
	if s.pools != nil {
		return s.pools.Close()
	}
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// SQL is the connection pool, for its statistics (metrics); nil when gorm
// has none. On SQLite it is the one-connection writer pool, whose wait
// count shows writers queueing.
func (s *Store) SQL() *sql.DB {
	if s.pools != nil {
		return s.pools.write
	}
	db, err := s.db.DB()
	if err != nil {
		return nil
	}
	return db
}

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if s.pools != nil {
		return errors.Join(s.pools.read.PingContext(ctx), s.pools.write.PingContext(ctx))
	}
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
}

type txKey struct{}

// conn returns the transaction carried by ctx, or the pool.
func (s *Store) conn(ctx context.Context) *gorm.DB {
	if tx, ok := ctx.Value(txKey{}).(*gorm.DB); ok {
		return tx
	}
	return s.db.WithContext(ctx)
}

// BeginTx starts a transaction that every store call made with the returned
// context joins. It implements fosite's storage.Transactional.
func (s *Store) BeginTx(ctx context.Context) (context.Context, error) {
	if _, ok := ctx.Value(txKey{}).(*gorm.DB); ok {
		return ctx, errors.New("begin transaction: one is already open in this context")
	}
	tx := s.db.WithContext(ctx).Begin()
	if tx.Error != nil {
		return ctx, fmt.Errorf("begin transaction: %w", tx.Error)
	}
	return withAfterCommit(context.WithValue(ctx, txKey{}, tx), ctx), nil
}

// Commit commits the transaction BeginTx put in ctx.
func (s *Store) Commit(ctx context.Context) error {
	tx, ok := ctx.Value(txKey{}).(*gorm.DB)
	if !ok {
		return errors.New("commit: no transaction in context")
	}
	if err := tx.Commit().Error; err != nil {
		return err
	}
	runAfterCommit(ctx)
	return nil
}

// Rollback abandons the transaction BeginTx put in ctx.
func (s *Store) Rollback(ctx context.Context) error {
	tx, ok := ctx.Value(txKey{}).(*gorm.DB)
	if !ok {
		return errors.New("rollback: no transaction in context")
	}
	return tx.Rollback().Error
}

// Transaction runs fn as one change: store calls made with the context fn
// receives join the transaction, which commits when fn returns nil and
// rolls back otherwise. Inside another transaction it joins that one.
func (s *Store) Transaction(ctx context.Context, fn func(ctx context.Context) error) error {
	if _, ok := ctx.Value(txKey{}).(*gorm.DB); ok {
		return fn(ctx)
	}
	txCtx := withAfterCommit(ctx, ctx)
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return fn(context.WithValue(txCtx, txKey{}, tx))
	})
	if err != nil {
		return err
	}
	runAfterCommit(txCtx)
	return nil
}

// pool is what a hand-written statement runs on: the transaction carried
// by ctx, or the connection pool (on SQLite the router of sqlite.go).
func (s *Store) pool(ctx context.Context) gorm.ConnPool {
	if tx, ok := ctx.Value(txKey{}).(*gorm.DB); ok {
		return tx.Statement.ConnPool
	}
	return s.db.ConnPool
}

// exec runs a hand-written statement that writes; errors are translated
// as gorm's are (ErrDuplicatedKey).
func (s *Store) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	res, err := s.pool(ctx).ExecContext(ctx, query, args...)
	if err != nil {
		if tr, ok := s.db.Dialector.(gorm.ErrorTranslator); ok {
			err = tr.Translate(err)
		}
		return nil, err
	}
	if s.onStatement != nil {
		n, _ := res.RowsAffected()
		s.onStatement(query, n)
	}
	return res, nil
}

// queryRow runs a hand-written query for one row. OnStatement hears of it
// with -1 rows: the count is known only to the caller's Scan.
func (s *Store) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if s.onStatement != nil {
		s.onStatement(query, -1)
	}
	return s.pool(ctx).QueryRowContext(ctx, query, args...)
}

// inTx runs fn in a transaction, joining the one in ctx if there is one.
func (s *Store) inTx(ctx context.Context, fn func(tx *gorm.DB) error) error {
	if tx, ok := ctx.Value(txKey{}).(*gorm.DB); ok {
		return fn(tx)
	}
	return s.db.WithContext(ctx).Transaction(fn)
}

func notFound(err error) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return ErrNotFound
	}
	return err
}

// Describe names the database for logs, without credentials.
func (s *Store) Describe() string {
	if s.postgres {
		return "postgres"
	}
	return "sqlite"
}

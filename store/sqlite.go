package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mattn/go-sqlite3"
	"gorm.io/gorm"
)

// sqlitePools sends each statement gorm runs to one of two pools on one
// SQLite file. SQLite has one writer at a time: with writes spread over
// many connections, all but one spin in the busy handler (sleeping and
// retrying) and each retry costs CPU. Here every write and every
// transaction goes to a pool of ONE connection, so writers queue in
// database/sql, woken in turn; plain SELECTs go to a pool of query-only
// connections, which WAL lets run beside the writer. A write sent to the
// readers by mistake fails loudly (query_only) instead of racing.
//
// The write-ahead log is bounded: when the -wal file has grown past half
// of walLimit (see boundWAL), the writer runs a TRUNCATE checkpoint. SQLite's
// automatic checkpoint is PASSIVE and cannot restart the log while readers
// keep using it, so under steady reads the log only grows (845 MB beside a
// 94 MB database in the load benchmark); TRUNCATE waits (busy handler) for
// the readers of older snapshots, copies the log into the database and
// cuts the file to zero.
type sqlitePools struct {
	path        string
	read, write *sql.DB
	// wait bounds how long a writer waits for the write connection, as
	// busy_timeout bounded the wait for SQLite's lock: a write made
	// outside a transaction the same goroutine holds fails after it
	// instead of hanging.
	wait          time.Duration
	walPath       string
	walLimit      int64
	commits       atomic.Uint64
	checkpointing atomic.Bool
}

var (
	_ gorm.ConnPool         = (*sqlitePools)(nil)
	_ gorm.ConnPoolBeginner = (*sqlitePools)(nil)
	_ gorm.Tx               = (*sqliteTx)(nil)
)

// errWriterBusy is returned when the write connection stayed taken for the
// whole wait.
var errWriterBusy = errors.New("sqlite: the write connection stayed busy")

func openSQLite(dsn string, opts Options) (*sqlitePools, error) {
	cfg, err := parseSQLiteDSN(dsn)
	if err != nil {
		return nil, err
	}
	wait := 10 * time.Second
	if opts.BusyTimeout > 0 {
		wait = opts.BusyTimeout
	}
	if v := cfg.params.Get("_busy_timeout"); v != "" {
		ms, _ := strconv.ParseInt(v, 10, 64)
		wait = time.Duration(ms) * time.Millisecond
	}
	common := url.Values{}
	common.Set("_busy_timeout", strconv.FormatInt(wait.Milliseconds(), 10))
	common.Set("_foreign_keys", "on")
	common.Set("_synchronous", "NORMAL")
	for _, k := range []string{"_synchronous", "_cache_size", "_secure_delete"} {
		if v := cfg.params.Get(k); v != "" {
			common.Set(k, v)
		}
	}
	w := cloneValues(common)
	// Immediate transactions take the write lock up front, so a
	// transaction that reads then writes never fails on the lock upgrade
	// when another process (an admin's sqlite3 shell, a second replica)
	// writes too.
	w.Set("_journal_mode", "WAL")
	w.Set("_txlock", "immediate")
	if v := cfg.params.Get("_auto_vacuum"); v != "" {
		w.Set("_auto_vacuum", v)
	}
	r := cloneValues(common)
	r.Set("_query_only", "true")

	limit := cfg.walLimit
	writer := sql.OpenDB(sqliteConnector{dsn: "file:" + cfg.path + "?" + w.Encode(), driver: &sqlite3.SQLiteDriver{
		// The log file is cut back to this size whenever it restarts.
		ConnectHook: func(c *sqlite3.SQLiteConn) error {
			_, err := c.Exec("PRAGMA journal_size_limit = "+strconv.FormatInt(limit, 10), nil)
			return err
		},
	}})
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	// The writer opens first: it turns the file to WAL, which a query-only
	// connection cannot.
	if err := writer.Ping(); err != nil {
		writer.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", cfg.path, err)
	}
	reader := sql.OpenDB(sqliteConnector{dsn: "file:" + cfg.path + "?" + r.Encode(), driver: &sqlite3.SQLiteDriver{}})
	// Idle readers are kept while there is traffic (opening one runs its
	// pragmas again and starts with a cold page cache) and closed after a
	// quiet minute, which gives their caches' memory back.
	reader.SetMaxOpenConns(8)
	reader.SetMaxIdleConns(8)
	reader.SetConnMaxIdleTime(time.Minute)
	return &sqlitePools{path: cfg.path, read: reader, write: writer, wait: wait,
		walPath: cfg.path + "-wal", walLimit: limit}, nil
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// sqliteConnector opens connections with a driver of our own, which
// carries the writer's connect hook.
type sqliteConnector struct {
	dsn    string
	driver *sqlite3.SQLiteDriver
}

func (c sqliteConnector) Connect(context.Context) (driver.Conn, error) { return c.driver.Open(c.dsn) }
func (c sqliteConnector) Driver() driver.Driver                        { return c.driver }

// isRead tells a plain query from a statement that writes (INSERT ...
// RETURNING comes through QueryContext too).
func isRead(query string) bool {
	q := strings.TrimLeft(query, " \t\r\n(")
	return len(q) >= 6 && strings.EqualFold(q[:6], "SELECT")
}

// writer takes the write connection, waiting at most p.wait.
func (p *sqlitePools) writer(ctx context.Context) (*sql.Conn, error) {
	wctx, cancel := context.WithTimeout(ctx, p.wait)
	defer cancel()
	conn, err := p.write.Conn(wctx)
	if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return nil, fmt.Errorf("%w for %s", errWriterBusy, p.wait)
	}
	return conn, err
}

func (p *sqlitePools) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	if isRead(query) {
		return p.read.PrepareContext(ctx, query)
	}
	return p.write.PrepareContext(ctx, query)
}

// The statements run with their context's cancellation taken off (run):
// the driver runs a statement, and each row fetch, on a goroutine of its
// own whenever the context can be cancelled, so that it can interrupt it.
// The store's statements are short (point reads, few-row writes) and a
// writer's wait is bounded by p.wait, so the interruption buys nothing and
// the goroutine was paid on every statement of every request. Waiting for
// the write connection and a transaction's life still follow the request:
// a transaction whose request is cancelled is rolled back.
func run(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

func (p *sqlitePools) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	conn, err := p.writer(ctx)
	if err != nil {
		return nil, err
	}
	res, err := conn.ExecContext(run(ctx), query, args...)
	conn.Close()
	if err == nil {
		p.boundWAL()
	}
	return res, err
}

// QueryContext sends a write with RETURNING through the write pool
// itself: the connection stays taken until the rows are closed.
func (p *sqlitePools) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if isRead(query) {
		return p.read.QueryContext(run(ctx), query, args...)
	}
	return p.write.QueryContext(ctx, query, args...)
}

func (p *sqlitePools) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if isRead(query) && ctx.Err() == nil {
		return p.read.QueryRowContext(run(ctx), query, args...)
	}
	return p.write.QueryRowContext(ctx, query, args...)
}

// BeginTx starts a transaction on the write connection: reads inside it
// see its own writes, and it holds the writer until it ends.
func (p *sqlitePools) BeginTx(ctx context.Context, opts *sql.TxOptions) (gorm.ConnPool, error) {
	conn, err := p.writer(ctx)
	if err != nil {
		return nil, err
	}
	tx, err := conn.BeginTx(ctx, opts)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return &sqliteTx{Tx: tx, conn: conn, pools: p}, nil
}

// GetDBConn lets gorm's db.DB() answer; it is the writer.
func (p *sqlitePools) GetDBConn() (*sql.DB, error) { return p.write, nil }

func (p *sqlitePools) Close() error {
	return errors.Join(p.read.Close(), p.write.Close())
}

// walCheckEvery is how many commits pass between two looks at the log's
// size: a stat is a system call, dearer than the rest of this path.
const walCheckEvery = 16

// boundWAL checkpoints and truncates the log once it is past half the
// limit, looking every walCheckEvery commits, so it stays under the limit
// unless those commits write more than the other half. It runs in the
// writing request, after its connection is released; one checkpoint at a
// time, the others go on.
func (p *sqlitePools) boundWAL() {
	if p.walLimit <= 0 || p.commits.Add(1)%walCheckEvery != 0 {
		return
	}
	fi, err := os.Stat(p.walPath)
	if err != nil || fi.Size() <= p.walLimit/2 {
		return
	}
	if !p.checkpointing.CompareAndSwap(false, true) {
		return
	}
	defer p.checkpointing.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), p.wait)
	defer cancel()
	// A checkpoint that could not finish (a reader stayed past the busy
	// timeout) is retried after the next write.
	_, _ = p.write.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
}

// sqliteTx is a transaction on the write connection; ending it gives the
// connection back.
type sqliteTx struct {
	*sql.Tx
	conn  *sql.Conn
	pools *sqlitePools
	done  atomic.Bool
}

func (t *sqliteTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.Tx.ExecContext(run(ctx), query, args...)
}

func (t *sqliteTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return t.Tx.QueryContext(run(ctx), query, args...)
}

func (t *sqliteTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return t.Tx.QueryRowContext(run(ctx), query, args...)
}

func (t *sqliteTx) Commit() error {
	err := t.Tx.Commit()
	t.release()
	if err == nil {
		t.pools.boundWAL()
	}
	return err
}

func (t *sqliteTx) Rollback() error {
	err := t.Tx.Rollback()
	t.release()
	return err
}

func (t *sqliteTx) release() {
	if t.done.CompareAndSwap(false, true) {
		t.conn.Close()
	}
}

package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
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
	// instead of hanging. Zero means never wait (see writer).
	wait time.Duration
	// zeroWait serializes the look and the take of a zero wait.
	zeroWait      sync.Mutex
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

// writer takes the write connection, waiting at most p.wait, whatever
// ctx allows. Everything bound for the writer comes through here: plain
// writes, writes with RETURNING, transactions and the WAL checkpoint.
func (p *sqlitePools) writer(ctx context.Context) (*sql.Conn, error) {
	if p.wait <= 0 {
		return p.writerNow(ctx)
	}
	wctx, cancel := context.WithTimeout(ctx, p.wait)
	defer cancel()
	conn, err := p.write.Conn(wctx)
	if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return nil, p.busy()
	}
	return conn, err
}

// writerNow is writer for a zero wait (_busy_timeout=0: never wait). An
// expired deadline cannot express it: database/sql refuses an ended
// context before it looks for a free connection, so even a free writer
// was refused and every write failed. Instead the writer is taken when
// nobody holds it and refused at once otherwise. With a zero wait every
// taker comes here, and the mutex makes the look and the take one step,
// so the take never waits (but for a moment behind a Ping).
func (p *sqlitePools) writerNow(ctx context.Context) (*sql.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p.zeroWait.Lock()
	defer p.zeroWait.Unlock()
	if p.write.Stats().InUse > 0 {
		return nil, p.busy()
	}
	return p.write.Conn(ctx)
}

func (p *sqlitePools) busy() error { return fmt.Errorf("%w for %s", errWriterBusy, p.wait) }

// releaseWrite gives the write connection back after a write and counts
// the write toward the WAL check (boundWAL), which runs after the release.
func (p *sqlitePools) releaseWrite(conn *sql.Conn) {
	conn.Close()
	p.boundWAL()
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
	if err != nil {
		conn.Close()
		return nil, err
	}
	p.releaseWrite(conn)
	return res, nil
}

// QueryContext sends a write with RETURNING (gorm's inserts of rows with
// an autoincrement or default column: audit events, users...; updates
// with clause.Returning) to the writer, taken as for any write (see
// queryWrite).
func (p *sqlitePools) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if isRead(query) {
		return p.read.QueryContext(run(ctx), query, args...)
	}
	rows, err := p.queryWrite(ctx, query, args)
	if err != nil {
		return nil, err
	}
	return replayDB.QueryContext(replayContext(rows, nil), "")
}

func (p *sqlitePools) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if ctx.Err() != nil {
		// database/sql sees the ended context before it takes a
		// connection: the Row carries ctx's error.
		return p.read.QueryRowContext(ctx, query, args...)
	}
	if isRead(query) {
		return p.read.QueryRowContext(run(ctx), query, args...)
	}
	rows, err := p.queryWrite(ctx, query, args)
	return replayDB.QueryRowContext(replayContext(rows, err), "")
}

// queryWrite runs a write with RETURNING on the writer and reads its rows
// whole before giving the writer back; the caller gets them from memory
// (replayDB). Rows straight from the writer would keep it until the
// caller closed them, and nothing of ours runs then: the release would be
// left to a goroutine, and a write right after, in the same goroutine,
// could find the writer still taken (refused at once with a zero wait).
// RETURNING gives back a few short rows.
func (p *sqlitePools) queryWrite(ctx context.Context, query string, args []any) (*replayRows, error) {
	conn, err := p.writer(ctx)
	if err != nil {
		return nil, err
	}
	out, err := readAll(run(ctx), conn, query, args)
	if err != nil {
		conn.Close()
		return nil, err
	}
	p.releaseWrite(conn)
	return out, nil
}

func readAll(ctx context.Context, conn *sql.Conn, query string, args []any) (*replayRows, error) {
	rows, err := conn.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.ColumnTypes()
	if err != nil {
		return nil, err
	}
	out := &replayRows{}
	for _, c := range cols {
		out.cols = append(out.cols, c.Name())
		out.types = append(out.types, c.DatabaseTypeName())
		out.scanTypes = append(out.scanTypes, c.ScanType())
	}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		// Into *any the driver's values come as they are ([]byte copied).
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		out.vals = append(out.vals, vals)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, rows.Close()
}

// replayDB hands back rows read already (queryWrite's), or an error, as a
// *sql.Rows or *sql.Row, which only database/sql can make: its driver
// answers every query with what the context carries.
var replayDB = sql.OpenDB(replayConnector{})

type replayKey struct{}

type replayed struct {
	rows *replayRows
	err  error
}

func replayContext(rows *replayRows, err error) context.Context {
	return context.WithValue(context.Background(), replayKey{}, replayed{rows, err})
}

var errReplayOnly = errors.New("sqlite: the replay connection only hands back rows read already")

type replayConnector struct{}

func (replayConnector) Connect(context.Context) (driver.Conn, error) { return replayConn{}, nil }
func (replayConnector) Driver() driver.Driver                        { return replayDriver{} }

type replayDriver struct{}

func (replayDriver) Open(string) (driver.Conn, error) { return replayConn{}, nil }

type replayConn struct{}

func (replayConn) Prepare(string) (driver.Stmt, error) { return nil, errReplayOnly }
func (replayConn) Close() error                        { return nil }
func (replayConn) Begin() (driver.Tx, error)           { return nil, errReplayOnly }

func (replayConn) QueryContext(ctx context.Context, _ string, _ []driver.NamedValue) (driver.Rows, error) {
	r, ok := ctx.Value(replayKey{}).(replayed)
	switch {
	case !ok:
		return nil, errReplayOnly
	case r.err != nil:
		return nil, r.err
	}
	// A copy: the rows are read once, by whoever gets them.
	rows := *r.rows
	return &rows, nil
}

// replayRows are the columns and rows of a statement, read already, with
// the column types the driver gave (gorm's Scan asks for them).
type replayRows struct {
	cols, types []string
	scanTypes   []reflect.Type
	vals        [][]any
}

func (r *replayRows) Columns() []string                       { return r.cols }
func (r *replayRows) ColumnTypeDatabaseTypeName(i int) string { return r.types[i] }
func (r *replayRows) ColumnTypeScanType(i int) reflect.Type   { return r.scanTypes[i] }
func (r *replayRows) Close() error                            { return nil }

func (r *replayRows) Next(dest []driver.Value) error {
	if len(r.vals) == 0 {
		return io.EOF
	}
	for i, v := range r.vals[0] {
		dest[i] = v
	}
	r.vals = r.vals[1:]
	return nil
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
	// A checkpoint that could not start (the writer stayed busy) or finish
	// (a reader stayed past the busy timeout, which bounds its wait) is
	// retried after the next walCheckEvery writes.
	conn, err := p.writer(context.Background())
	if err != nil {
		return
	}
	_, _ = conn.ExecContext(context.Background(), "PRAGMA wal_checkpoint(TRUNCATE)")
	conn.Close()
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

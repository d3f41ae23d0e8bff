package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/mattn/go-sqlite3"
	"golang.org/x/crypto/argon2"

	"latchkey/login/password"

	"latchkey/internal/loadgen"
)

// limits are what the hardware allows, measured in the same run.
type limits struct {
	Handler    result  // a minimal handler through the load generator
	SQLiteTx   float64 // write transactions per second
	RS256      float64 // signatures per second on GOMAXPROCS goroutines
	ES256      float64
	Argon2     time.Duration // one hash at password.OWASP
	LoginLimit float64       // GOMAXPROCS / Argon2
}

func measureLimits(dir string, n counts) (limits, error) {
	var l limits
	var err error
	if l.Handler, err = minimalHandler(n.fast, n.conc); err != nil {
		return l, err
	}
	if l.SQLiteTx, err = sqliteTx(filepath.Join(dir, "limit.db"), n.fast); err != nil {
		return l, err
	}
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	l.RS256 = signRate(n.signs/10, func(d []byte) { _, _ = rsa.SignPKCS1v15(nil, rk, crypto.SHA256, d) })
	l.ES256 = signRate(n.signs, func(d []byte) { _, _ = ecdsa.SignASN1(rand.Reader, ek, d) })
	var times []time.Duration
	p := password.OWASP
	for range n.hashes {
		t := time.Now()
		argon2.IDKey([]byte("password"), make([]byte, p.SaltLen), p.Time, p.Memory, p.Threads, p.KeyLen)
		times = append(times, time.Since(t))
	}
	slices.Sort(times)
	l.Argon2 = times[len(times)/2]
	l.LoginLimit = float64(runtime.GOMAXPROCS(0)) / l.Argon2.Seconds()
	return l, nil
}

func minimalHandler(n, c int) (result, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return result{}, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, `{"ok":true}`)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	url := "http://" + ln.Addr().String() + "/"
	hc := loadgen.NewHTTPClient(c)
	return run("minimal handler", n, c, 0, func(int) (int, error) {
		resp, err := hc.Post(url, "application/x-www-form-urlencoded", strings.NewReader("token=x"))
		if err != nil {
			return 0, err
		}
		drain(resp)
		return resp.StatusCode, nil
	}), nil
}

// sqliteTx is one INSERT per transaction with Latchkey's pragmas (WAL,
// synchronous NORMAL), one writer.
func sqliteTx(path string, n int) (float64, error) {
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_synchronous=NORMAL&_txlock=immediate&_busy_timeout=10000")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE t (k TEXT PRIMARY KEY, v BLOB NOT NULL, at TIMESTAMP NOT NULL)`); err != nil {
		return 0, err
	}
	v := make([]byte, 300)
	start := time.Now()
	for i := range n {
		tx, err := db.Begin()
		if err != nil {
			return 0, err
		}
		if _, err := tx.Exec(`INSERT INTO t (k, v, at) VALUES (?, ?, ?)`, fmt.Sprintf("key-%d", i), v, time.Now()); err != nil {
			return 0, err
		}
		if err := tx.Commit(); err != nil {
			return 0, err
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

func signRate(n int, sign func(digest []byte)) float64 {
	d := sha256.Sum256([]byte("header.payload"))
	var next atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				sign(d[:])
			}
		})
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds()
}

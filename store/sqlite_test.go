package store

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestWALStaysBounded: under steady reads SQLite's automatic checkpoint
// cannot restart the log, so it grows with every write; the store keeps
// the -wal file under _journal_size_limit however much is written.
func TestWALStaysBounded(t *testing.T) {
	ctx := context.Background()
	const limit = 1 << 20
	path := filepath.Join(t.TempDir(), "wal.db")
	st, err := Open("sqlite://"+path+"?_journal_size_limit="+strconv.Itoa(limit), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	if err := st.CreateToken(ctx, &OAuthToken{Kind: KindAccessToken, Signature: "read-me", RequestID: "r", ClientID: "c",
		Active: true, Data: []byte("{}"), ExpiresAt: exp}); err != nil {
		t.Fatal(err)
	}

	// Readers keep snapshots open on the read pool the whole time, as
	// introspections do under load.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := st.GetToken(ctx, KindAccessToken, "read-me"); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()

	data := make([]byte, 8<<10)
	written, peak := int64(0), int64(0)
	for i := 0; written < 8*limit; i++ {
		tok := &OAuthToken{Kind: KindAccessToken, Signature: "sig-" + strconv.Itoa(i), RequestID: "req-" + strconv.Itoa(i),
			ClientID: "c", Active: true, Data: data, ExpiresAt: exp}
		if err := st.CreateToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		written += int64(len(data))
		fi, err := os.Stat(path + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		peak = max(peak, fi.Size())
		if fi.Size() > limit {
			t.Fatalf("after %d KiB written the WAL is %d KiB, over the %d KiB limit", written>>10, fi.Size()>>10, limit>>10)
		}
	}
	t.Logf("%d KiB written, WAL peak %d KiB (limit %d KiB)", written>>10, peak>>10, limit>>10)
}

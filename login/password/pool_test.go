package password_test

import (
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"latchkey/internal/testkit"
	"latchkey/login"
	"latchkey/login/password"
)

// gatedKDF stands in for argon2id: each call counts itself in flight and
// blocks until the test releases it.
type gatedKDF struct {
	inFlight, peak, entered atomic.Int64
	release                 chan struct{}
}

func newGatedKDF() *gatedKDF { return &gatedKDF{release: make(chan struct{})} }

func (g *gatedKDF) kdf(_, _ []byte, _, _ uint32, _ uint8, keyLen uint32) []byte {
	n := g.inFlight.Add(1)
	for {
		p := g.peak.Load()
		if n <= p || g.peak.CompareAndSwap(p, n) {
			break
		}
	}
	g.entered.Add(1)
	<-g.release
	g.inFlight.Add(-1)
	return make([]byte, keyLen)
}

// waitUntil polls a condition the goroutines under test reach by
// themselves; the deadline only bounds a broken run.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}

// TestPoolBoundsConcurrentHashes: 32 password checks at once never run more
// than GOMAXPROCS hashes at the same time; the others queue and all finish.
func TestPoolBoundsConcurrentHashes(t *testing.T) {
	const n = 32
	h := &password.Hasher{Params: cheap}
	enc := mustHash(t, h, "right")
	g := newGatedKDF()
	h2 := &password.Hasher{Params: cheap, Pool: password.NewPool(0, n, time.Minute)}
	password.SetKDF(h2, g.kdf)
	limit := runtime.GOMAXPROCS(0)
	if h2.Pool.Size() != limit {
		t.Fatalf("default pool size %d, want GOMAXPROCS %d", h2.Pool.Size(), limit)
	}

	var errs []error
	done := make(chan struct{})
	go func() {
		errs = testkit.Race(n, func(int) error {
			_, _, err := h2.Check("wrong", enc)
			return err
		})
		close(done)
	}()
	// Every check has either started hashing or joined the queue.
	waitUntil(t, "all checks are hashing or queued", func() bool {
		return g.entered.Load()+int64(h2.Pool.Waiting()) >= n
	})
	if p := g.peak.Load(); p > int64(limit) {
		t.Fatalf("%d hashes ran at once, want at most GOMAXPROCS = %d", p, limit)
	}
	for range n {
		g.release <- struct{}{}
	}
	<-done
	for i, err := range errs {
		if err != nil {
			t.Errorf("check %d: %v", i, err)
		}
	}
	if p := g.peak.Load(); p > int64(limit) || p < 1 {
		t.Errorf("peak concurrent hashes %d, want 1..%d", p, limit)
	}
}

// TestPoolQueueAndDeadline: past the queue bound a check is refused at once,
// and a queued one gives up at the deadline, both with ErrBusy (503). The
// deadline is long enough for a loaded machine to see the check queued.
func TestPoolQueueAndDeadline(t *testing.T) {
	enc := mustHash(t, &password.Hasher{Params: cheap}, "right")
	g := newGatedKDF()
	h := &password.Hasher{Params: cheap, Pool: password.NewPool(1, 1, time.Second)}
	password.SetKDF(h, g.kdf)

	var wg sync.WaitGroup
	wg.Go(func() {
		if _, _, err := h.Check("wrong", enc); err != nil {
			t.Errorf("first check: %v", err)
		}
	})
	waitUntil(t, "the first check holds the slot", func() bool { return g.entered.Load() == 1 })

	queued := make(chan error, 1)
	go func() { _, _, err := h.Check("wrong", enc); queued <- err }()
	waitUntil(t, "the second check is queued", func() bool { return h.Pool.Waiting() == 1 })
	// The queue (1) is full: a third is refused without waiting.
	if _, _, err := h.Check("wrong", enc); !errors.Is(err, password.ErrBusy) || !errors.Is(err, login.ErrBusy) {
		t.Errorf("check past the queue bound = %v, want ErrBusy", err)
	}
	// The queued one's deadline passes while the slot stays taken.
	if err := <-queued; !errors.Is(err, login.ErrBusy) {
		t.Errorf("queued check past its deadline = %v, want ErrBusy", err)
	}
	if _, err := h.Hash("new"); !errors.Is(err, login.ErrBusy) {
		t.Errorf("Hash while the slot is taken = %v, want ErrBusy", err)
	}
	close(g.release)
	wg.Wait()
	if h.Pool.Waiting() != 0 {
		t.Errorf("%d still waiting", h.Pool.Waiting())
	}
}

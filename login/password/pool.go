package password

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"latchkey/login"
)

// ErrBusy is returned when a hash could not start in time: too many
// sign-ins at once. It wraps login.ErrBusy, which the pages answer with 503.
var ErrBusy = fmt.Errorf("password: %w", login.ErrBusy)

// Defaults of NewPool's zero arguments.
const (
	// DefaultQueuePerSlot waiters per slot may queue; more are refused at
	// once rather than holding connections and goroutines.
	DefaultQueuePerSlot = 32
	// DefaultWait is how long a hash may wait for a slot.
	DefaultWait = 10 * time.Second
)

// Pool bounds how many argon2id hashes run at once. Each takes its memory
// cost (19 MiB at OWASP's parameters) for its whole run, and running more
// hashes than there are CPUs only makes each slower: with a slot per
// GOMAXPROCS, peak memory is bounded and the hashes that run, run at full
// speed. The others wait in a bounded queue, each for at most a deadline.
type Pool struct {
	slots   chan struct{}
	waiting atomic.Int64
	queue   int64
	wait    time.Duration
}

// NewPool makes a pool of size slots (0: GOMAXPROCS) with at most queue
// waiters (0: DefaultQueuePerSlot per slot), each waiting at most wait
// (0: DefaultWait).
func NewPool(size, queue int, wait time.Duration) *Pool {
	if size <= 0 {
		size = runtime.GOMAXPROCS(0)
	}
	if queue <= 0 {
		queue = DefaultQueuePerSlot * size
	}
	if wait <= 0 {
		wait = DefaultWait
	}
	return &Pool{slots: make(chan struct{}, size), queue: int64(queue), wait: wait}
}

// Size is the number of hashes that may run at once.
func (p *Pool) Size() int { return cap(p.slots) }

func (p *Pool) acquire() error {
	select {
	case p.slots <- struct{}{}:
		return nil
	default:
	}
	if p.waiting.Add(1) > p.queue {
		p.waiting.Add(-1)
		return ErrBusy
	}
	defer p.waiting.Add(-1)
	t := time.NewTimer(p.wait)
	defer t.Stop()
	select {
	case p.slots <- struct{}{}:
		return nil
	case <-t.C:
		return ErrBusy
	}
}

func (p *Pool) release() { <-p.slots }

// Waiting is the number of hashes queued for a slot.
func (p *Pool) Waiting() int { return int(p.waiting.Load()) }

package testkit

import (
	"sync"
	"time"
)

// Clock is a settable clock for servers under test. It starts an hour in
// the past so that moving it forward never carries it past the real time
// fosite compares some timestamps with.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock at the real time less an hour.
func NewClock() *Clock {
	return &Clock{t: time.Now().Add(-time.Hour).Truncate(time.Second)}
}

// Now reads the clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

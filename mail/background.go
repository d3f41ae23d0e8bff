package mail

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Background hands each message to its own goroutine and returns at once,
// so a request never waits on (or leaks through its timing) a mail server,
// and a slow server never holds a database transaction. At most Limit
// messages are in flight; beyond that a message is dropped, logged and
// counted as failed, which bounds the work an unauthenticated request can
// cause.
type Background struct {
	Mailer Mailer
	Limit  int
	// Deadline bounds one message with its retries.
	Deadline time.Duration
	Count    func(outcome string)
	Log      *slog.Logger

	once sync.Once
	sem  chan struct{}
	wg   sync.WaitGroup
}

// Send implements Mailer; the error is only ever about the queue being full.
func (b *Background) Send(ctx context.Context, m Message) error {
	b.once.Do(func() { b.sem = make(chan struct{}, max(b.Limit, 1)) })
	select {
	case b.sem <- struct{}{}:
	default:
		if b.Count != nil {
			b.Count(OutcomeFailed)
		}
		if b.Log != nil {
			b.Log.ErrorContext(ctx, "mail dropped: too many messages in flight", "subject", m.Subject, "limit", cap(b.sem))
		}
		return errBusy
	}
	b.wg.Add(1)
	// The request's context ends with the response; the message must not.
	ctx = context.WithoutCancel(ctx)
	go func() {
		defer b.wg.Done()
		defer func() { <-b.sem }()
		d := b.Deadline
		if d <= 0 {
			d = 5 * time.Minute
		}
		ctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		// The sender logs and counts its own failures.
		_ = b.Mailer.Send(ctx, m)
	}()
	return nil
}

// Wait blocks until every message handed over so far is sent or given up
// (graceful shutdown, tests).
func (b *Background) Wait() { b.wg.Wait() }

type busyError struct{}

func (busyError) Error() string { return "mail: too many messages in flight" }

var errBusy error = busyError{}

package store

import (
	"context"
	"sync"
)

// Effects that must not run under a database lock (HTTP calls to relying
// parties, mail) are registered with AfterCommit by the code that decides
// them, inside the transaction, and run once it has committed. A rolled-back
// transaction drops them, so nobody is told about a change that was not made.

type afterKey struct{}

type afterCommit struct {
	mu sync.Mutex
	// base is the context the transaction was started from: the effects
	// run with it, outside the transaction.
	base context.Context
	fns  []func(ctx context.Context)
}

func withAfterCommit(ctx, base context.Context) context.Context {
	return context.WithValue(ctx, afterKey{}, &afterCommit{base: base})
}

// AfterCommit runs fn after the transaction carried by ctx commits, with a
// context outside that transaction; without a transaction it runs fn at
// once. Effects run in the order they were registered.
func AfterCommit(ctx context.Context, fn func(ctx context.Context)) {
	ac, ok := ctx.Value(afterKey{}).(*afterCommit)
	if !ok || ctx.Value(txKey{}) == nil {
		fn(ctx)
		return
	}
	ac.mu.Lock()
	ac.fns = append(ac.fns, fn)
	ac.mu.Unlock()
}

func runAfterCommit(ctx context.Context) {
	ac, ok := ctx.Value(afterKey{}).(*afterCommit)
	if !ok {
		return
	}
	ac.mu.Lock()
	fns := ac.fns
	ac.fns = nil
	ac.mu.Unlock()
	for _, fn := range fns {
		fn(ac.base)
	}
}

// Package sleep waits for a while unless a context ends first: the default
// of the injectable Sleep fields (login/lockout's slow-down, mail's retry
// back-off), so both stop waiting when the request or shutdown does.
package sleep

import (
	"context"
	"time"
)

// For waits d, or less when ctx ends (then it returns ctx's error).
func For(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

package store_test

import (
	"context"
	"testing"
	"time"

	"latchkey/internal/testkit"
	"latchkey/store"
)

// TestAttemptLock: the max-th failure within the window locks the key,
// exactly one of many concurrent failures reports the lock (one mail per
// lock), failures outside the window are forgotten, the lock ends by the
// clock, and ClearLockout lifts it.
func TestAttemptLock(t *testing.T) {
	eachTOTPBackend(t, func(t *testing.T, st *store.Store, clock *testkit.Clock) {
		ctx := context.Background()
		const max, window, dur = 5, 10 * time.Minute, 15 * time.Minute
		locked := func(key string) bool {
			until, err := st.LockedUntil(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			return !until.IsZero()
		}
		// Failures spread beyond the window never lock.
		for range 2 * max {
			if l, err := st.RecordFailure(ctx, "slow", max, window, dur); err != nil || l {
				t.Fatalf("slow failure: locked=%v err=%v", l, err)
			}
			clock.Advance(window / 3)
		}
		if locked("slow") {
			t.Fatal("failures spread over time locked the key")
		}

		errs := make([]bool, 20)
		for i, err := range testkit.Race(20, func(i int) (err error) {
			errs[i], err = st.RecordFailure(ctx, "burst", max, window, dur)
			return err
		}) {
			if err != nil {
				t.Fatalf("failure %d: %v", i, err)
			}
		}
		n := 0
		for _, l := range errs {
			if l {
				n++
			}
		}
		if n != 1 || !locked("burst") {
			t.Fatalf("%d of 20 concurrent failures reported the lock (want 1); locked=%v", n, locked("burst"))
		}
		clock.Advance(dur + time.Second)
		if locked("burst") {
			t.Fatal("still locked after the duration")
		}
		for range max {
			_, _ = st.RecordFailure(ctx, "burst", max, window, dur)
		}
		if !locked("burst") {
			t.Fatal("not locked again")
		}
		if err := st.ClearLockout(ctx, "burst"); err != nil || locked("burst") {
			t.Fatalf("clear: %v, locked=%v", err, locked("burst"))
		}
	})
}

// TestPurgeAttemptLocks: PurgeExpired deletes a counter once its window is
// over and keeps it while the window or its lock still runs. Rewinding the
// clock after a purge shows whether a row is really gone.
func TestPurgeAttemptLocks(t *testing.T) {
	eachTOTPBackend(t, func(t *testing.T, st *store.Store, clock *testkit.Clock) {
		ctx := context.Background()
		const max, window, dur = 3, 10 * time.Minute, 30 * time.Minute
		failures := func(key string) int {
			t.Helper()
			n, _, err := st.Attempts(ctx, key, window)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		locked := func(key string) bool {
			t.Helper()
			_, until, err := st.Attempts(ctx, key, window)
			if err != nil {
				t.Fatal(err)
			}
			return !until.IsZero()
		}
		purgeAt := func(d time.Duration) {
			t.Helper()
			clock.Advance(d)
			if err := st.PurgeExpired(ctx); err != nil {
				t.Fatal(err)
			}
			clock.Advance(-d)
		}
		if _, err := st.RecordFailure(ctx, "counting", max, window, dur); err != nil {
			t.Fatal(err)
		}
		for range max {
			if _, err := st.RecordFailure(ctx, "locked", max, window, dur); err != nil {
				t.Fatal(err)
			}
		}
		if !locked("locked") || failures("counting") != 1 {
			t.Fatal("setup: want one failure and one lock")
		}
		purgeAt(window / 2)
		if failures("counting") != 1 || !locked("locked") {
			t.Fatal("a purge within the window removed a counter")
		}
		purgeAt(window + time.Second)
		if failures("counting") != 0 {
			t.Error("a counter whose window was over survived the purge")
		}
		if !locked("locked") {
			t.Error("a lock still running was purged")
		}
		purgeAt(dur + time.Second)
		if locked("locked") {
			t.Error("a lock that was over survived the purge")
		}
	})
}

package lockout_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"latchkey/config"
	"latchkey/internal/testkit"
	"latchkey/login/lockout"
	"latchkey/mail"
	"latchkey/store"
)

// mailbox records what the guard mails.
type mailbox struct {
	mu   sync.Mutex
	sent []mail.Message
}

func (m *mailbox) Send(_ context.Context, msg mail.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, msg)
	return nil
}

func (m *mailbox) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.sent)
}

// rig is a guard on a real store with an injected clock; its Sleep records
// the waits asked for instead of waiting.
type rig struct {
	g      *lockout.Guard
	st     *store.Store
	clock  *testkit.Clock
	mails  *mailbox
	locks  int
	sleeps []time.Duration
}

const (
	maxFailures = 3
	window      = 15 * time.Minute
	duration    = 10 * time.Minute
)

func newRig(t *testing.T, dsn string, max int) *rig {
	t.Helper()
	r := &rig{clock: testkit.NewClock(), mails: &mailbox{}}
	r.st = testkit.OpenStore(t, dsn, store.Options{Now: r.clock.Now})
	r.g = &lockout.Guard{Store: r.st, Mailer: r.mails,
		Config: config.Lockout{MaxFailures: max, Window: config.Duration{Duration: window}, Duration: config.Duration{Duration: duration}},
		Email:  func(_ context.Context, userID string) string { return userID + "@example.com" },
		OnLock: func(context.Context) { r.locks++ },
		Sleep: func(_ context.Context, d time.Duration) error {
			r.sleeps = append(r.sleeps, d)
			return nil
		}}
	return r
}

func (r *rig) check(t *testing.T, user, ip string) lockout.Verdict {
	t.Helper()
	v, err := r.g.Check(context.Background(), user, ip)
	if err != nil {
		t.Fatalf("Check(%q, %q): %v", user, ip, err)
	}
	return v
}

func (r *rig) fail(t *testing.T, user, ip string) {
	t.Helper()
	if err := r.g.Failed(context.Background(), user, ip); err != nil {
		t.Fatalf("Failed(%q, %q): %v", user, ip, err)
	}
}

// wrong makes one attempt with a wrong answer the way the pages do: Check,
// then Failed (against the IP alone when the account is locked).
func (r *rig) wrong(t *testing.T, user, ip string) lockout.Verdict {
	t.Helper()
	v := r.check(t, user, ip)
	if v.IPRefused {
		return v
	}
	target := user
	if v.AccountLocked {
		target = ""
	}
	r.fail(t, target, ip)
	return v
}

// right makes one attempt with a right answer: Check, then Unused.
func (r *rig) right(t *testing.T, user, ip string) lockout.Verdict {
	t.Helper()
	v := r.check(t, user, ip)
	if err := r.g.Unused(context.Background(), user, v); err != nil {
		t.Fatalf("Unused(%q): %v", user, err)
	}
	return v
}

// locked looks at the account's lock without making an attempt.
func (r *rig) locked(t *testing.T, user string) bool {
	t.Helper()
	until, err := r.st.LockedUntil(context.Background(), lockout.AccountKey(user))
	if err != nil {
		t.Fatal(err)
	}
	return !until.IsZero()
}

// TestGuard runs each case on SQLite and PostgreSQL, each on a fresh
// database and clock.
func TestGuard(t *testing.T) {
	cases := []struct {
		name string
		max  int
		run  func(t *testing.T, r *rig)
	}{
		{"the Nth failure locks the account, once", maxFailures, func(t *testing.T, r *rig) {
			// Each failure from another IP: the account counter is per
			// account, whatever the address.
			for i := range maxFailures - 1 {
				r.wrong(t, "u1", ipN(i))
				if r.locked(t, "u1") {
					t.Fatalf("locked after %d failures", i+1)
				}
			}
			r.wrong(t, "u1", ipN(maxFailures))
			if !r.locked(t, "u1") {
				t.Fatal("not locked at the Nth failure")
			}
			if !r.right(t, "u1", ipN(9)).AccountLocked {
				t.Fatal("a right answer was let through during the lock")
			}
			if r.locked(t, "u2") || r.right(t, "u2", ipN(9)).AccountLocked {
				t.Fatal("another account is locked too")
			}
			if r.mails.count() != 1 || r.locks != 1 {
				t.Fatalf("%d mails, %d lock events; want 1 each", r.mails.count(), r.locks)
			}
			// Failures during the lock (counted against the IP only) never
			// mail again.
			r.wrong(t, "u1", ipN(1))
			if r.mails.count() != 1 {
				t.Fatalf("%d mails after more failures; want 1", r.mails.count())
			}
			r.clock.Advance(duration + time.Second)
			if r.right(t, "u1", ipN(9)).AccountLocked {
				t.Fatal("still locked after the duration")
			}
		}},
		{"attempts sent together: at most max_failures answers are checked", maxFailures, func(t *testing.T, r *rig) {
			// Check counts before the answer is judged; reading the count
			// and recording the failure afterwards let all 40 through.
			const n = 40
			verdicts := make([]lockout.Verdict, n)
			errs := testkit.Race(n, func(i int) error {
				var err error
				verdicts[i], err = r.g.Check(context.Background(), "u1", ipN(i))
				return err
			})
			checked := 0
			for i, err := range errs {
				if err != nil {
					t.Fatalf("Check %d: %v", i, err)
				}
				if !verdicts[i].AccountLocked {
					checked++
				}
			}
			if checked != maxFailures {
				t.Fatalf("%d of %d attempts sent together may be checked; want max_failures = %d", checked, n, maxFailures)
			}
			for i, v := range verdicts {
				target := "u1"
				if v.AccountLocked {
					target = ""
				}
				r.fail(t, target, ipN(i))
			}
			if !r.locked(t, "u1") || r.mails.count() != 1 {
				t.Fatalf("after the wrong answers: locked %v, %d mails; want locked, 1", r.locked(t, "u1"), r.mails.count())
			}
		}},
		{"a right answer gives its attempt back", maxFailures, func(t *testing.T, r *rig) {
			for range 5 * maxFailures {
				if r.right(t, "u1", "").AccountLocked {
					t.Fatal("right answers used up the account's attempts")
				}
			}
			for range maxFailures - 1 {
				r.wrong(t, "u1", "")
			}
			r.right(t, "u1", "")
			if r.locked(t, "u1") {
				t.Fatal("locked before the Nth wrong answer")
			}
			r.wrong(t, "u1", "")
			if !r.locked(t, "u1") {
				t.Fatal("not locked at the Nth wrong answer")
			}
		}},
		{"Succeeded forgets the failures, not a lock", maxFailures, func(t *testing.T, r *rig) {
			for range maxFailures - 1 {
				r.wrong(t, "u1", "")
			}
			if err := r.g.Succeeded(context.Background(), "u1"); err != nil {
				t.Fatal(err)
			}
			for range maxFailures - 1 {
				r.wrong(t, "u1", "")
			}
			if r.locked(t, "u1") {
				t.Fatal("failures before a success still counted")
			}
			r.wrong(t, "u1", "")
			if !r.locked(t, "u1") {
				t.Fatal("not locked at the Nth failure after the success")
			}
			// A sign-in completed during the lock (a passkey) leaves it.
			if err := r.g.Succeeded(context.Background(), "u1"); err != nil {
				t.Fatal(err)
			}
			if !r.locked(t, "u1") {
				t.Fatal("Succeeded lifted a running lock")
			}
		}},
		{"failures outside the window are forgotten", maxFailures, func(t *testing.T, r *rig) {
			for range 2 * maxFailures {
				r.wrong(t, "u1", "")
				r.clock.Advance(window / (maxFailures - 1))
			}
			if r.locked(t, "u1") {
				t.Fatal("failures spread wider than the window locked")
			}
		}},
		{"a failing IP is slowed, growing to the cap, then refused", maxFailures, func(t *testing.T, r *rig) {
			const ip = "192.0.2.7"
			limit := maxFailures * lockout.IPFactor
			want := []time.Duration{}
			for i := range limit - 1 {
				// failures so far: i
				v := r.check(t, "", ip)
				d := time.Duration(0)
				if i >= maxFailures {
					d = min(lockout.SlowBase<<(i-maxFailures), lockout.SlowMax)
					want = append(want, d)
				}
				if v.Delay != d || v.IPRefused {
					t.Fatalf("after %d failures: delay %v refused %v; want delay %v", i, v.Delay, v.IPRefused, d)
				}
				// Unknown accounts: only the IP counts.
				r.fail(t, "", ip)
			}
			if !slices.Equal(r.sleeps, want) {
				t.Fatalf("slept %v, want %v", r.sleeps, want)
			}
			if want[0] != lockout.SlowBase || want[len(want)-1] != lockout.SlowMax {
				t.Fatalf("the case does not reach from SlowBase to the cap: %v", want)
			}
			// An account behind the slowed IP is slowed alike: the wait
			// tells nothing about the account.
			if v := r.check(t, "u1", ip); v.Delay != lockout.SlowMax || v.AccountLocked {
				t.Fatalf("known account from the slowed IP: %+v", v)
			}
			r.fail(t, "", ip)
			v := r.check(t, "u1", ip)
			if !v.IPRefused || v.Delay != 0 {
				t.Fatalf("after %d failures: %+v; want refused without a wait", limit, v)
			}
			if r.check(t, "", "192.0.2.8").IPRefused || r.check(t, "", "192.0.2.8").Delay != 0 {
				t.Fatal("another IP is throttled too")
			}
			r.clock.Advance(duration + time.Second)
			if v := r.check(t, "", ip); v.IPRefused || v.Delay != 0 {
				t.Fatalf("after the IP's lock ended: %+v; want a fresh start", v)
			}
		}},
		{"the wait ends with the request", maxFailures, func(t *testing.T, r *rig) {
			for range maxFailures + 4 {
				r.fail(t, "", "192.0.2.9")
			}
			r.g.Sleep = nil // the real timer: SlowMax, but the request is gone
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			start := time.Now()
			_, err := r.g.Check(ctx, "", "192.0.2.9")
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Check for a gone client: %v, want context.Canceled", err)
			}
			if waited := time.Since(start); waited >= lockout.SlowMax {
				t.Fatalf("waited %v for a client that had left", waited)
			}
		}},
		{"max_failures 0 turns it off", 0, func(t *testing.T, r *rig) {
			for range 100 {
				r.fail(t, "u1", "192.0.2.1")
			}
			if v := r.check(t, "u1", "192.0.2.1"); v != (lockout.Verdict{}) {
				t.Fatalf("verdict %+v with the lockout off", v)
			}
			if n, until, err := r.st.Attempts(context.Background(), lockout.IPKey("192.0.2.1"), window); n != 0 || !until.IsZero() || err != nil {
				t.Fatalf("the lockout off still counted: %d %v %v", n, until, err)
			}
			if r.mails.count() != 0 || len(r.sleeps) != 0 {
				t.Fatal("the lockout off mailed or waited")
			}
		}},
	}
	for _, be := range testkit.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					c.run(t, newRig(t, be.DSN(t), c.max))
				})
			}
		})
	}
}

// TestDelay pins the throttle's curve.
func TestDelay(t *testing.T) {
	for _, c := range []struct {
		max, failures int
		want          time.Duration
	}{
		{10, 0, 0},
		{10, 9, 0},
		{10, 10, 250 * time.Millisecond},
		{10, 11, 500 * time.Millisecond},
		{10, 12, time.Second},
		{10, 13, 2 * time.Second},
		{10, 14, 4 * time.Second},
		{10, 15, 4 * time.Second},
		{10, 1 << 20, 4 * time.Second},
		{0, 100, 0},
	} {
		if got := lockout.Delay(c.max, c.failures); got != c.want {
			t.Errorf("Delay(%d, %d) = %v, want %v", c.max, c.failures, got, c.want)
		}
	}
}

func ipN(i int) string { return "198.51.100." + strconv.Itoa(i+1) }

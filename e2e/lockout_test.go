package e2e

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"latchkey/config"
	"latchkey/internal/testkit"
	"latchkey/login/lockout"
	"latchkey/login/passkey/passkeytest"
	"latchkey/server"
)

// TestLockout is issue 10's acceptance 2: the Nth wrong password across
// fresh flows locks the account; during the lock the right password gets
// the page of a wrong password for an unknown account, on a restarted
// replica too; a passkey still signs in; the owner is mailed once; unlock
// clears it; an IP failing across accounts gets 429. Time is the injected
// clock.
func TestLockout(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		const max = 3
		clock := testkit.NewClock()
		edit := func(cfg *config.Config) {
			cfg.Lockout = config.Lockout{MaxFailures: max, Window: config.Duration{Duration: 15 * time.Minute}, Duration: config.Duration{Duration: 15 * time.Minute}}
		}
		waits := &sleeps{}
		srv, in := lockoutServer(t, dsn, clock, waits, edit)
		const email, pw = "lou@example.com", "lou's long password"
		uid := srv.AddUser(t, email, pw)

		// A passkey, registered before the attack.
		auth := passkeytest.New()
		b := testkit.NewBrowser(t)
		passwordLogin(t, b, b.Get(srv.URL+"/login"), email, pw)
		pkRegisterHTTP(t, srv, b, auth, "laptop")

		attempt := func(s *testkit.Server, who, secret string) *testkit.Page {
			b := testkit.NewBrowser(t)
			return passwordLogin(t, b, b.Get(s.URL+"/login"), who, secret)
		}
		for i := range max {
			if p := attempt(srv, email, "wrong "+string(rune('a'+i))); p.Status != http.StatusUnauthorized {
				t.Fatalf("wrong password %d: %d", i+1, p.Status)
			}
		}
		in.wait(t, email, "paused")

		locked := attempt(srv, email, pw)
		unknown := attempt(srv, "nobody@example.com", pw)
		if locked.Status != http.StatusUnauthorized || locked.URL.Path != "/login" {
			t.Fatalf("right password during the lock: %d at %s, want the login page with an error", locked.Status, locked.URL)
		}
		norm := func(p *testkit.Page) string { return volatile.ReplaceAllString(p.Body, "$1X") }
		if locked.Status != unknown.Status || norm(locked) != norm(unknown) {
			t.Errorf("a locked account's page differs from an unknown account's")
		}

		// (The user has a passkey, so a right password leads to a second
		// step: success is a 200 page, a refusal the 401 login page.)

		// A second replica on the same database (a restart is the same
		// thing): the lock is in the database.
		replica := testkit.StartServer(t, dsn, testkit.ServerOptions{Server: server.Options{Now: clock.Now, LockoutSleep: waits.sleep}, Configure: func(cfg *config.Config) {
			standardClients(cfg)
			edit(cfg)
		}})
		if p := attempt(replica, email, pw); p.Status != http.StatusUnauthorized {
			t.Errorf("right password on a second replica during the lock: %d", p.Status)
		}

		// Passkeys are not guessable: they work during the lock.
		pb := testkit.NewBrowser(t)
		if p := pkLoginHTTP(t, srv, pb, pb.Get(srv.URL+"/login"), auth); p.Status != http.StatusOK || p.URL.Path == "/login" {
			t.Errorf("passkey during the lock: %d at %s", p.Status, p.URL)
		}

		// More failures do not mail again: one mail per lock.
		attempt(srv, email, "wrong again")
		in.none(t, email, "paused")

		// latchkey user unlock clears it (the CLI calls this; see
		// cmd/latchkey TestUserUnlock).
		if err := srv.Store.ClearLockout(context.Background(), lockout.AccountKey(uid)); err != nil {
			t.Fatal(err)
		}
		if p := attempt(replica, email, pw); p.Status != http.StatusOK {
			t.Errorf("right password after unlock: %d at %s", p.Status, p.URL)
		}

		// The lock also ends on its own, by the clock.
		for i := range max {
			attempt(srv, email, "wrong "+string(rune('k'+i)))
		}
		if p := attempt(srv, email, pw); p.Status != http.StatusUnauthorized {
			t.Fatalf("right password during the second lock: %d at %s", p.Status, p.URL)
		}
		clock.Advance(16 * time.Minute)
		if p := attempt(srv, email, pw); p.Status != http.StatusOK {
			t.Errorf("right password after the lock expired: %d at %s", p.Status, p.URL)
		}

		// One IP guessing across many accounts is slowed, then refused
		// with 429.
		// (The clock moved past the window above: the IP starts over.)
		throttled(t, waits, max, 0, func(i int) *testkit.Page {
			return attempt(srv, "guess"+strconv.Itoa(i)+"@example.com", "password123!")
		})
		if p := attempt(srv, email, pw); p.Status != http.StatusTooManyRequests || strings.Contains(p.Body, email) {
			t.Errorf("the throttled IP with the right password: %d, want 429", p.Status)
		}
	})
}

// sleeps records the IP throttle's waits instead of waiting
// (server.Options.LockoutSleep).
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(_ context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
	return nil
}

func (s *sleeps) list() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.d)
}

// lockoutServer is mailServer with the throttle's waits recorded.
func lockoutServer(t *testing.T, dsn string, clock *testkit.Clock, waits *sleeps, edit func(*config.Config)) (*testkit.Server, *inbox) {
	t.Helper()
	in := newInbox(t)
	srv := testkit.StartServer(t, dsn, testkit.ServerOptions{
		Server: server.Options{Now: clock.Now, LockoutSleep: waits.sleep},
		Configure: func(cfg *config.Config) {
			standardClients(cfg)
			cfg.Mail.SMTPURL = in.URL
			edit(cfg)
		},
	})
	return srv, in
}

// throttled makes failing attempts from this client's IP (attempt(i) is
// the i-th), which has prior failures in the current window, until one
// gets 429, and checks the way there: an attempt waits (as recorded) only
// once the IP has max failures, then lockout.Delay of them (growing to the
// cap), and the 429 comes at max*IPFactor failures, without a wait.
func throttled(t *testing.T, waits *sleeps, max, prior int, attempt func(i int) *testkit.Page) {
	t.Helper()
	limit := max * lockout.IPFactor
	var seen []time.Duration
	for i := 0; prior+i <= limit; i++ {
		n := prior + i // the IP's failures before this attempt
		before := len(waits.list())
		p := attempt(i)
		got := waits.list()[before:]
		var want []time.Duration
		if d := lockout.Delay(max, n); d > 0 && n < limit {
			want = []time.Duration{d}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("attempt with %d failures from the IP waited %v, want %v", n, got, want)
		}
		seen = append(seen, got...)
		if n == limit {
			if p.Status != http.StatusTooManyRequests {
				t.Fatalf("attempt with %d failures from the IP: %d, want 429", n, p.Status)
			}
			if !slices.Contains(seen, lockout.SlowMax) || (prior <= max && seen[0] != lockout.SlowBase) {
				t.Fatalf("waits %v do not run from %v to the cap %v", seen, lockout.SlowBase, lockout.SlowMax)
			}
			t.Logf("429 at %d failures from the IP, after waits %v", n, seen)
			return
		}
		if p.Status != http.StatusUnauthorized {
			t.Fatalf("failing attempt with %d failures from the IP: %d", n, p.Status)
		}
	}
}

// TestLockoutEveryGuessableFactor is issue 10's "one attempts store": on
// one account, wrong passwords, TOTP codes, recovery codes and emailed
// codes (the /login sign-in code and the /recover code) all count toward
// the same lock; a right password does not reset the count of wrong TOTP
// codes after it; during the lock a right TOTP code and a right emailed
// code are refused with a wrong answer's page, while the emailed link
// still signs in; then the IP that made all these failures is slowed and
// refused.
func TestLockoutEveryGuessableFactor(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		const max = 4
		clock, waits := testkit.NewClock(), &sleeps{}
		srv, in := lockoutServer(t, dsn, clock, waits, func(cfg *config.Config) {
			cfg.Lockout = config.Lockout{MaxFailures: max, Window: config.Duration{Duration: 15 * time.Minute}, Duration: config.Duration{Duration: 15 * time.Minute}}
		})
		fresh := func(who, secret string) *testkit.Page {
			b := testkit.NewBrowser(t)
			return passwordLogin(t, b, b.Get(srv.URL+"/login"), who, secret)
		}
		wrong := func(code string) string {
			c := []byte(code)
			c[0] = '0' + (c[0]-'0'+5)%10
			return string(c)
		}

		// An account with TOTP: one wrong password, then, each in a fresh
		// flow after the right password, two wrong TOTP codes and a wrong
		// recovery code: the fourth failure locks.
		const tEmail, tPW = "tia@example.com", "tia's long password"
		srv.AddUser(t, tEmail, tPW)
		secret, _ := enrollTOTP(t, srv, testkit.NewBrowser(t), clock, tEmail, tPW)
		clock.Advance(time.Minute)
		secondStep := func() (*testkit.Browser, *testkit.Page) {
			b := testkit.NewBrowser(t)
			p := passwordLogin(t, b, b.Get(srv.URL+"/login"), tEmail, tPW)
			if p.Find("button", map[string]string{"value": "totp"}) == nil {
				t.Fatalf("right password did not lead to the TOTP step: %d %s", p.Status, p.URL)
			}
			return b, p
		}
		if p := fresh(tEmail, "wrong password"); p.Status != http.StatusUnauthorized {
			t.Fatalf("wrong password: %d", p.Status)
		}
		keep, keepPage := secondStep() // at the TOTP step before the lock
		for i := range 2 {
			b, p := secondStep()
			wantLoginError(t, b.Submit(p.FormWithButton(t, "method", "totp").Set("code", wrong(totpCode(t, secret, clock.Now())))),
				"wrong TOTP code "+strconv.Itoa(i+1))
		}
		in.none(t, tEmail, "paused")
		b, p := secondStep()
		wantLoginError(t, b.Submit(p.FormWithButton(t, "method", "recovery_code").Set("code", "AAAA-BBBB-CCCC")), "wrong recovery code")
		in.wait(t, tEmail, "paused")
		// Locked: the right TOTP code, in the flow whose password was
		// right before the lock, gets a wrong code's page.
		wantLoginError(t, keep.Submit(keepPage.FormWithButton(t, "method", "totp").Set("code", totpCode(t, secret, clock.Now()))),
			"right TOTP code during the lock")
		if p := fresh(tEmail, tPW); p.Status != http.StatusUnauthorized {
			t.Errorf("right password during the lock: %d", p.Status)
		}

		// An account signing in by email: a wrong password, a wrong
		// /recover code and two wrong /login codes lock it.
		const mEmail = "mia@example.com"
		srv.AddUser(t, mEmail, "mia's long password")
		if p := fresh(mEmail, "wrong password"); p.Status != http.StatusUnauthorized {
			t.Fatalf("wrong password: %d", p.Status)
		}
		rb := testkit.NewBrowser(t)
		asked := rb.Submit(rb.Get(srv.URL+"/recover").FormWithButton(t, "", "").Set("identifier", mEmail))
		if p := rb.Submit(asked.FormWithButton(t, "method", "magic_link").Set("code", "AAAA-BBBB")); p.Status != http.StatusUnauthorized {
			t.Fatalf("wrong /recover code: %d %s", p.Status, p.URL)
		}
		in.wait(t, mEmail, "Reset your")
		emailed := func() (*testkit.Browser, *testkit.Page, string, string) {
			b := testkit.NewBrowser(t)
			p := askMagicLink(t, b, b.Get(srv.URL+"/login"), mEmail)
			link, code := linkAndCode(t, in.wait(t, mEmail, "sign-in link"))
			return b, p, link, code
		}
		for i := range 2 {
			b, p, _, _ := emailed()
			wantLoginError(t, b.Submit(p.FormWithButton(t, "method", "magic_link").Set("code", "AAAA-BBBB")),
				"wrong emailed code "+strconv.Itoa(i+1))
		}
		in.wait(t, mEmail, "paused")
		b, p, _, code := emailed()
		wantLoginError(t, b.Submit(p.FormWithButton(t, "method", "magic_link").Set("code", code)), "right emailed code during the lock")
		// The link, clicked, is no guess: it signs in during the lock.
		b, _, link, _ := emailed()
		if p := b.Submit(b.Get(link).FormWithButton(t, "method", "magic_link")); !signedIn(t, srv, b) {
			t.Errorf("the emailed link during the lock: %d %s", p.Status, p.URL)
		}

		// This IP failed 4+2+4+1 times above (the refused right answers
		// count against it too): it is slowed, then refused.
		throttled(t, waits, max, 4+2+4+1, func(i int) *testkit.Page {
			return fresh("guess"+strconv.Itoa(i)+"@example.com", "password123!")
		})
	})
}

package e2e

import (
	"context"
	"net/http"
	"strings"
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
		srv, in := mailServer(t, dsn, clock, nil, edit)
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
		replica := testkit.StartServer(t, dsn, testkit.ServerOptions{Server: server.Options{Now: clock.Now}, Configure: func(cfg *config.Config) {
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

		// One IP guessing across many accounts is refused with 429.
		got429 := 0
		for i := range max*lockout.IPFactor + 1 {
			p := attempt(srv, "guess"+string(rune('a'+i))+"@example.com", "password123!")
			if p.Status == http.StatusTooManyRequests {
				got429 = i + 1
				break
			}
		}
		if got429 == 0 {
			t.Fatalf("no 429 after %d failures from one IP", max*lockout.IPFactor+1)
		}
		if p := attempt(srv, email, pw); p.Status != http.StatusTooManyRequests || strings.Contains(p.Body, email) {
			t.Errorf("the throttled IP with the right password: %d, want 429", p.Status)
		}
		t.Logf("429 after %d more failures from the IP", got429)
	})
}

package e2e

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"latchkey/internal/testkit"
	"latchkey/store"
)

// proveForRecovery runs /recover for email in b up to the password step.
func proveForRecovery(t *testing.T, srv *testkit.Server, b *testkit.Browser, in *inbox, email string) *testkit.Page {
	t.Helper()
	page := b.Get(srv.URL + "/recover")
	page = b.Submit(page.FormWithButton(t, "", "").Set("identifier", email))
	_, code := linkAndCode(t, in.wait(t, email, "Reset your"))
	page = b.Submit(page.FormWithButton(t, "method", "magic_link").Set("code", code))
	if page.URL.Path != "/recover/password" {
		t.Fatalf("after the code: %d %s\n%.1500s", page.Status, page.URL, page.Body)
	}
	return page
}

// TestFactorRecovery is issue 9's acceptance 6: a user who lost every
// factor asks on /recover for their removal; every session sees it on
// /account and can cancel it; after recovery.delay (injected clock) the job
// removes the factors, mails and audits why; two replicas running the job
// at once carry a request out once.
func TestFactorRecovery(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		clock := testkit.NewClock()
		srv, in := mailServer(t, dsn, clock, nil, nil)
		delay := srv.Config.Recovery.Delay.Duration
		const email, pw = "lost@example.com", "the lost user's password"
		uid := srv.AddUser(t, email, pw)
		b1 := testkit.NewBrowser(t)
		enrollTOTP(t, srv, b1, clock, email, pw)

		// Ask, with the address proven.
		b2 := testkit.NewBrowser(t)
		page := proveForRecovery(t, srv, b2, in, email)
		page = b2.Submit(page.FormWithButton(t, "decision", "remove_factors"))
		if page.Status != http.StatusOK || !strings.Contains(page.Body, "will be removed on") {
			t.Fatalf("asking for factor recovery: %d\n%.1500s", page.Status, page.Body)
		}
		in.wait(t, email, "will be removed")

		// The signed-in session sees it on /account and cancels it there, in one click.
		if p := b1.Get(srv.URL + "/account/factor-recovery"); p.Find("p", map[string]string{"id": "factor-recovery-banner"}) == nil {
			t.Fatalf("no banner on the details page:\n%.1500s", p.Body)
		}
		p := b1.Get(srv.URL + "/account")
		if !strings.Contains(p.Body, "will be removed on") {
			t.Fatalf("/account shows no banner:\n%.2000s", p.Body)
		}
		p = b1.Submit(p.FormWithButton(t, "decision", "cancel"))
		if p.Status != http.StatusOK || !strings.Contains(p.Body, "cancelled") {
			t.Fatalf("cancel: %d\n%.1500s", p.Status, p.Body)
		}
		in.wait(t, email, "cancelled")
		clock.Advance(delay + time.Minute)
		if n, err := srv.App.FactorRecovery.RunDue(ctx); err != nil || n != 0 {
			t.Fatalf("a cancelled request ran: %d %v", n, err)
		}
		if _, err := srv.Store.TOTPCredential(ctx, uid); err != nil {
			t.Fatalf("TOTP gone after a cancelled request: %v", err)
		}

		// Asked again: nothing happens before the delay, everything after.
		page = proveForRecovery(t, srv, b2, in, email)
		if p := b2.Submit(page.FormWithButton(t, "decision", "remove_factors")); p.Status != http.StatusOK {
			t.Fatalf("asking again: %d", p.Status)
		}
		in.wait(t, email, "will be removed")
		clock.Advance(delay - time.Minute)
		if n, err := srv.App.FactorRecovery.RunDue(ctx); err != nil || n != 0 {
			t.Fatalf("ran before the delay: %d %v", n, err)
		}
		// A second replica on the same database races the first.
		srv2, in2 := mailServer(t, dsn, clock, nil, nil)
		clock.Advance(2 * time.Minute)
		done := make([]int, 2)
		errs := testkit.Race(2, func(i int) error {
			var err error
			done[i], err = []*testkit.Server{srv, srv2}[i].App.FactorRecovery.RunDue(ctx)
			return err
		})
		if errs[0] != nil || errs[1] != nil || done[0]+done[1] != 1 {
			t.Fatalf("two replicas ran the request %d+%d times (errors %v), want once", done[0], done[1], errs)
		}
		if _, err := srv.Store.TOTPCredential(ctx, uid); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("TOTP survived the recovery: %v", err)
		}
		removed := []*inbox{in, in2}[map[bool]int{true: 0, false: 1}[done[0] == 1]]
		removed.wait(t, email, "were removed")
		[]*inbox{in, in2}[map[bool]int{true: 1, false: 0}[done[0] == 1]].none(t, email, "were removed")
		evs, err := srv.Store.RecentEvents(ctx, uid, 20)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range evs {
			if e.Event == "user.factors_reset" && strings.Contains(e.Detail, "factor recovery requested") {
				found = true
			}
		}
		if !found {
			t.Errorf("no audit event saying why: %+v", evs)
		}
		if p := b1.Get(srv.URL + "/account"); !strings.HasPrefix(p.URL.Path, "/login") {
			t.Errorf("b1 still signed in after the factors were removed")
		}
		// The password alone signs in now.
		b3 := testkit.NewBrowser(t)
		if p := passwordLogin(t, b3, b3.Get(srv.URL+"/login"), email, pw); p.Find("button", map[string]string{"value": "totp"}) != nil {
			t.Errorf("TOTP still asked after the recovery")
		}
	})
}

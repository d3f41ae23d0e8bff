package conformance

import (
	"errors"
	"testing"
	"time"

	"latchkey/internal/testkit"
	"latchkey/store"
)

func init() {
	suite = append(suite, struct {
		area  string
		cases []testCase
	}{"EmailTokens", []testCase{
		{"LinkUseOnceAndOnlyByItsFlow", testEmailTokenLink},
		{"NewerVoidsOlder", testEmailTokenNewerVoidsOlder},
		{"Expiry", testEmailTokenExpiry},
		{"CodeAttempts", testEmailTokenCode},
		{"ConcurrentUse", testEmailTokenConcurrent},
		{"RateHit", testRateHit},
		{"ConcurrentRateHit", testConcurrentRateHit},
	}})
}

func issue(t *testing.T, e *env, id, purpose, email, flow string, ttl time.Duration) *store.EmailToken {
	t.Helper()
	tok := &store.EmailToken{ID: id, Purpose: purpose, Email: email, FlowID: flow,
		TokenHash: "t-" + id, CodeHash: "c-" + id, Data: []byte("d-" + id), ExpiresAt: e.now().Add(ttl)}
	must(t, e.st.IssueEmailToken(e.ctx, tok), "IssueEmailToken "+id)
	return tok
}

func testEmailTokenLink(t *testing.T, e *env) {
	issue(t, e, "a", "login", " Alice@Example.com", "flow-a", 15*time.Minute)
	issue(t, e, "b", "login", "bob@example.com", "flow-b", 15*time.Minute)

	got, err := e.st.EmailTokenByLink(e.ctx, "login", "t-a")
	must(t, err, "EmailTokenByLink")
	if got.Email != "alice@example.com" || got.FlowID != "flow-a" || string(got.Data) != "d-a" {
		t.Errorf("EmailTokenByLink = %+v", got)
	}
	_, err = e.st.EmailTokenByLink(e.ctx, "recover", "t-a")
	wantErr(t, err, store.ErrNotFound, "EmailTokenByLink with another purpose")

	// Another browser's flow, another purpose: nothing used.
	_, err = e.st.UseEmailTokenByLink(e.ctx, "login", "t-a", "flow-b")
	wantErr(t, err, store.ErrNotFound, "use by another flow")
	_, err = e.st.UseEmailTokenByLink(e.ctx, "signup", "t-a", "flow-a")
	wantErr(t, err, store.ErrNotFound, "use for another purpose")

	used, err := e.st.UseEmailTokenByLink(e.ctx, "login", "t-a", "flow-a")
	must(t, err, "use by its flow")
	if used.ID != "a" || used.Email != "alice@example.com" || used.UsedAt == nil {
		t.Errorf("used token = %+v", used)
	}
	_, err = e.st.UseEmailTokenByLink(e.ctx, "login", "t-a", "flow-a")
	wantErr(t, err, store.ErrNotFound, "second use")
	_, err = e.st.EmailTokenByLink(e.ctx, "login", "t-a")
	wantErr(t, err, store.ErrNotFound, "EmailTokenByLink after use")
	// The code of a used token is dead too.
	_, err = e.st.UseEmailTokenByCode(e.ctx, "login", "flow-a", "c-a", 5)
	wantErr(t, err, store.ErrNotFound, "code after the link was used")
	// Bob's is untouched.
	if _, err := e.st.EmailTokenByLink(e.ctx, "login", "t-b"); err != nil {
		t.Errorf("bob's token: %v", err)
	}
}

func testEmailTokenNewerVoidsOlder(t *testing.T, e *env) {
	issue(t, e, "old", "login", "alice@example.com", "flow-1", 15*time.Minute)
	issue(t, e, "other-purpose", "recover", "alice@example.com", "flow-1", 15*time.Minute)
	e.clock.Advance(time.Minute)
	issue(t, e, "new", "login", "ALICE@example.com", "flow-2", 15*time.Minute)

	_, err := e.st.UseEmailTokenByLink(e.ctx, "login", "t-old", "flow-1")
	wantErr(t, err, store.ErrNotFound, "older link after a newer request")
	_, err = e.st.UseEmailTokenByCode(e.ctx, "login", "flow-1", "c-old", 5)
	wantErr(t, err, store.ErrNotFound, "older code after a newer request")
	if _, err := e.st.UseEmailTokenByLink(e.ctx, "recover", "t-other-purpose", "flow-1"); err != nil {
		t.Errorf("a token of another purpose was voided: %v", err)
	}
	if _, err := e.st.UseEmailTokenByLink(e.ctx, "login", "t-new", "flow-2"); err != nil {
		t.Errorf("newest token: %v", err)
	}
}

func testEmailTokenExpiry(t *testing.T, e *env) {
	issue(t, e, "a", "login", "alice@example.com", "flow-a", 15*time.Minute)
	issue(t, e, "b", "login", "bob@example.com", "flow-b", 15*time.Minute)
	e.clock.Advance(15*time.Minute - time.Second)
	if _, err := e.st.UseEmailTokenByCode(e.ctx, "login", "flow-b", "c-b", 5); err != nil {
		t.Errorf("a second before expiry: %v", err)
	}
	e.clock.Advance(time.Second)
	_, err := e.st.UseEmailTokenByLink(e.ctx, "login", "t-a", "flow-a")
	wantErr(t, err, store.ErrNotFound, "link at expiry")
	_, err = e.st.EmailTokenByLink(e.ctx, "login", "t-a")
	wantErr(t, err, store.ErrNotFound, "lookup at expiry")
	must(t, e.st.PurgeEmailTokens(e.ctx, e.now()), "purge")
}

func testEmailTokenCode(t *testing.T, e *env) {
	issue(t, e, "a", "login", "alice@example.com", "flow-a", 15*time.Minute)
	for i := range 4 {
		_, err := e.st.UseEmailTokenByCode(e.ctx, "login", "flow-a", "wrong", 5)
		wantErr(t, err, store.ErrNotFound, "wrong code")
		_ = i
	}
	// The right code from another flow is refused too (and counts).
	_, err := e.st.UseEmailTokenByCode(e.ctx, "login", "flow-b", "c-a", 5)
	wantErr(t, err, store.ErrNotFound, "right code, other flow")
	used, err := e.st.UseEmailTokenByCode(e.ctx, "login", "flow-a", "c-a", 5)
	must(t, err, "right code after 4 wrong ones")
	if used.ID != "a" {
		t.Errorf("used %+v", used)
	}

	issue(t, e, "b", "login", "bob@example.com", "flow-b", 15*time.Minute)
	for range 5 {
		_, _ = e.st.UseEmailTokenByCode(e.ctx, "login", "flow-b", "wrong", 5)
	}
	_, err = e.st.UseEmailTokenByCode(e.ctx, "login", "flow-b", "c-b", 5)
	wantErr(t, err, store.ErrNotFound, "right code after 5 wrong ones")
}

func testEmailTokenConcurrent(t *testing.T, e *env) {
	issue(t, e, "a", "login", "alice@example.com", "flow-a", 15*time.Minute)
	errs := testkit.Race(10, func(i int) error {
		var err error
		if i%2 == 0 {
			_, err = e.st.UseEmailTokenByLink(e.ctx, "login", "t-a", "flow-a")
		} else {
			_, err = e.st.UseEmailTokenByCode(e.ctx, "login", "flow-a", "c-a", 100)
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unexpected error: %v", err)
		}
		return err
	})
	countWinners(t, errs, "use of one email token by link and code at once")
}

func testRateHit(t *testing.T, e *env) {
	for i := 1; i <= 4; i++ {
		ok, err := e.st.Hit(e.ctx, "ml:ip:192.0.2.1", 3, 10*time.Minute)
		must(t, err, "Hit")
		if ok != (i <= 3) {
			t.Errorf("hit %d allowed = %v", i, ok)
		}
	}
	if ok, err := e.st.Hit(e.ctx, "ml:ip:192.0.2.2", 3, 10*time.Minute); err != nil || !ok {
		t.Errorf("another key was limited: %v %v", ok, err)
	}
	e.clock.Advance(10*time.Minute - time.Second)
	if ok, _ := e.st.Hit(e.ctx, "ml:ip:192.0.2.1", 3, 10*time.Minute); ok {
		t.Error("allowed before the window ended")
	}
	e.clock.Advance(time.Second)
	for i := 1; i <= 4; i++ {
		ok, err := e.st.Hit(e.ctx, "ml:ip:192.0.2.1", 3, 10*time.Minute)
		must(t, err, "Hit in the new window")
		if ok != (i <= 3) {
			t.Errorf("new window: hit %d allowed = %v", i, ok)
		}
	}
}

func testConcurrentRateHit(t *testing.T, e *env) {
	errs := testkit.Race(12, func(int) error {
		ok, err := e.st.Hit(e.ctx, "k", 5, time.Hour)
		if err != nil {
			return err
		}
		if !ok {
			return store.ErrConflict
		}
		return nil
	})
	allowed := 0
	for _, err := range errs {
		switch {
		case err == nil:
			allowed++
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("Hit: %v", err)
		}
	}
	if allowed != 5 {
		t.Errorf("%d of 12 concurrent hits allowed, want exactly 5", allowed)
	}
}

package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"latchkey/internal/testkit"
	"latchkey/store"
)

// Clock is a settable clock for a store under test: the suite moves it
// instead of sleeping.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock standing at start.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the clock's current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock by d; a negative d moves it back.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// start is where every subtest's clock begins: a fixed instant with a
// fractional second (microseconds, which both engines keep), far from the
// real time so a store that reads the wall clock is caught.
var start = time.Date(2030, time.January, 2, 3, 4, 5, 123456000, time.UTC)

// clocks maps each subtest Run starts to its clock.
var clocks sync.Map // *testing.T -> *Clock

// ClockFor returns the clock of a subtest started by Run. The open function
// given to Run must pass ClockFor(t).Now as store.Options.Now.
func ClockFor(t testing.TB) *Clock {
	t.Helper()
	c, ok := clocks.Load(t)
	if !ok {
		t.Fatalf("conformance.ClockFor: %s is not a subtest started by conformance.Run", t.Name())
	}
	return c.(*Clock)
}

// env is what one subtest works with: a fresh store, its clock, a context.
type env struct {
	st    *store.Store
	clock *Clock
	ctx   context.Context
}

func (e *env) now() time.Time { return e.clock.Now() }

type testCase struct {
	name string
	run  func(t *testing.T, e *env)
}

// suite lists the subtests by area; each runs on a store of its own.
var suite = []struct {
	area  string
	cases []testCase
}{
	{"Users", []testCase{
		{"Lookup", testUserLookup},
		{"Conflict", testUserConflict},
		{"ListOrder", testListUsers},
		{"SetDisabled", testSetUserDisabled},
		{"SetPasswordHash", testSetPasswordHash},
		{"NameAndEmailVerified", testUserNameAndEmailVerified},
		{"Delete", testDeleteUser},
	}},
	{"Flows", []testCase{
		{"CreateGet", testFlowCreateGet},
		{"Expiry", testFlowExpiry},
		{"Update", testFlowUpdate},
		{"Consume", testFlowConsume},
		{"ConcurrentConsume", testFlowConcurrentConsume},
		{"ConcurrentUpdate", testFlowConcurrentUpdate},
		{"WriteInsideUpdate", testFlowWriteInsideUpdate},
		{"ConcurrentSingleUseInsideUpdate", testFlowConcurrentSingleUse},
	}},
	{"Sessions", []testCase{
		{"RotateCookie", testRotateSession},
		{"Lifecycle", testSessionLifecycle},
		{"Expiry", testSessionExpiry},
		{"ListUserSessions", testListUserSessions},
		{"Touch", testTouchSession},
	}},
	{"RememberedBrowsers", []testCase{
		{"Lifecycle", testRememberedLifecycle},
		{"Expiry", testRememberedExpiry},
		{"RevokeUser", testRememberedRevokeUser},
	}},
	{"SigningKeys", []testCase{
		{"Switch", testSwitchSigningKey},
		{"ConcurrentSwitch", testConcurrentSwitchSigningKey},
		{"Rotate", testRotateSigningKey},
	}},
	{"Tokens", []testCase{
		{"CreateGet", testTokenCreateGet},
		{"Conflict", testTokenConflict},
		{"Deactivate", testTokenDeactivate},
		{"ConcurrentDeactivate", testTokenConcurrentDeactivate},
		{"RotateAndFamily", testTokenRotate},
		{"DeactivateRequestTokens", testDeactivateRequestTokens},
		{"DeactivateSubjectTokens", testDeactivateSubjectTokens},
		{"DeactivateClientTokens", testDeactivateClientTokens},
		{"Delete", testTokenDelete},
	}},
	{"Transactions", []testCase{
		{"RollbackAndCommit", testTransactions},
		{"TransactionFunc", testTransactionFunc},
		{"Misuse", testTransactionMisuse},
		{"AfterCommit", testAfterCommit},
	}},
	{"Consent", []testCase{
		{"RememberForget", testConsent},
		{"List", testListConsents},
	}},
	{"Audit", []testCase{
		{"RecentEvents", testRecentEvents},
		{"Events", testEvents},
	}},
	{"Settings", []testCase{
		{"SetIfAbsent", testSettings},
		{"ConcurrentSetIfAbsent", testConcurrentSettings},
	}},
	{"Migrate", []testCase{
		{"Idempotent", testMigrateIdempotent},
	}},
	{"PurgeExpired", []testCase{
		{"RemovesOnlyExpired", testPurgeExpired},
	}},
	{"Times", []testCase{
		{"AnyLocation", testTimeLocations},
	}},
}

// Run runs the whole suite. open must return a fresh, migrated store on an
// empty database, built with ClockFor(t).Now as its clock; it is called once
// per subtest with that subtest's t.
func Run(t *testing.T, open func(t *testing.T) *store.Store) {
	for _, area := range suite {
		t.Run(area.area, func(t *testing.T) {
			for _, tc := range area.cases {
				t.Run(tc.name, func(t *testing.T) {
					tc.run(t, newEnv(t, open))
				})
			}
		})
	}
}

func newEnv(t *testing.T, open func(t *testing.T) *store.Store) *env {
	t.Helper()
	c := NewClock(start)
	clocks.Store(t, c)
	t.Cleanup(func() { clocks.Delete(t) })
	st := open(t)
	if st == nil {
		t.Fatal("open returned a nil store")
	}
	if got := st.Now(); !got.Equal(c.Now()) {
		t.Fatalf("store clock reads %v, want %v: open must pass conformance.ClockFor(t).Now as store.Options.Now", got, c.Now())
	}
	return &env{st: st, clock: c, ctx: t.Context()}
}

// RunMigrations checks migrating an empty database, including several
// replicas migrating it at once. dsn must name a fresh, empty database each
// time it is called.
func RunMigrations(t *testing.T, dsn func(t testing.TB) string) {
	t.Run("MigrateFresh", func(t *testing.T) {
		t.Run("EmptyDatabase", func(t *testing.T) {
			st := openRaw(t, dsn(t))
			if v, err := st.SchemaVersion(t.Context()); err != nil || v != 0 {
				t.Fatalf("SchemaVersion of an empty database = %d, %v; want 0, nil", v, err)
			}
			must(t, st.Migrate(t.Context()), "migrate")
			wantVersion(t, st)
		})
		for _, tc := range []struct {
			name               string
			stores, goroutines int
		}{
			{"TwoReplicas", 2, 2},
			{"FourReplicas", 4, 4},
			{"OneStoreTwoGoroutines", 1, 2},
		} {
			t.Run("Concurrent"+tc.name, func(t *testing.T) {
				d := dsn(t)
				stores := make([]*store.Store, tc.stores)
				for i := range stores {
					stores[i] = openRaw(t, d)
				}
				errs := testkit.Race(tc.goroutines, func(i int) error {
					return stores[i%len(stores)].Migrate(t.Context())
				})
				for i, err := range errs {
					if err != nil {
						t.Errorf("Migrate in goroutine %d: %v", i, err)
					}
				}
				for _, st := range stores {
					wantVersion(t, st)
				}
				// The schema is usable by every replica.
				must(t, stores[0].CreateUser(t.Context(), &store.User{ID: "u-1", Email: "one@example.com"}), "create user")
				for i, st := range stores {
					if _, err := st.UserByID(t.Context(), "u-1"); err != nil {
						t.Errorf("replica %d: UserByID: %v", i, err)
					}
				}
			})
		}
	})
}

func openRaw(t *testing.T, dsn string) *store.Store {
	t.Helper()
	st, err := store.Open(dsn, store.Options{})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func wantVersion(t *testing.T, st *store.Store) {
	t.Helper()
	v, err := st.SchemaVersion(t.Context())
	if err != nil {
		t.Fatalf("SchemaVersion: %v", err)
	}
	if v != store.LatestSchemaVersion() {
		t.Errorf("SchemaVersion = %d, want %d", v, store.LatestSchemaVersion())
	}
}

// ---------------------------------------------------------------- helpers

func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// wantErr checks err against want: nil means no error, otherwise errors.Is.
func wantErr(t *testing.T, err, want error, what string) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Errorf("%s: unexpected error %v", what, err)
	case want != nil && !errors.Is(err, want):
		t.Errorf("%s: error = %v, want %v", what, err, want)
	}
}

func sameTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// countWinners checks that exactly one error is nil and the others are
// ErrNotFound.
func countWinners(t *testing.T, errs []error, what string) {
	t.Helper()
	winners := 0
	for i, err := range errs {
		switch {
		case err == nil:
			winners++
		case !errors.Is(err, store.ErrNotFound):
			t.Errorf("%s, goroutine %d: error = %v, want nil or ErrNotFound", what, i, err)
		}
	}
	if winners != 1 {
		t.Errorf("%s: %d of %d goroutines succeeded, want exactly 1", what, winners, len(errs))
	}
}

func newUser(t *testing.T, e *env, id, email string) *store.User {
	t.Helper()
	u := &store.User{ID: id, Email: email, Name: id}
	must(t, e.st.CreateUser(e.ctx, u), "create user "+id)
	return u
}

func newSession(t *testing.T, e *env, hash, userID string, ttl time.Duration) *store.Session {
	t.Helper()
	s := &store.Session{IDHash: hash, UserID: userID, Data: []byte(`{"results":[]}`),
		AuthTime: e.now(), ExpiresAt: e.now().Add(ttl)}
	must(t, e.st.CreateSession(e.ctx, s), "create session "+hash)
	return s
}

func sessionLive(t *testing.T, e *env, hash string) bool {
	t.Helper()
	_, err := e.st.GetSession(e.ctx, hash)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetSession(%s): %v", hash, err)
	}
	return err == nil
}

func flowLive(t *testing.T, e *env, id string) bool {
	t.Helper()
	_, err := e.st.GetFlow(e.ctx, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetFlow(%s): %v", id, err)
	}
	return err == nil
}

func newToken(kind, sig, requestID, subject string, exp time.Time) *store.OAuthToken {
	return &store.OAuthToken{Kind: kind, Signature: sig, RequestID: requestID, ClientID: "client-1",
		Subject: subject, Active: true, Data: []byte(`{"sig":"` + sig + `"}`), ExpiresAt: exp}
}

// tokenState is "active", "inactive" or "absent".
func tokenState(t *testing.T, e *env, kind, sig string) string {
	t.Helper()
	tok, err := e.st.GetToken(e.ctx, kind, sig)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "absent"
	case err != nil:
		t.Fatalf("GetToken(%s, %s): %v", kind, sig, err)
	case tok.Active:
		return "active"
	}
	return "inactive"
}

func keyIDs(t *testing.T, e *env) []string {
	t.Helper()
	ks, err := e.st.SigningKeys(e.ctx)
	must(t, err, "SigningKeys")
	ids := []string{}
	for _, k := range ks {
		ids = append(ids, k.ID)
	}
	return ids
}

// ---------------------------------------------------------------- users

func testUserLookup(t *testing.T, e *env) {
	alice := &store.User{ID: "u-alice", Email: " Alice@Example.COM ", Name: "Alice",
		EmailVerified: true, PasswordHash: "$argon2id$placeholder"}
	must(t, e.st.CreateUser(e.ctx, alice), "create alice")
	if alice.Email != "alice@example.com" {
		t.Errorf("CreateUser left Email = %q, want it normalized to %q", alice.Email, "alice@example.com")
	}
	newUser(t, e, "u-bob", "bob@example.com")

	for _, tc := range []struct {
		name, email, wantID string
		wantErr             error
	}{
		{"exact", "alice@example.com", "u-alice", nil},
		{"mixed case padded", " Alice@Example.COM ", "u-alice", nil},
		{"upper case with tab and newline", "\tALICE@EXAMPLE.COM\n", "u-alice", nil},
		{"other user", "BOB@example.com", "u-bob", nil},
		{"unknown", "carol@example.com", "", store.ErrNotFound},
		{"prefix of an email", "alice@example", "", store.ErrNotFound},
		{"empty", "", "", store.ErrNotFound},
	} {
		t.Run("ByEmail/"+tc.name, func(t *testing.T) {
			u, err := e.st.UserByEmail(e.ctx, tc.email)
			wantErr(t, err, tc.wantErr, "UserByEmail")
			if tc.wantErr == nil && err == nil && u.ID != tc.wantID {
				t.Errorf("UserByEmail(%q).ID = %q, want %q", tc.email, u.ID, tc.wantID)
			}
		})
	}
	for _, tc := range []struct {
		name, id string
		wantErr  error
	}{
		{"known", "u-alice", nil},
		{"case matters in IDs", "U-ALICE", store.ErrNotFound},
		{"unknown", "u-nobody", store.ErrNotFound},
	} {
		t.Run("ByID/"+tc.name, func(t *testing.T) {
			u, err := e.st.UserByID(e.ctx, tc.id)
			wantErr(t, err, tc.wantErr, "UserByID")
			if tc.wantErr != nil || err != nil {
				return
			}
			if u.ID != "u-alice" || u.Email != "alice@example.com" || u.Name != "Alice" ||
				!u.EmailVerified || u.PasswordHash != "$argon2id$placeholder" || u.Disabled {
				t.Errorf("UserByID = %+v, fields do not match what was created", u)
			}
			sameTime(t, "CreatedAt", u.CreatedAt, e.now())
		})
	}
}

func testUserConflict(t *testing.T, e *env) {
	newUser(t, e, "u-alice", "alice@example.com")
	for _, tc := range []struct {
		name string
		u    store.User
	}{
		{"same email in other case", store.User{ID: "u-2", Email: "ALICE@Example.com"}},
		{"same email padded", store.User{ID: "u-3", Email: "  alice@example.com "}},
		{"same ID", store.User{ID: "u-alice", Email: "someone@example.com"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := tc.u
			wantErr(t, e.st.CreateUser(e.ctx, &u), store.ErrConflict, "CreateUser")
		})
	}
	us, err := e.st.ListUsers(e.ctx)
	must(t, err, "ListUsers")
	if len(us) != 1 || us[0].ID != "u-alice" || us[0].Name != "u-alice" {
		t.Errorf("after conflicts ListUsers = %+v, want only the original u-alice", us)
	}
}

func testListUsers(t *testing.T, e *env) {
	us, err := e.st.ListUsers(e.ctx)
	must(t, err, "ListUsers on an empty store")
	if len(us) != 0 {
		t.Fatalf("ListUsers on an empty store = %d users", len(us))
	}
	// Created oldest to newest: c, a, b, then e and d at the same instant
	// (ties go by ID).
	newUser(t, e, "u-c", "c@example.com")
	e.clock.Advance(time.Minute)
	newUser(t, e, "u-a", "a@example.com")
	e.clock.Advance(time.Second)
	newUser(t, e, "u-b", "b@example.com")
	e.clock.Advance(time.Millisecond)
	newUser(t, e, "u-e", "e@example.com")
	newUser(t, e, "u-d", "d@example.com")

	us, err = e.st.ListUsers(e.ctx)
	must(t, err, "ListUsers")
	var got []string
	for _, u := range us {
		got = append(got, u.ID)
	}
	if want := []string{"u-c", "u-a", "u-b", "u-d", "u-e"}; !slices.Equal(got, want) {
		t.Errorf("ListUsers order = %v, want %v", got, want)
	}
}

func testSetUserDisabled(t *testing.T, e *env) {
	newUser(t, e, "u-alice", "alice@example.com")
	newUser(t, e, "u-bob", "bob@example.com")
	newSession(t, e, "a1", "u-alice", time.Hour)
	newSession(t, e, "a2", "u-alice", time.Hour)
	newSession(t, e, "b1", "u-bob", time.Hour)

	must(t, e.st.SetUserDisabled(e.ctx, "u-alice", true), "disable alice")
	u, err := e.st.UserByID(e.ctx, "u-alice")
	must(t, err, "UserByID")
	if !u.Disabled {
		t.Error("alice is not disabled")
	}
	for hash, want := range map[string]bool{"a1": false, "a2": false, "b1": true} {
		if got := sessionLive(t, e, hash); got != want {
			t.Errorf("after disabling alice, session %s live = %v, want %v", hash, got, want)
		}
	}
	if b, _ := e.st.UserByID(e.ctx, "u-bob"); b == nil || b.Disabled {
		t.Error("bob was disabled too")
	}

	must(t, e.st.SetUserDisabled(e.ctx, "u-alice", false), "enable alice")
	u, err = e.st.UserByID(e.ctx, "u-alice")
	must(t, err, "UserByID")
	if u.Disabled {
		t.Error("alice is still disabled after enabling")
	}
	if sessionLive(t, e, "a1") {
		t.Error("enabling alice brought back a revoked session")
	}

	for _, disabled := range []bool{true, false} {
		wantErr(t, e.st.SetUserDisabled(e.ctx, "u-nobody", disabled), store.ErrNotFound,
			fmt.Sprintf("SetUserDisabled(unknown, %v)", disabled))
	}
}

func testSetPasswordHash(t *testing.T, e *env) {
	alice := &store.User{ID: "u-alice", Email: "alice@example.com", PasswordHash: "old"}
	must(t, e.st.CreateUser(e.ctx, alice), "create alice")
	bob := &store.User{ID: "u-bob", Email: "bob@example.com", PasswordHash: "bob's"}
	must(t, e.st.CreateUser(e.ctx, bob), "create bob")
	e.clock.Advance(time.Minute)

	for _, tc := range []struct{ name, hash string }{
		{"new hash", "new"},
		{"cleared", ""},
		{"set again", "newer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			must(t, e.st.SetPasswordHash(e.ctx, "u-alice", tc.hash), "SetPasswordHash")
			u, err := e.st.UserByID(e.ctx, "u-alice")
			must(t, err, "UserByID")
			if u.PasswordHash != tc.hash {
				t.Errorf("PasswordHash = %q, want %q", u.PasswordHash, tc.hash)
			}
			sameTime(t, "UpdatedAt", u.UpdatedAt, e.now())
		})
	}
	if b, err := e.st.UserByID(e.ctx, "u-bob"); err != nil || b.PasswordHash != "bob's" {
		t.Errorf("bob's hash changed: %+v, %v", b, err)
	}
	wantErr(t, e.st.SetPasswordHash(e.ctx, "u-nobody", "x"), store.ErrNotFound, "SetPasswordHash(unknown)")
}

func testUserNameAndEmailVerified(t *testing.T, e *env) {
	// A new user's address is unproven and they have no name unless given.
	must(t, e.st.CreateUser(e.ctx, &store.User{ID: "u-alice", Email: "alice@example.com"}), "create alice")
	newUser(t, e, "u-bob", "bob@example.com")
	u, err := e.st.UserByID(e.ctx, "u-alice")
	must(t, err, "UserByID")
	if u.EmailVerified || u.Name != "" {
		t.Fatalf("new user: EmailVerified=%v Name=%q, want false and empty", u.EmailVerified, u.Name)
	}
	e.clock.Advance(time.Minute)

	for _, tc := range []struct {
		name     string
		op       func() error
		wantName string
		verified bool
	}{
		{"name set", func() error { return e.st.SetUserName(e.ctx, "u-alice", "Alice Liddell") }, "Alice Liddell", false},
		{"verified", func() error { return e.st.MarkEmailVerified(e.ctx, "u-alice") }, "Alice Liddell", true},
		{"verified again", func() error { return e.st.MarkEmailVerified(e.ctx, "u-alice") }, "Alice Liddell", true},
		{"name with accents", func() error { return e.st.SetUserName(e.ctx, "u-alice", "Alice Lidélle") }, "Alice Lidélle", true},
		{"name removed, still verified", func() error { return e.st.SetUserName(e.ctx, "u-alice", "") }, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.clock.Advance(time.Second)
			must(t, tc.op(), tc.name)
			u, err := e.st.UserByID(e.ctx, "u-alice")
			must(t, err, "UserByID")
			if u.Name != tc.wantName || u.EmailVerified != tc.verified {
				t.Errorf("Name=%q EmailVerified=%v, want %q %v", u.Name, u.EmailVerified, tc.wantName, tc.verified)
			}
			sameTime(t, "UpdatedAt", u.UpdatedAt, e.now())
		})
	}
	if b, err := e.st.UserByID(e.ctx, "u-bob"); err != nil || b.Name != "u-bob" || b.EmailVerified {
		t.Errorf("bob changed: %+v, %v", b, err)
	}
	wantErr(t, e.st.SetUserName(e.ctx, "u-nobody", "x"), store.ErrNotFound, "SetUserName(unknown)")
	wantErr(t, e.st.MarkEmailVerified(e.ctx, "u-nobody"), store.ErrNotFound, "MarkEmailVerified(unknown)")
}

// ---------------------------------------------------------------- flows

func testFlowCreateGet(t *testing.T, e *env) {
	data := []byte(`{"step":1,"return_to":"/oauth2/auth?x=1"}`)
	must(t, e.st.CreateFlow(e.ctx, "f1", data, e.now().Add(10*time.Minute)), "CreateFlow")
	must(t, e.st.CreateFlow(e.ctx, "f2", []byte(`{"step":2}`), e.now().Add(10*time.Minute)), "CreateFlow f2")

	got, err := e.st.GetFlow(e.ctx, "f1")
	must(t, err, "GetFlow")
	if !bytes.Equal(got, data) {
		t.Errorf("GetFlow = %s, want %s", got, data)
	}
	_, err = e.st.GetFlow(e.ctx, "f-unknown")
	wantErr(t, err, store.ErrNotFound, "GetFlow(unknown)")

	if err := e.st.CreateFlow(e.ctx, "f1", []byte(`{"evil":true}`), e.now().Add(time.Hour)); err == nil {
		t.Error("CreateFlow with a taken ID succeeded")
	}
	got, err = e.st.GetFlow(e.ctx, "f1")
	must(t, err, "GetFlow after duplicate create")
	if !bytes.Equal(got, data) {
		t.Errorf("duplicate CreateFlow changed the flow to %s", got)
	}
}

func testFlowExpiry(t *testing.T, e *env) {
	must(t, e.st.CreateFlow(e.ctx, "f1", []byte(`{}`), e.now().Add(10*time.Minute)), "CreateFlow")
	for _, step := range []struct {
		advance time.Duration
		live    bool
	}{
		{0, true},
		{9*time.Minute + 59*time.Second, true},
		{time.Second, false}, // exactly at expiry: gone
		{time.Hour, false},
	} {
		e.clock.Advance(step.advance)
		if got := flowLive(t, e, "f1"); got != step.live {
			t.Fatalf("at %v flow live = %v, want %v", e.now(), got, step.live)
		}
	}
	called := false
	err := e.st.UpdateFlow(e.ctx, "f1", func(_ context.Context, b []byte) ([]byte, error) { called = true; return b, nil })
	wantErr(t, err, store.ErrNotFound, "UpdateFlow(expired)")
	if called {
		t.Error("UpdateFlow called fn for an expired flow")
	}
	wantErr(t, e.st.ConsumeFlow(e.ctx, "f1"), store.ErrNotFound, "ConsumeFlow(expired)")
}

func testFlowUpdate(t *testing.T, e *env) {
	must(t, e.st.CreateFlow(e.ctx, "f1", []byte(`{"n":1}`), e.now().Add(time.Hour)), "CreateFlow")
	must(t, e.st.CreateFlow(e.ctx, "f2", []byte(`{"other":true}`), e.now().Add(time.Hour)), "CreateFlow f2")

	var seen []byte
	err := e.st.UpdateFlow(e.ctx, "f1", func(_ context.Context, b []byte) ([]byte, error) {
		seen = slices.Clone(b)
		return []byte(`{"n":2}`), nil
	})
	must(t, err, "UpdateFlow")
	if string(seen) != `{"n":1}` {
		t.Errorf("fn got %s, want the stored document", seen)
	}
	if got, _ := e.st.GetFlow(e.ctx, "f1"); string(got) != `{"n":2}` {
		t.Errorf("after UpdateFlow GetFlow = %s, want {\"n\":2}", got)
	}

	abort := errors.New("abort this step")
	err = e.st.UpdateFlow(e.ctx, "f1", func(_ context.Context, _ []byte) ([]byte, error) { return []byte(`{"n":99}`), abort })
	if !errors.Is(err, abort) {
		t.Errorf("UpdateFlow with failing fn = %v, want fn's error", err)
	}
	if got, _ := e.st.GetFlow(e.ctx, "f1"); string(got) != `{"n":2}` {
		t.Errorf("aborted UpdateFlow wrote %s", got)
	}
	if got, _ := e.st.GetFlow(e.ctx, "f2"); string(got) != `{"other":true}` {
		t.Errorf("UpdateFlow of f1 changed f2 to %s", got)
	}

	called := false
	err = e.st.UpdateFlow(e.ctx, "f-unknown", func(_ context.Context, b []byte) ([]byte, error) { called = true; return b, nil })
	wantErr(t, err, store.ErrNotFound, "UpdateFlow(unknown)")
	if called {
		t.Error("UpdateFlow called fn for an unknown flow")
	}
}

func testFlowConsume(t *testing.T, e *env) {
	must(t, e.st.CreateFlow(e.ctx, "f1", []byte(`{}`), e.now().Add(time.Hour)), "CreateFlow")
	must(t, e.st.CreateFlow(e.ctx, "f2", []byte(`{}`), e.now().Add(time.Hour)), "CreateFlow f2")

	must(t, e.st.ConsumeFlow(e.ctx, "f1"), "first ConsumeFlow")
	wantErr(t, e.st.ConsumeFlow(e.ctx, "f1"), store.ErrNotFound, "second ConsumeFlow")
	if flowLive(t, e, "f1") {
		t.Error("GetFlow returns a consumed flow")
	}
	err := e.st.UpdateFlow(e.ctx, "f1", func(_ context.Context, b []byte) ([]byte, error) { return b, nil })
	wantErr(t, err, store.ErrNotFound, "UpdateFlow(consumed)")
	wantErr(t, e.st.ConsumeFlow(e.ctx, "f-unknown"), store.ErrNotFound, "ConsumeFlow(unknown)")
	if !flowLive(t, e, "f2") {
		t.Error("consuming f1 consumed f2")
	}
}

func testFlowConcurrentConsume(t *testing.T, e *env) {
	must(t, e.st.CreateFlow(e.ctx, "f1", []byte(`{}`), e.now().Add(time.Hour)), "CreateFlow")
	errs := testkit.Race(20, func(int) error { return e.st.ConsumeFlow(e.ctx, "f1") })
	countWinners(t, errs, "ConsumeFlow")
	if flowLive(t, e, "f1") {
		t.Error("flow still live after being consumed")
	}
}

func testFlowConcurrentUpdate(t *testing.T, e *env) {
	type doc struct {
		N       int   `json:"n"`
		Markers []int `json:"markers"`
	}
	must(t, e.st.CreateFlow(e.ctx, "f1", []byte(`{"n":0,"markers":[]}`), e.now().Add(time.Hour)), "CreateFlow")
	const n = 20
	errs := testkit.Race(n, func(i int) error {
		return e.st.UpdateFlow(e.ctx, "f1", func(_ context.Context, b []byte) ([]byte, error) {
			var d doc
			if err := json.Unmarshal(b, &d); err != nil {
				return nil, err
			}
			d.N++
			d.Markers = append(d.Markers, i)
			return json.Marshal(d)
		})
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("UpdateFlow in goroutine %d: %v", i, err)
		}
	}
	b, err := e.st.GetFlow(e.ctx, "f1")
	must(t, err, "GetFlow")
	var d doc
	must(t, json.Unmarshal(b, &d), "decode flow")
	if d.N != n {
		t.Errorf("counter = %d after %d concurrent increments: updates were lost", d.N, n)
	}
	slices.Sort(d.Markers)
	want := make([]int, n)
	for i := range want {
		want[i] = i
	}
	if !slices.Equal(d.Markers, want) {
		t.Errorf("markers = %v, want each of 0..%d once", d.Markers, n-1)
	}
}

// withinDeadline fails the test when fn has not returned in time: a store
// call that waits for a lock its own caller holds would block until
// SQLite's busy_timeout (10 s) and then fail, or forever on PostgreSQL.
func withinDeadline(t *testing.T, what string, fn func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatalf("%s blocked for more than 5s: a store call inside the update waits for the update's own lock", what)
		return nil
	}
}

func testFlowWriteInsideUpdate(t *testing.T, e *env) {
	must(t, e.st.CreateFlow(e.ctx, "f1", []byte(`{"n":1}`), e.now().Add(time.Hour)), "CreateFlow")

	// A write made with the context fn receives joins the update and
	// commits with it.
	err := withinDeadline(t, "UpdateFlow with a write inside", func() error {
		return e.st.UpdateFlow(e.ctx, "f1", func(ctx context.Context, b []byte) ([]byte, error) {
			if err := e.st.CreateUser(ctx, &store.User{ID: "u-inside", Email: "inside@example.com"}); err != nil {
				return nil, err
			}
			if err := e.st.CreateFlow(ctx, "f-child", []byte(`{}`), e.now().Add(time.Hour)); err != nil {
				return nil, err
			}
			// A read inside sees the transaction's own write.
			if _, err := e.st.UserByID(ctx, "u-inside"); err != nil {
				return nil, fmt.Errorf("read own write: %w", err)
			}
			return []byte(`{"n":2}`), nil
		})
	})
	must(t, err, "UpdateFlow with writes inside")
	if _, err := e.st.UserByID(e.ctx, "u-inside"); err != nil {
		t.Errorf("user written inside the update is missing after commit: %v", err)
	}
	if !flowLive(t, e, "f-child") {
		t.Error("flow created inside the update is missing after commit")
	}

	// When fn fails, its writes roll back with the flow.
	abort := errors.New("abort")
	err = withinDeadline(t, "aborted UpdateFlow with a write inside", func() error {
		return e.st.UpdateFlow(e.ctx, "f1", func(ctx context.Context, b []byte) ([]byte, error) {
			if err := e.st.CreateUser(ctx, &store.User{ID: "u-rolled-back", Email: "rolled@example.com"}); err != nil {
				return nil, err
			}
			return []byte(`{"n":3}`), abort
		})
	})
	if !errors.Is(err, abort) {
		t.Fatalf("aborted UpdateFlow = %v, want fn's error", err)
	}
	if _, err := e.st.UserByID(e.ctx, "u-rolled-back"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("user written inside an aborted update: UserByID = %v, want ErrNotFound", err)
	}
	if got, _ := e.st.GetFlow(e.ctx, "f1"); string(got) != `{"n":2}` {
		t.Errorf("aborted update left the flow at %s, want {\"n\":2}", got)
	}
}

// testFlowConcurrentSingleUse races updates that each try to use a
// single-use value kept in the flow and, when they find it, write a row:
// exactly one finds it, exactly one row is written, and none blocks.
func testFlowConcurrentSingleUse(t *testing.T, e *env) {
	must(t, e.st.CreateFlow(e.ctx, "f1", []byte(`{"challenge":"c1"}`), e.now().Add(time.Hour)), "CreateFlow")
	const n = 12
	var errs []error
	err := withinDeadline(t, "racing updates with writes inside", func() error {
		errs = testkit.Race(n, func(i int) error {
			return e.st.UpdateFlow(e.ctx, "f1", func(ctx context.Context, b []byte) ([]byte, error) {
				var d struct {
					Challenge string `json:"challenge"`
				}
				if err := json.Unmarshal(b, &d); err != nil {
					return nil, err
				}
				if d.Challenge == "" {
					return nil, store.ErrNotFound // already used
				}
				id := fmt.Sprintf("u-%d", i)
				if err := e.st.CreateUser(ctx, &store.User{ID: id, Email: id + "@example.com"}); err != nil {
					return nil, err
				}
				return []byte(`{"challenge":""}`), nil
			})
		})
		return nil
	})
	must(t, err, "race")
	countWinners(t, errs, "UpdateFlow using a single-use challenge")
	users, err := e.st.ListUsers(e.ctx)
	must(t, err, "ListUsers")
	if len(users) != 1 {
		t.Errorf("%d rows written by %d racing updates, want exactly 1", len(users), n)
	}
}

// ---------------------------------------------------------------- remembered browsers

func remember(t *testing.T, e *env, id, token, userID string, ttl time.Duration) {
	t.Helper()
	must(t, e.st.RememberBrowser(e.ctx, &store.RememberedBrowser{ID: id, TokenHash: token, UserID: userID,
		UserAgent: "Firefox on Linux", IP: "192.0.2.7", ExpiresAt: e.now().Add(ttl)}), "RememberBrowser "+id)
}

func remembered(t *testing.T, e *env, token, userID string) bool {
	t.Helper()
	ok, err := e.st.UseRememberedBrowser(e.ctx, token, userID)
	must(t, err, "UseRememberedBrowser")
	return ok
}

func rememberedIDs(t *testing.T, e *env, userID string) []string {
	t.Helper()
	list, err := e.st.ListRememberedBrowsers(e.ctx, userID)
	must(t, err, "ListRememberedBrowsers")
	var ids []string
	for _, b := range list {
		ids = append(ids, b.ID)
	}
	return ids
}

func testRememberedLifecycle(t *testing.T, e *env) {
	remember(t, e, "rb-1", "tok-a", "u-alice", time.Hour)
	// One browser (one token) remembered for two users: two rows.
	remember(t, e, "rb-2", "tok-a", "u-bob", time.Hour)

	for _, c := range []struct {
		token, user string
		want        bool
	}{
		{"tok-a", "u-alice", true},
		{"tok-a", "u-bob", true},
		{"tok-b", "u-alice", false}, // another browser
		{"tok-a", "u-carol", false}, // another user on this browser
	} {
		if got := remembered(t, e, c.token, c.user); got != c.want {
			t.Errorf("UseRememberedBrowser(%s, %s) = %v, want %v", c.token, c.user, got, c.want)
		}
	}
	list, err := e.st.ListRememberedBrowsers(e.ctx, "u-alice")
	must(t, err, "ListRememberedBrowsers")
	if len(list) != 1 || list[0].ID != "rb-1" || list[0].UserAgent != "Firefox on Linux" || list[0].IP != "192.0.2.7" {
		t.Fatalf("ListRememberedBrowsers(alice) = %+v, want rb-1 with its description", list)
	}
	sameTime(t, "ExpiresAt", list[0].ExpiresAt, e.now().Add(time.Hour))

	// Bob cannot revoke Alice's browser by its ID.
	ok, err := e.st.RevokeRememberedBrowser(e.ctx, "u-bob", "rb-1")
	must(t, err, "RevokeRememberedBrowser(bob, rb-1)")
	if ok || !remembered(t, e, "tok-a", "u-alice") {
		t.Errorf("another user's revoke reported %v / changed Alice's browser", ok)
	}
	ok, err = e.st.RevokeRememberedBrowser(e.ctx, "u-alice", "rb-1")
	must(t, err, "RevokeRememberedBrowser")
	if !ok {
		t.Error("RevokeRememberedBrowser of a live row reported false")
	}
	if remembered(t, e, "tok-a", "u-alice") {
		t.Error("revoked browser still stands in")
	}
	if !remembered(t, e, "tok-a", "u-bob") {
		t.Error("revoking Alice's row revoked Bob's on the same browser")
	}
	if ok, _ := e.st.RevokeRememberedBrowser(e.ctx, "u-alice", "rb-1"); ok {
		t.Error("second revoke reported a live row")
	}
	if ids := rememberedIDs(t, e, "u-alice"); len(ids) != 0 {
		t.Errorf("revoked browser still listed: %v", ids)
	}

	// Remembering again after a new second factor renews the row.
	remember(t, e, "rb-3", "tok-a", "u-alice", time.Hour)
	if !remembered(t, e, "tok-a", "u-alice") {
		t.Error("re-remembered browser does not stand in")
	}
	if ids := rememberedIDs(t, e, "u-alice"); len(ids) != 1 {
		t.Errorf("after renewing, Alice has rows %v, want one", ids)
	}
}

func testRememberedExpiry(t *testing.T, e *env) {
	remember(t, e, "rb-1", "tok-a", "u-alice", time.Hour)
	e.clock.Advance(time.Hour - time.Second)
	if !remembered(t, e, "tok-a", "u-alice") {
		t.Fatal("browser forgotten before its expiry")
	}
	e.clock.Advance(time.Second)
	if remembered(t, e, "tok-a", "u-alice") {
		t.Error("browser still stands in at its expiry")
	}
	if ids := rememberedIDs(t, e, "u-alice"); len(ids) != 0 {
		t.Errorf("expired browser listed: %v", ids)
	}
	e.clock.Advance(time.Second)
	must(t, e.st.PurgeExpired(e.ctx), "PurgeExpired")
	e.clock.Advance(-2 * time.Hour) // the row would be live again, had it been kept
	if remembered(t, e, "tok-a", "u-alice") {
		t.Error("PurgeExpired kept an expired remembered browser")
	}
}

func testRememberedRevokeUser(t *testing.T, e *env) {
	remember(t, e, "rb-1", "tok-a", "u-alice", time.Hour)
	remember(t, e, "rb-2", "tok-b", "u-alice", time.Hour)
	remember(t, e, "rb-3", "tok-a", "u-bob", time.Hour)
	n, err := e.st.RevokeUserRememberedBrowsers(e.ctx, "u-alice")
	must(t, err, "RevokeUserRememberedBrowsers")
	if n != 2 {
		t.Errorf("RevokeUserRememberedBrowsers = %d, want 2", n)
	}
	if remembered(t, e, "tok-a", "u-alice") || remembered(t, e, "tok-b", "u-alice") {
		t.Error("a revoked browser of Alice still stands in")
	}
	if !remembered(t, e, "tok-a", "u-bob") {
		t.Error("revoking Alice's browsers revoked Bob's")
	}
	// Inside a transaction that rolls back, nothing is revoked.
	abort := errors.New("abort")
	err = e.st.Transaction(e.ctx, func(ctx context.Context) error {
		if _, err := e.st.RevokeUserRememberedBrowsers(ctx, "u-bob"); err != nil {
			return err
		}
		return abort
	})
	if !errors.Is(err, abort) || !remembered(t, e, "tok-a", "u-bob") {
		t.Errorf("rolled-back revoke: err %v, Bob's browser live %v", err, remembered(t, e, "tok-a", "u-bob"))
	}
}

// ---------------------------------------------------------------- sessions

func testRotateSession(t *testing.T, e *env) {
	newSession(t, e, "h1", "u-alice", time.Hour)
	must(t, e.st.AddSessionClient(e.ctx, "h1", "shop"), "AddSessionClient")
	got, err := e.st.SessionByCookie(e.ctx, "h1")
	if err != nil || got.IDHash != "h1" {
		t.Fatalf("SessionByCookie of a new session = %v, %v; its cookie hash starts as its ID", got, err)
	}
	e.clock.Advance(time.Minute)
	must(t, e.st.RotateSession(e.ctx, "h1", "h1", "c2", []byte(`{"results":["pwd","otp"]}`), e.now(), e.now().Add(time.Hour)), "RotateSession")
	if _, err := e.st.SessionByCookie(e.ctx, "h1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("old cookie still finds the session: %v", err)
	}
	got, err = e.st.SessionByCookie(e.ctx, "c2")
	must(t, err, "SessionByCookie(new)")
	if got.IDHash != "h1" || string(got.Data) != `{"results":["pwd","otp"]}` {
		t.Errorf("rotated session = %s %s, want the same sid with the new data", got.IDHash, got.Data)
	}
	sameTime(t, "AuthTime", got.AuthTime, e.now())
	if ids, _ := e.st.SessionClients(e.ctx, "h1"); len(ids) != 1 {
		t.Errorf("clients of the session after rotation: %v, want [shop]", ids)
	}
	wantErr(t, e.st.RotateSession(e.ctx, "h1", "h1", "c3", []byte(`{}`), e.now(), e.now().Add(time.Hour)), store.ErrNotFound, "RotateSession from the dead cookie")
	errs := testkit.Race(8, func(i int) error {
		return e.st.RotateSession(e.ctx, "h1", "c2", fmt.Sprintf("c-race-%d", i), []byte(`{}`), e.now(), e.now().Add(time.Hour))
	})
	countWinners(t, errs, "RotateSession from one cookie")
	if _, err := e.st.RevokeSession(e.ctx, "h1"); err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		if _, err := e.st.SessionByCookie(e.ctx, fmt.Sprintf("c-race-%d", i)); err == nil {
			t.Error("a revoked session is found by its cookie")
		}
	}
}

func testSessionLifecycle(t *testing.T, e *env) {
	t0 := e.now()
	s := &store.Session{IDHash: "h1", UserID: "u-alice", Data: []byte(`{"results":["pwd"]}`),
		AuthTime: t0.Add(-time.Minute), UserAgent: "Firefox", IP: "192.0.2.1", ExpiresAt: t0.Add(time.Hour)}
	must(t, e.st.CreateSession(e.ctx, s), "CreateSession")

	got, err := e.st.GetSession(e.ctx, "h1")
	must(t, err, "GetSession")
	if got.UserID != "u-alice" || string(got.Data) != `{"results":["pwd"]}` || got.UserAgent != "Firefox" ||
		got.IP != "192.0.2.1" || got.RevokedAt != nil {
		t.Errorf("GetSession = %+v, fields do not match what was created", got)
	}
	sameTime(t, "AuthTime", got.AuthTime, t0.Add(-time.Minute))
	sameTime(t, "ExpiresAt", got.ExpiresAt, t0.Add(time.Hour))
	sameTime(t, "CreatedAt", got.CreatedAt, t0)
	sameTime(t, "LastSeenAt", got.LastSeenAt, t0)

	_, err = e.st.GetSession(e.ctx, "h-unknown")
	wantErr(t, err, store.ErrNotFound, "GetSession(unknown)")

	for _, tc := range []struct {
		name, hash string
		want       bool
	}{
		{"live", "h1", true},
		{"already revoked", "h1", false},
		{"unknown", "h-unknown", false},
	} {
		ok, err := e.st.RevokeSession(e.ctx, tc.hash)
		must(t, err, "RevokeSession "+tc.name)
		if ok != tc.want {
			t.Errorf("RevokeSession(%s) = %v, want %v", tc.name, ok, tc.want)
		}
	}
	if sessionLive(t, e, "h1") {
		t.Error("GetSession returns a revoked session")
	}
}

func testSessionExpiry(t *testing.T, e *env) {
	newSession(t, e, "h1", "u-alice", time.Hour)
	for _, step := range []struct {
		advance time.Duration
		live    bool
	}{
		{59 * time.Minute, true},
		{time.Minute, false}, // exactly at expiry
		{time.Hour, false},
	} {
		e.clock.Advance(step.advance)
		if got := sessionLive(t, e, "h1"); got != step.live {
			t.Fatalf("at %v session live = %v, want %v", e.now(), got, step.live)
		}
		ss, err := e.st.ListUserSessions(e.ctx, "u-alice")
		must(t, err, "ListUserSessions")
		if (len(ss) == 1) != step.live {
			t.Errorf("at %v ListUserSessions has %d sessions, want live=%v", e.now(), len(ss), step.live)
		}
	}
}

func testListUserSessions(t *testing.T, e *env) {
	newSession(t, e, "s1", "u-alice", time.Hour)
	e.clock.Advance(time.Minute)
	newSession(t, e, "s2", "u-alice", time.Hour)
	e.clock.Advance(time.Minute)
	newSession(t, e, "s3-expires", "u-alice", 2*time.Minute)
	newSession(t, e, "s4-revoked", "u-alice", time.Hour)
	newSession(t, e, "s5-bob", "u-bob", time.Hour)
	if ok, err := e.st.RevokeSession(e.ctx, "s4-revoked"); err != nil || !ok {
		t.Fatalf("RevokeSession = %v, %v", ok, err)
	}
	e.clock.Advance(3 * time.Minute)

	for _, tc := range []struct {
		user string
		want []string
	}{
		{"u-alice", []string{"s2", "s1"}},
		{"u-bob", []string{"s5-bob"}},
		{"u-nobody", nil},
	} {
		ss, err := e.st.ListUserSessions(e.ctx, tc.user)
		must(t, err, "ListUserSessions")
		var got []string
		for _, s := range ss {
			got = append(got, s.IDHash)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("ListUserSessions(%s) = %v, want %v", tc.user, got, tc.want)
		}
	}
}

// ---------------------------------------------------------------- signing keys

func testSwitchSigningKey(t *testing.T, e *env) {
	if ids := keyIDs(t, e); len(ids) != 0 {
		t.Fatalf("fresh store has signing keys %v", ids)
	}
	t0 := e.now()
	created, err := e.st.SwitchSigningKey(e.ctx, &store.SigningKey{ID: "k1", Algorithm: "RS256", PrivateKey: []byte("sealed-1")}, time.Hour)
	must(t, err, "first SwitchSigningKey")
	if !created {
		t.Error("first SwitchSigningKey reported false")
	}
	e.clock.Advance(time.Minute)
	created, err = e.st.SwitchSigningKey(e.ctx, &store.SigningKey{ID: "k2", Algorithm: "RS256", PrivateKey: []byte("sealed-2")}, time.Hour)
	must(t, err, "second SwitchSigningKey")
	if created {
		t.Error("second SwitchSigningKey reported true")
	}
	ks, err := e.st.SigningKeys(e.ctx)
	must(t, err, "SigningKeys")
	if len(ks) != 1 {
		t.Fatalf("SigningKeys = %d keys, want 1", len(ks))
	}
	k := ks[0]
	if k.ID != "k1" || k.Algorithm != "RS256" || string(k.PrivateKey) != "sealed-1" || k.RetireAfter != nil {
		t.Errorf("SigningKeys()[0] = %+v, want k1 as stored", k)
	}
	sameTime(t, "CreatedAt", k.CreatedAt, t0)

	// A switch of algorithm adds the new key and keeps the old one
	// published for the grace; a second switch to it adds nothing.
	e.clock.Advance(time.Minute)
	t1 := e.now()
	created, err = e.st.SwitchSigningKey(e.ctx, &store.SigningKey{ID: "k3", Algorithm: "ES256", PrivateKey: []byte("sealed-3")}, 2*time.Hour)
	must(t, err, "SwitchSigningKey to ES256")
	if !created {
		t.Error("SwitchSigningKey to ES256 reported false")
	}
	created, err = e.st.SwitchSigningKey(e.ctx, &store.SigningKey{ID: "k4", Algorithm: "ES256", PrivateKey: []byte("sealed-4")}, 2*time.Hour)
	must(t, err, "second SwitchSigningKey to ES256")
	if created {
		t.Error("second SwitchSigningKey to ES256 reported true")
	}
	if ids := keyIDs(t, e); !slices.Equal(ids, []string{"k3", "k1"}) {
		t.Fatalf("SigningKeys after the switch = %v, want [k3 k1]", ids)
	}
	ks, err = e.st.SigningKeys(e.ctx)
	must(t, err, "SigningKeys")
	if ks[1].RetireAfter == nil {
		t.Fatal("the RS256 key has no RetireAfter after the switch")
	}
	sameTime(t, "RS256 key RetireAfter", *ks[1].RetireAfter, t1.Add(2*time.Hour))
	e.clock.Advance(2*time.Hour + time.Second)
	if ids := keyIDs(t, e); !slices.Equal(ids, []string{"k3"}) {
		t.Errorf("SigningKeys past the grace = %v, want [k3]", ids)
	}
}

func testConcurrentSwitchSigningKey(t *testing.T, e *env) {
	// Without serialization two of them can both see no key and both
	// insert one; 20 goroutines make that race likely to show.
	const n = 20
	created := make([]bool, n)
	errs := testkit.Race(n, func(i int) error {
		var err error
		created[i], err = e.st.SwitchSigningKey(e.ctx, &store.SigningKey{
			ID: fmt.Sprintf("k%02d", i), Algorithm: "RS256", PrivateKey: []byte("sealed")}, time.Hour)
		return err
	})
	winner := ""
	for i, err := range errs {
		if err != nil {
			t.Errorf("SwitchSigningKey in goroutine %d: %v", i, err)
		}
		if created[i] {
			if winner != "" {
				t.Errorf("both %s and k%02d were stored", winner, i)
			}
			winner = fmt.Sprintf("k%02d", i)
		}
	}
	if winner == "" {
		t.Fatal("no SwitchSigningKey reported storing its key")
	}
	if ids := keyIDs(t, e); !slices.Equal(ids, []string{winner}) {
		t.Errorf("SigningKeys = %v, want only the winner %s", ids, winner)
	}
}

func testRotateSigningKey(t *testing.T, e *env) {
	_, err := e.st.SwitchSigningKey(e.ctx, &store.SigningKey{ID: "k1", Algorithm: "RS256", PrivateKey: []byte("1")}, time.Hour)
	must(t, err, "SwitchSigningKey")
	e.clock.Advance(time.Hour)
	t1 := e.now()
	const grace = 24 * time.Hour
	must(t, e.st.AddSigningKey(e.ctx, &store.SigningKey{ID: "k2", Algorithm: "RS256", PrivateKey: []byte("2")}, grace), "AddSigningKey k2")

	ks, err := e.st.SigningKeys(e.ctx)
	must(t, err, "SigningKeys")
	if len(ks) != 2 || ks[0].ID != "k2" || ks[1].ID != "k1" {
		t.Fatalf("SigningKeys after rotation = %v, want [k2 k1]", keyIDs(t, e))
	}
	if ks[0].RetireAfter != nil {
		t.Errorf("new key has RetireAfter %v", ks[0].RetireAfter)
	}
	if ks[1].RetireAfter == nil {
		t.Fatal("old key has no RetireAfter")
	}
	sameTime(t, "old key RetireAfter", *ks[1].RetireAfter, t1.Add(grace))
	sameTime(t, "new key CreatedAt", ks[0].CreatedAt, t1)

	if created, err := e.st.SwitchSigningKey(e.ctx, &store.SigningKey{ID: "k-x", Algorithm: "RS256", PrivateKey: []byte("x")}, time.Hour); err != nil || created {
		t.Errorf("SwitchSigningKey after rotation = %v, %v; want false, nil", created, err)
	}

	// A second rotation soon after does not shorten k1's grace.
	e.clock.Advance(time.Minute)
	must(t, e.st.AddSigningKey(e.ctx, &store.SigningKey{ID: "k3", Algorithm: "RS256", PrivateKey: []byte("3")}, time.Hour), "AddSigningKey k3")

	for _, step := range []struct {
		advance time.Duration
		want    []string
	}{
		{0, []string{"k3", "k2", "k1"}},
		{time.Hour - time.Second, []string{"k3", "k2", "k1"}},
		{2 * time.Second, []string{"k3", "k1"}}, // k2's hour is over
		{grace - time.Hour - time.Minute - 2*time.Second, []string{"k3", "k1"}},
		{2 * time.Second, []string{"k3"}}, // past k1's grace
		{365 * 24 * time.Hour, []string{"k3"}},
	} {
		e.clock.Advance(step.advance)
		if got := keyIDs(t, e); !slices.Equal(got, step.want) {
			t.Errorf("at %v (rotation + %v) SigningKeys = %v, want %v", e.now(), e.now().Sub(t1), got, step.want)
		}
	}
}

// ---------------------------------------------------------------- tokens

func testTokenCreateGet(t *testing.T, e *env) {
	exp := e.now().Add(10 * time.Minute)
	must(t, e.st.CreateToken(e.ctx, newToken(store.KindAuthorizeCode, "sig-1", "req-1", "u-alice", exp)), "CreateToken")

	got, err := e.st.GetToken(e.ctx, store.KindAuthorizeCode, "sig-1")
	must(t, err, "GetToken")
	if got.Kind != store.KindAuthorizeCode || got.Signature != "sig-1" || got.RequestID != "req-1" ||
		got.ClientID != "client-1" || got.Subject != "u-alice" || !got.Active || string(got.Data) != `{"sig":"sig-1"}` {
		t.Errorf("GetToken = %+v, fields do not match what was created", got)
	}
	sameTime(t, "ExpiresAt", got.ExpiresAt, exp)
	sameTime(t, "CreatedAt", got.CreatedAt, e.now())

	for _, tc := range []struct{ name, kind, sig string }{
		{"unknown signature", store.KindAuthorizeCode, "sig-2"},
		{"other kind", store.KindAccessToken, "sig-1"},
	} {
		_, err := e.st.GetToken(e.ctx, tc.kind, tc.sig)
		wantErr(t, err, store.ErrNotFound, "GetToken("+tc.name+")")
	}
}

func testTokenConflict(t *testing.T, e *env) {
	exp := e.now().Add(time.Hour)
	must(t, e.st.CreateToken(e.ctx, newToken(store.KindRefreshToken, "sig-1", "req-1", "u-alice", exp)), "CreateToken")
	dup := newToken(store.KindRefreshToken, "sig-1", "req-evil", "u-mallory", exp)
	wantErr(t, e.st.CreateToken(e.ctx, dup), store.ErrConflict, "CreateToken(same kind and signature)")
	got, err := e.st.GetToken(e.ctx, store.KindRefreshToken, "sig-1")
	must(t, err, "GetToken")
	if got.RequestID != "req-1" || got.Subject != "u-alice" {
		t.Errorf("duplicate CreateToken overwrote the token: %+v", got)
	}
	must(t, e.st.CreateToken(e.ctx, newToken(store.KindAccessToken, "sig-1", "req-1", "u-alice", exp)),
		"CreateToken(same signature, other kind)")
}

func testTokenDeactivate(t *testing.T, e *env) {
	exp := e.now().Add(time.Hour)
	must(t, e.st.CreateToken(e.ctx, newToken(store.KindAuthorizeCode, "code-1", "req-1", "u-alice", exp)), "CreateToken")
	must(t, e.st.CreateToken(e.ctx, newToken(store.KindAuthorizeCode, "code-2", "req-2", "u-alice", exp)), "CreateToken")

	for i, want := range []error{nil, store.ErrNotFound, store.ErrNotFound} {
		wantErr(t, e.st.DeactivateToken(e.ctx, store.KindAuthorizeCode, "code-1"), want, fmt.Sprintf("DeactivateToken #%d", i+1))
	}
	// An inactive token is still returned: a reused code must be recognised.
	if got := tokenState(t, e, store.KindAuthorizeCode, "code-1"); got != "inactive" {
		t.Errorf("deactivated token is %s, want inactive", got)
	}
	if got := tokenState(t, e, store.KindAuthorizeCode, "code-2"); got != "active" {
		t.Errorf("other token is %s, want active", got)
	}
	wantErr(t, e.st.DeactivateToken(e.ctx, store.KindAuthorizeCode, "code-unknown"), store.ErrNotFound, "DeactivateToken(unknown)")
	wantErr(t, e.st.DeactivateToken(e.ctx, store.KindAccessToken, "code-2"), store.ErrNotFound, "DeactivateToken(other kind)")
	if got := tokenState(t, e, store.KindAuthorizeCode, "code-2"); got != "active" {
		t.Errorf("DeactivateToken of another kind deactivated code-2 (%s)", got)
	}
}

func testTokenConcurrentDeactivate(t *testing.T, e *env) {
	must(t, e.st.CreateToken(e.ctx, newToken(store.KindAuthorizeCode, "code-1", "req-1", "u-alice", e.now().Add(time.Minute))), "CreateToken")
	errs := testkit.Race(20, func(int) error { return e.st.DeactivateToken(e.ctx, store.KindAuthorizeCode, "code-1") })
	countWinners(t, errs, "DeactivateToken")
	if got := tokenState(t, e, store.KindAuthorizeCode, "code-1"); got != "inactive" {
		t.Errorf("token is %s after the race, want inactive", got)
	}
}

// testTokenRotate: rotation is single-use like deactivation, records when
// (the refresh-reuse grace is measured from it), and RequestHasActive tells a
// live refresh family from a revoked or expired one.
func testTokenRotate(t *testing.T, e *env) {
	exp := e.now().Add(time.Hour)
	seedTokens(t, e, []*store.OAuthToken{
		newToken(store.KindRefreshToken, "rt-1", "req-1", "u-alice", exp),
		newToken(store.KindRefreshToken, "rt-2", "req-1", "u-alice", exp),
		newToken(store.KindRefreshToken, "rt-old", "req-2", "u-alice", e.now().Add(-time.Minute)),
	})
	errs := testkit.Race(10, func(int) error { return e.st.RotateToken(e.ctx, store.KindRefreshToken, "rt-1") })
	countWinners(t, errs, "RotateToken")
	got, err := e.st.GetToken(e.ctx, store.KindRefreshToken, "rt-1")
	must(t, err, "GetToken")
	if got.Active || got.RotatedAt == nil || !got.RotatedAt.Equal(e.now()) {
		t.Errorf("rotated token: active=%v rotated_at=%v, want inactive at %v", got.Active, got.RotatedAt, e.now())
	}
	if d, _ := e.st.GetToken(e.ctx, store.KindRefreshToken, "rt-2"); d == nil || d.RotatedAt != nil || !d.Active {
		t.Errorf("untouched sibling changed: %+v", d)
	}
	for _, tc := range []struct {
		req  string
		want bool
	}{{"req-1", true}, {"req-2", false}, {"req-unknown", false}} {
		live, err := e.st.RequestHasActive(e.ctx, store.KindRefreshToken, tc.req)
		must(t, err, "RequestHasActive")
		if live != tc.want {
			t.Errorf("RequestHasActive(%s) = %v, want %v", tc.req, live, tc.want)
		}
	}
	must(t, e.st.DeactivateRequestTokens(e.ctx, store.KindRefreshToken, "req-1"), "DeactivateRequestTokens")
	if live, err := e.st.RequestHasActive(e.ctx, store.KindRefreshToken, "req-1"); err != nil || live {
		t.Errorf("RequestHasActive after revoking the family = %v, %v", live, err)
	}
}

type tokenKey struct{ kind, sig string }

func seedTokens(t *testing.T, e *env, toks []*store.OAuthToken) {
	t.Helper()
	for _, tok := range toks {
		must(t, e.st.CreateToken(e.ctx, tok), "CreateToken "+tok.Kind+"/"+tok.Signature)
	}
}

func checkTokenStates(t *testing.T, e *env, want map[tokenKey]string) {
	t.Helper()
	for k, w := range want {
		if got := tokenState(t, e, k.kind, k.sig); got != w {
			t.Errorf("token %s/%s is %s, want %s", k.kind, k.sig, got, w)
		}
	}
}

func testDeactivateRequestTokens(t *testing.T, e *env) {
	exp := e.now().Add(time.Hour)
	seedTokens(t, e, []*store.OAuthToken{
		newToken(store.KindAccessToken, "a1", "req-1", "u-alice", exp),
		newToken(store.KindAccessToken, "a2", "req-1", "u-alice", exp),
		newToken(store.KindRefreshToken, "r1", "req-1", "u-alice", exp),
		newToken(store.KindAuthorizeCode, "c1", "req-1", "u-alice", exp),
		newToken(store.KindAccessToken, "a3", "req-2", "u-alice", exp),
	})
	must(t, e.st.DeactivateRequestTokens(e.ctx, store.KindAccessToken, "req-1"), "DeactivateRequestTokens")
	checkTokenStates(t, e, map[tokenKey]string{
		{store.KindAccessToken, "a1"}:   "inactive",
		{store.KindAccessToken, "a2"}:   "inactive",
		{store.KindRefreshToken, "r1"}:  "active",
		{store.KindAuthorizeCode, "c1"}: "active",
		{store.KindAccessToken, "a3"}:   "active",
	})
	must(t, e.st.DeactivateRequestTokens(e.ctx, store.KindAccessToken, "req-1"), "DeactivateRequestTokens again")
	must(t, e.st.DeactivateRequestTokens(e.ctx, store.KindRefreshToken, "req-unknown"), "DeactivateRequestTokens(unknown request)")
}

func testDeactivateSubjectTokens(t *testing.T, e *env) {
	exp := e.now().Add(time.Hour)
	seedTokens(t, e, []*store.OAuthToken{
		newToken(store.KindAccessToken, "a1", "req-1", "u-alice", exp),
		newToken(store.KindRefreshToken, "r1", "req-1", "u-alice", exp),
		newToken(store.KindAccessToken, "a2", "req-2", "u-alice", exp),
		newToken(store.KindAuthorizeCode, "c1", "req-1", "u-alice", exp),
		newToken(store.KindOIDC, "o1", "req-1", "u-alice", exp),
		newToken(store.KindPKCE, "p1", "req-1", "u-alice", exp),
		newToken(store.KindAccessToken, "b1", "req-3", "u-bob", exp),
		newToken(store.KindRefreshToken, "b2", "req-3", "u-bob", exp),
	})
	must(t, e.st.DeactivateSubjectTokens(e.ctx, "u-alice"), "DeactivateSubjectTokens")
	checkTokenStates(t, e, map[tokenKey]string{
		{store.KindAccessToken, "a1"}:   "inactive",
		{store.KindRefreshToken, "r1"}:  "inactive",
		{store.KindAccessToken, "a2"}:   "inactive",
		{store.KindAuthorizeCode, "c1"}: "inactive", // a code not yet exchanged dies too
		{store.KindOIDC, "o1"}:          "active",
		{store.KindPKCE, "p1"}:          "active",
		{store.KindAccessToken, "b1"}:   "active",
		{store.KindRefreshToken, "b2"}:  "active",
	})
}

func testTokenDelete(t *testing.T, e *env) {
	exp := e.now().Add(time.Hour)
	seedTokens(t, e, []*store.OAuthToken{
		newToken(store.KindAuthorizeCode, "s1", "req-1", "u-alice", exp),
		newToken(store.KindAccessToken, "s1", "req-1", "u-alice", exp),
		newToken(store.KindAuthorizeCode, "s2", "req-2", "u-alice", exp),
	})
	must(t, e.st.DeleteToken(e.ctx, store.KindAuthorizeCode, "s1"), "DeleteToken")
	checkTokenStates(t, e, map[tokenKey]string{
		{store.KindAuthorizeCode, "s1"}: "absent",
		{store.KindAccessToken, "s1"}:   "active",
		{store.KindAuthorizeCode, "s2"}: "active",
	})
	must(t, e.st.DeleteToken(e.ctx, store.KindAuthorizeCode, "s1"), "DeleteToken again")
	wantErr(t, e.st.DeactivateToken(e.ctx, store.KindAuthorizeCode, "s1"), store.ErrNotFound, "DeactivateToken(deleted)")
}

// ---------------------------------------------------------------- transactions

func testTransactions(t *testing.T, e *env) {
	newUser(t, e, "u-existing", "existing@example.com")
	for _, tc := range []struct {
		name    string
		end     func(*store.Store, context.Context) error
		visible bool
	}{
		{"Rollback", (*store.Store).Rollback, false},
		{"Commit", (*store.Store).Commit, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := "u-" + tc.name
			txCtx, err := e.st.BeginTx(e.ctx)
			must(t, err, "BeginTx")
			must(t, e.st.CreateUser(txCtx, &store.User{ID: id, Email: id + "@example.com"}), "CreateUser in tx")
			// Store methods that open a transaction of their own join this one.
			must(t, e.st.SetUserDisabled(txCtx, "u-existing", true), "SetUserDisabled in tx")
			if _, err := e.st.UserByID(txCtx, id); err != nil {
				t.Errorf("UserByID inside the transaction: %v", err)
			}
			_, err = e.st.UserByID(e.ctx, id)
			wantErr(t, err, store.ErrNotFound, "UserByID outside the open transaction")
			must(t, tc.end(e.st, txCtx), tc.name)

			_, err = e.st.UserByID(e.ctx, id)
			if got := err == nil; got != tc.visible {
				t.Errorf("after %s user present = %v (err %v), want %v", tc.name, got, err, tc.visible)
			}
			u, err := e.st.UserByID(e.ctx, "u-existing")
			must(t, err, "UserByID(existing)")
			if u.Disabled != tc.visible {
				t.Errorf("after %s existing user Disabled = %v, want %v", tc.name, u.Disabled, tc.visible)
			}
		})
	}
}

// testTransactionFunc: Transaction commits what fn did when fn succeeds and
// undoes all of it when fn fails, nested calls included.
func testTransactionFunc(t *testing.T, e *env) {
	failed := errors.New("fn failed")
	err := e.st.Transaction(e.ctx, func(ctx context.Context) error {
		must(t, e.st.CreateUser(ctx, &store.User{ID: "u-undone", Email: "undone@example.com"}), "CreateUser")
		return e.st.Transaction(ctx, func(ctx context.Context) error {
			must(t, e.st.CreateUser(ctx, &store.User{ID: "u-undone2", Email: "undone2@example.com"}), "CreateUser nested")
			return failed
		})
	})
	if !errors.Is(err, failed) {
		t.Fatalf("Transaction = %v, want fn's error", err)
	}
	for _, id := range []string{"u-undone", "u-undone2"} {
		_, err := e.st.UserByID(e.ctx, id)
		wantErr(t, err, store.ErrNotFound, "user "+id+" after a failed transaction")
	}
	must(t, e.st.Transaction(e.ctx, func(ctx context.Context) error {
		return e.st.CreateUser(ctx, &store.User{ID: "u-kept", Email: "kept@example.com"})
	}), "Transaction")
	if _, err := e.st.UserByID(e.ctx, "u-kept"); err != nil {
		t.Fatalf("user after a committed transaction: %v", err)
	}
}

func testTransactionMisuse(t *testing.T, e *env) {
	if err := e.st.Commit(e.ctx); err == nil {
		t.Error("Commit without a transaction succeeded")
	}
	if err := e.st.Rollback(e.ctx); err == nil {
		t.Error("Rollback without a transaction succeeded")
	}
	txCtx, err := e.st.BeginTx(e.ctx)
	must(t, err, "BeginTx")
	if _, err := e.st.BeginTx(txCtx); err == nil {
		t.Error("nested BeginTx succeeded")
	}
	must(t, e.st.Rollback(txCtx), "Rollback")
}

// ---------------------------------------------------------------- consent

func testConsent(t *testing.T, e *env) {
	granted := func(user, client string) []string {
		t.Helper()
		s, err := e.st.GrantedScopes(e.ctx, user, client)
		must(t, err, "GrantedScopes")
		return s
	}
	if s := granted("u-alice", "client-1"); s != nil {
		t.Errorf("GrantedScopes with no grant = %#v, want nil", s)
	}
	for _, step := range []struct {
		name   string
		do     func() error
		user   string
		client string
		want   []string
	}{
		{"remember", func() error {
			return e.st.RememberConsent(e.ctx, "u-alice", "client-1", []string{"openid", "email"})
		}, "u-alice", "client-1", []string{"openid", "email"}},
		{"remember again replaces", func() error {
			return e.st.RememberConsent(e.ctx, "u-alice", "client-1", []string{"openid", "profile"})
		}, "u-alice", "client-1", []string{"openid", "profile"}},
		{"other client untouched", func() error {
			return e.st.RememberConsent(e.ctx, "u-alice", "client-2", []string{"openid"})
		}, "u-alice", "client-1", []string{"openid", "profile"}},
		{"other user untouched", func() error {
			return e.st.RememberConsent(e.ctx, "u-bob", "client-1", []string{"offline_access"})
		}, "u-alice", "client-1", []string{"openid", "profile"}},
		{"forget", func() error {
			return e.st.ForgetConsent(e.ctx, "u-alice", "client-1")
		}, "u-alice", "client-1", nil},
		{"forget leaves other client", func() error { return nil }, "u-alice", "client-2", []string{"openid"}},
		{"forget leaves other user", func() error { return nil }, "u-bob", "client-1", []string{"offline_access"}},
		{"forget again", func() error {
			return e.st.ForgetConsent(e.ctx, "u-alice", "client-1")
		}, "u-alice", "client-1", nil},
	} {
		must(t, step.do(), step.name)
		if got := granted(step.user, step.client); !slices.Equal(got, step.want) {
			t.Errorf("%s: GrantedScopes(%s, %s) = %v, want %v", step.name, step.user, step.client, got, step.want)
		}
	}
}

// ---------------------------------------------------------------- audit

func testRecentEvents(t *testing.T, e *env) {
	t0 := e.now()
	for _, ev := range []store.AuditEvent{
		{UserID: "u-alice", Event: "login", At: t0},
		{UserID: "u-bob", Event: "login", At: t0.Add(time.Second)},
		{UserID: "u-alice", Event: "password.changed", At: t0.Add(time.Minute)},
		{UserID: "u-alice", Event: "totp.enrolled", At: t0.Add(2 * time.Minute)},
		{UserID: "u-alice", Event: "logout", At: t0.Add(2 * time.Minute)}, // same instant: inserted later wins
		{UserID: "u-bob", Event: "logout", At: t0.Add(time.Hour)},
	} {
		must(t, e.st.Audit(e.ctx, ev), "Audit "+ev.Event)
	}
	e.clock.Advance(3 * time.Minute)
	must(t, e.st.Audit(e.ctx, store.AuditEvent{UserID: "u-alice", Event: "session.revoked", IP: "192.0.2.7"}), "Audit without At")

	for _, tc := range []struct {
		user  string
		limit int
		want  []string
	}{
		{"u-alice", 10, []string{"session.revoked", "logout", "totp.enrolled", "password.changed", "login"}},
		{"u-alice", 2, []string{"session.revoked", "logout"}},
		{"u-alice", 1, []string{"session.revoked"}},
		{"u-bob", 10, []string{"logout", "login"}},
		{"u-nobody", 10, nil},
	} {
		t.Run(fmt.Sprintf("%s/limit%d", tc.user, tc.limit), func(t *testing.T) {
			evs, err := e.st.RecentEvents(e.ctx, tc.user, tc.limit)
			must(t, err, "RecentEvents")
			var got []string
			for _, ev := range evs {
				if ev.UserID != tc.user {
					t.Errorf("RecentEvents(%s) returned an event of %s", tc.user, ev.UserID)
				}
				got = append(got, ev.Event)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("RecentEvents(%s, %d) = %v, want %v", tc.user, tc.limit, got, tc.want)
			}
			if len(evs) > 0 && tc.user == "u-alice" {
				if evs[0].IP != "192.0.2.7" {
					t.Errorf("newest event IP = %q", evs[0].IP)
				}
				sameTime(t, "event without At", evs[0].At, e.now())
			}
		})
	}
}

// ---------------------------------------------------------------- settings

func testSettings(t *testing.T, e *env) {
	_, err := e.st.GetSetting(e.ctx, "cookie-key")
	wantErr(t, err, store.ErrNotFound, "GetSetting(unset)")
	for _, step := range []struct{ key, value, want string }{
		{"cookie-key", "first", "first"},
		{"cookie-key", "second", "first"},
		{"other-key", "other", "other"},
		{"cookie-key", "third", "first"},
	} {
		got, err := e.st.SetSettingIfAbsent(e.ctx, step.key, []byte(step.value))
		must(t, err, "SetSettingIfAbsent")
		if string(got) != step.want {
			t.Errorf("SetSettingIfAbsent(%s, %s) = %s, want %s", step.key, step.value, got, step.want)
		}
		stored, err := e.st.GetSetting(e.ctx, step.key)
		must(t, err, "GetSetting")
		if string(stored) != step.want {
			t.Errorf("GetSetting(%s) = %s, want %s", step.key, stored, step.want)
		}
	}
}

func testConcurrentSettings(t *testing.T, e *env) {
	const n = 10
	won := make([][]byte, n)
	errs := testkit.Race(n, func(i int) error {
		var err error
		won[i], err = e.st.SetSettingIfAbsent(e.ctx, "signing-seed", fmt.Appendf(nil, "value-%d", i))
		return err
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("SetSettingIfAbsent in goroutine %d: %v", i, err)
		}
	}
	stored, err := e.st.GetSetting(e.ctx, "signing-seed")
	must(t, err, "GetSetting")
	for i, v := range won {
		if !bytes.Equal(v, stored) {
			t.Errorf("goroutine %d got %s, but the stored value is %s", i, v, stored)
		}
	}
}

// ---------------------------------------------------------------- migrate

func testMigrateIdempotent(t *testing.T, e *env) {
	wantVersion(t, e.st)
	newUser(t, e, "u-alice", "alice@example.com")
	for i := range 2 {
		must(t, e.st.Migrate(e.ctx), fmt.Sprintf("Migrate again #%d", i+1))
		wantVersion(t, e.st)
	}
	for i, err := range testkit.Race(2, func(int) error { return e.st.Migrate(e.ctx) }) {
		if err != nil {
			t.Errorf("concurrent Migrate %d on a migrated store: %v", i, err)
		}
	}
	wantVersion(t, e.st)
	if _, err := e.st.UserByID(e.ctx, "u-alice"); err != nil {
		t.Errorf("data lost by re-running Migrate: %v", err)
	}
}

// ---------------------------------------------------------------- purge

func testPurgeExpired(t *testing.T, e *env) {
	t0 := e.now()
	must(t, e.st.CreateFlow(e.ctx, "f-live", []byte(`{}`), t0.Add(time.Hour)), "CreateFlow")
	must(t, e.st.CreateFlow(e.ctx, "f-expired", []byte(`{}`), t0.Add(time.Minute)), "CreateFlow")
	newSession(t, e, "s-live", "u-alice", time.Hour)
	newSession(t, e, "s-expired", "u-alice", time.Minute)
	seedTokens(t, e, []*store.OAuthToken{
		newToken(store.KindAccessToken, "t-live", "req-1", "u-alice", t0.Add(time.Hour)),
		newToken(store.KindAccessToken, "t-expired", "req-1", "u-alice", t0.Add(time.Minute)),
		newToken(store.KindAuthorizeCode, "c-expired-used", "req-1", "u-alice", t0.Add(time.Minute)),
	})
	must(t, e.st.DeactivateToken(e.ctx, store.KindAuthorizeCode, "c-expired-used"), "DeactivateToken")

	// Expired flows and sessions are hidden whether purged or not; moving
	// the clock back after the purge shows whether the rows are really gone.
	// First, without purging, they come back.
	const later = 2 * time.Minute
	e.clock.Advance(later)
	if flowLive(t, e, "f-expired") || sessionLive(t, e, "s-expired") {
		t.Error("expired flow or session still live")
	}
	e.clock.Advance(-later)
	if !flowLive(t, e, "f-expired") || !sessionLive(t, e, "s-expired") {
		t.Fatal("rows hidden after rewinding the clock without a purge; the purge check below would prove nothing")
	}

	e.clock.Advance(later)
	must(t, e.st.PurgeExpired(e.ctx), "PurgeExpired")
	checkTokenStates(t, e, map[tokenKey]string{
		{store.KindAccessToken, "t-live"}:           "active",
		{store.KindAccessToken, "t-expired"}:        "absent",
		{store.KindAuthorizeCode, "c-expired-used"}: "absent",
	})
	if !flowLive(t, e, "f-live") || !sessionLive(t, e, "s-live") {
		t.Error("PurgeExpired removed a live flow or session")
	}
	e.clock.Advance(-later)
	if flowLive(t, e, "f-expired") {
		t.Error("PurgeExpired kept an expired flow")
	}
	if sessionLive(t, e, "s-expired") {
		t.Error("PurgeExpired kept an expired session")
	}
	if !flowLive(t, e, "f-live") || !sessionLive(t, e, "s-live") {
		t.Error("live flow or session gone after the purge")
	}
	must(t, e.st.PurgeExpired(e.ctx), "PurgeExpired with nothing to do")
}

// ---------------------------------------------------------------- time zones

// testTimeLocations passes times in other locations than UTC: they are
// instants, and expiry and ordering must not depend on the location the
// caller's time.Time happens to carry.
func testTimeLocations(t *testing.T, e *env) {
	for _, loc := range []*time.Location{
		time.FixedZone("UTC-5", -5*3600),
		time.FixedZone("UTC+9", 9*3600),
	} {
		t.Run(loc.String(), func(t *testing.T) {
			id := loc.String()
			exp := e.now().Add(time.Hour).In(loc)
			must(t, e.st.CreateFlow(e.ctx, "f-"+id, []byte(`{}`), exp), "CreateFlow")
			s := &store.Session{IDHash: "s-" + id, UserID: "u-" + id, Data: []byte(`{}`),
				AuthTime: e.now().In(loc), ExpiresAt: exp}
			must(t, e.st.CreateSession(e.ctx, s), "CreateSession")
			must(t, e.st.CreateToken(e.ctx, newToken(store.KindAccessToken, "t-"+id, "req-"+id, "u-"+id, exp)), "CreateToken")

			e.clock.Advance(59 * time.Minute)
			must(t, e.st.PurgeExpired(e.ctx), "PurgeExpired")
			if !flowLive(t, e, "f-"+id) {
				t.Error("flow expired early")
			}
			if !sessionLive(t, e, "s-"+id) {
				t.Error("session expired early")
			}
			if got := tokenState(t, e, store.KindAccessToken, "t-"+id); got != "active" {
				t.Errorf("live token purged: %s", got)
			}
			if ss, err := e.st.ListUserSessions(e.ctx, "u-"+id); err != nil || len(ss) != 1 {
				t.Errorf("ListUserSessions = %d sessions, %v; want 1", len(ss), err)
			}

			e.clock.Advance(2 * time.Minute)
			if flowLive(t, e, "f-"+id) {
				t.Error("flow live after its expiry")
			}
			if sessionLive(t, e, "s-"+id) {
				t.Error("session live after its expiry")
			}
			must(t, e.st.PurgeExpired(e.ctx), "PurgeExpired")
			if got := tokenState(t, e, store.KindAccessToken, "t-"+id); got != "absent" {
				t.Errorf("expired token not purged: %s", got)
			}
		})
	}

	t.Run("AuditOrder", func(t *testing.T) {
		t0 := e.now()
		for _, ev := range []store.AuditEvent{
			{UserID: "u-zones", Event: "first", At: t0.In(time.FixedZone("UTC-5", -5*3600))},
			{UserID: "u-zones", Event: "second", At: t0.Add(time.Minute).In(time.FixedZone("UTC+9", 9*3600))},
			{UserID: "u-zones", Event: "third", At: t0.Add(2 * time.Minute)},
		} {
			must(t, e.st.Audit(e.ctx, ev), "Audit")
		}
		evs, err := e.st.RecentEvents(e.ctx, "u-zones", 10)
		must(t, err, "RecentEvents")
		var got []string
		for _, ev := range evs {
			got = append(got, ev.Event)
		}
		if want := []string{"third", "second", "first"}; !slices.Equal(got, want) {
			t.Errorf("RecentEvents = %v, want %v", got, want)
		}
	})

	t.Run("SigningKeyOrder", func(t *testing.T) {
		_, err := e.st.SwitchSigningKey(e.ctx, &store.SigningKey{ID: "k-old", Algorithm: "RS256", PrivateKey: []byte("1")}, time.Hour)
		must(t, err, "SwitchSigningKey")
		e.clock.Advance(time.Minute)
		k := &store.SigningKey{ID: "k-middle", Algorithm: "RS256", PrivateKey: []byte("2"),
			CreatedAt: e.now().In(time.FixedZone("UTC-5", -5*3600))}
		must(t, e.st.AddSigningKey(e.ctx, k, time.Hour), "AddSigningKey k-middle")
		e.clock.Advance(time.Minute)
		must(t, e.st.AddSigningKey(e.ctx, &store.SigningKey{ID: "k-new", Algorithm: "RS256", PrivateKey: []byte("3")},
			time.Hour), "AddSigningKey k-new")
		// Both older keys are retiring; between them the newer comes first.
		if got, want := keyIDs(t, e), []string{"k-new", "k-middle", "k-old"}; !slices.Equal(got, want) {
			t.Errorf("SigningKeys = %v, want %v (newest first)", got, want)
		}
	})
}

// testTouchSession: the last-seen time moves only when older than asked,
// and never on a revoked session.
func testTouchSession(t *testing.T, e *env) {
	newSession(t, e, "t1", "u-alice", time.Hour)
	seen := func() time.Time {
		t.Helper()
		s, err := e.st.GetSession(e.ctx, "t1")
		must(t, err, "GetSession")
		return s.LastSeenAt.UTC()
	}
	created := seen()
	e.clock.Advance(time.Minute)
	must(t, e.st.TouchSession(e.ctx, "t1", e.now().Add(-5*time.Minute)), "TouchSession (recent)")
	if got := seen(); !got.Equal(created) {
		t.Errorf("a recent last-seen moved: %v -> %v", created, got)
	}
	e.clock.Advance(10 * time.Minute)
	must(t, e.st.TouchSession(e.ctx, "t1", e.now().Add(-5*time.Minute)), "TouchSession (stale)")
	if got := seen(); !got.Equal(e.now().UTC()) {
		t.Errorf("last seen = %v, want %v", got, e.now().UTC())
	}
	_, err := e.st.RevokeSession(e.ctx, "t1")
	must(t, err, "RevokeSession")
	e.clock.Advance(10 * time.Minute)
	must(t, e.st.TouchSession(e.ctx, "t1", e.now()), "TouchSession (revoked)")
	if sessionLive(t, e, "t1") {
		t.Error("TouchSession revived a revoked session")
	}
}

func testDeactivateClientTokens(t *testing.T, e *env) {
	exp := e.now().Add(time.Hour)
	other := newToken(store.KindRefreshToken, "r2", "req-2", "u-alice", exp)
	other.ClientID = "client-2"
	seedTokens(t, e, []*store.OAuthToken{
		newToken(store.KindAccessToken, "a1", "req-1", "u-alice", exp),
		newToken(store.KindRefreshToken, "r1", "req-1", "u-alice", exp),
		newToken(store.KindAuthorizeCode, "c1", "req-1", "u-alice", exp),
		newToken(store.KindOIDC, "o1", "req-1", "u-alice", exp),
		other,
		newToken(store.KindRefreshToken, "b1", "req-3", "u-bob", exp),
	})
	must(t, e.st.DeactivateClientTokens(e.ctx, "u-alice", "client-1"), "DeactivateClientTokens")
	checkTokenStates(t, e, map[tokenKey]string{
		{store.KindAccessToken, "a1"}:   "inactive",
		{store.KindRefreshToken, "r1"}:  "inactive",
		{store.KindAuthorizeCode, "c1"}: "inactive",
		{store.KindOIDC, "o1"}:          "active",
		{store.KindRefreshToken, "r2"}:  "active", // another client of the same user
		{store.KindRefreshToken, "b1"}:  "active", // the same client of another user
	})
}

// testAfterCommit: effects registered inside a transaction run once it
// commits, outside it, and never when it rolls back; without a
// transaction they run at once.
func testAfterCommit(t *testing.T, e *env) {
	var ran []string
	store.AfterCommit(e.ctx, func(context.Context) { ran = append(ran, "no tx") })
	if len(ran) != 1 {
		t.Fatalf("without a transaction the effect did not run at once: %v", ran)
	}
	err := e.st.Transaction(e.ctx, func(ctx context.Context) error {
		newUser(t, &env{st: e.st, clock: e.clock, ctx: ctx}, "u-ac", "ac@example.com")
		store.AfterCommit(ctx, func(ctx context.Context) {
			// Outside the transaction: the committed row is visible to a
			// call with the effect's context, and a write would not wait on
			// the transaction's lock.
			if _, err := e.st.UserByID(ctx, "u-ac"); err != nil {
				t.Errorf("effect does not see the committed change: %v", err)
			}
			ran = append(ran, "committed")
		})
		// Nested transactions join; their effects wait for the outer commit.
		return e.st.Transaction(ctx, func(ctx context.Context) error {
			store.AfterCommit(ctx, func(context.Context) { ran = append(ran, "nested") })
			if len(ran) != 1 {
				t.Errorf("an effect ran before the commit: %v", ran)
			}
			return nil
		})
	})
	must(t, err, "Transaction")
	if want := []string{"no tx", "committed", "nested"}; !slices.Equal(ran, want) {
		t.Errorf("effects = %v, want %v", ran, want)
	}
	failed := errors.New("fn failed")
	err = e.st.Transaction(e.ctx, func(ctx context.Context) error {
		store.AfterCommit(ctx, func(context.Context) { ran = append(ran, "rolled back") })
		return failed
	})
	wantErr(t, err, failed, "Transaction(failing)")
	txCtx, err := e.st.BeginTx(e.ctx)
	must(t, err, "BeginTx")
	store.AfterCommit(txCtx, func(context.Context) { ran = append(ran, "begin/commit") })
	must(t, e.st.Commit(txCtx), "Commit")
	if want := []string{"no tx", "committed", "nested", "begin/commit"}; !slices.Equal(ran, want) {
		t.Errorf("effects = %v, want %v", ran, want)
	}
}

func testListConsents(t *testing.T, e *env) {
	must(t, e.st.RememberConsent(e.ctx, "u-alice", "client-2", []string{"openid"}), "remember")
	must(t, e.st.RememberConsent(e.ctx, "u-alice", "client-1", []string{"openid", "email"}), "remember")
	must(t, e.st.RememberConsent(e.ctx, "u-bob", "client-1", []string{"openid"}), "remember")
	list, err := e.st.ListConsents(e.ctx, "u-alice")
	must(t, err, "ListConsents")
	var got []string
	for _, g := range list {
		got = append(got, g.ClientID+":"+g.Scopes)
	}
	if want := []string{"client-1:openid email", "client-2:openid"}; !slices.Equal(got, want) {
		t.Errorf("ListConsents = %v, want %v", got, want)
	}
	must(t, e.st.ForgetConsent(e.ctx, "u-alice", "client-1"), "forget")
	list, err = e.st.ListConsents(e.ctx, "u-alice")
	must(t, err, "ListConsents")
	if len(list) != 1 || list[0].ClientID != "client-2" {
		t.Errorf("after forgetting: %+v", list)
	}
}

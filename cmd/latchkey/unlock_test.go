package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"latchkey/internal/testkit"
	"latchkey/login/lockout"
	"latchkey/store"
)

// TestUserUnlock: latchkey user unlock lifts a lockout held in the
// database and audits it.
func TestUserUnlock(t *testing.T) {
	dir := t.TempDir()
	if _, e, code := runCLI(t, dir, "a good long password\n", "user", "add", "lee@example.com", "--password-stdin"); code != 0 {
		t.Fatalf("user add: exit %d: %s", code, e)
	}
	ctx := context.Background()
	st := testkit.OpenStore(t, "sqlite://"+filepath.Join(dir, "latchkey.db"), store.Options{})
	u, err := st.UserByEmail(ctx, "lee@example.com")
	if err != nil {
		t.Fatal(err)
	}
	key := lockout.AccountKey(u.ID)
	for range 3 {
		if _, err := st.RecordFailure(ctx, key, 3, time.Hour, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if until, err := st.LockedUntil(ctx, key); err != nil || until.IsZero() {
		t.Fatalf("not locked after 3 failures: %v %v", until, err)
	}
	if _, e, code := runCLI(t, dir, "", "user", "unlock", "nobody@example.com"); code == 0 {
		t.Errorf("unlock of an unknown user succeeded: %s", e)
	}
	out, e, code := runCLI(t, dir, "", "user", "unlock", "lee@example.com")
	if code != 0 || !strings.Contains(out, "unlocked lee@example.com") {
		t.Fatalf("user unlock: exit %d: %s %s", code, out, e)
	}
	if until, err := st.LockedUntil(ctx, key); err != nil || !until.IsZero() {
		t.Errorf("still locked after unlock: %v %v", until, err)
	}
	evs, err := st.RecentEvents(ctx, u.ID, 10)
	if err != nil || len(evs) == 0 || evs[0].Event != "user.unlocked" {
		t.Errorf("no user.unlocked audit event: %v %v", evs, err)
	}
}

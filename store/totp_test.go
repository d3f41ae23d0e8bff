package store_test

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"testing"

	"latchkey/internal/testkit"
	"latchkey/store"
)

func eachTOTPBackend(t *testing.T, fn func(t *testing.T, st *store.Store, clock *testkit.Clock)) {
	for _, be := range testkit.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			clock := testkit.NewClock()
			fn(t, testkit.OpenStore(t, be.DSN(t), store.Options{Now: clock.Now}), clock)
		})
	}
}

func TestTOTPCredentialLifecycle(t *testing.T) {
	eachTOTPBackend(t, func(t *testing.T, st *store.Store, clock *testkit.Clock) {
		ctx := context.Background()
		if _, err := st.TOTPCredential(ctx, "u1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing credential: %v", err)
		}
		if err := st.PutPendingTOTP(ctx, "u1", []byte("sealed-1")); err != nil {
			t.Fatal(err)
		}
		if err := st.PutPendingTOTP(ctx, "u1", []byte("sealed-2")); err != nil {
			t.Fatalf("replacing a pending secret: %v", err)
		}
		if err := st.ConfirmTOTP(ctx, "u1", []byte("sealed-1"), 10); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("confirming a replaced secret: %v", err)
		}
		if ok, err := st.UseTOTPStep(ctx, "u1", 11); ok || err != nil {
			t.Fatalf("a pending credential accepted a step: %v %v", ok, err)
		}
		if err := st.ConfirmTOTP(ctx, "u1", []byte("sealed-2"), 10); err != nil {
			t.Fatal(err)
		}
		c, err := st.TOTPCredential(ctx, "u1")
		if err != nil || c.ConfirmedAt == nil || c.LastStep != 10 || !bytes.Equal(c.Secret, []byte("sealed-2")) {
			t.Fatalf("confirmed credential = %+v, %v", c, err)
		}
		if err := st.PutPendingTOTP(ctx, "u1", []byte("sealed-3")); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("a pending secret replaced a confirmed one: %v", err)
		}
		if c, _ := st.TOTPCredential(ctx, "u1"); !bytes.Equal(c.Secret, []byte("sealed-2")) || c.ConfirmedAt == nil {
			t.Fatalf("confirmed credential changed: %+v", c)
		}

		steps := []struct {
			step int64
			want bool
		}{{10, false}, {9, false}, {11, true}, {11, false}, {13, true}, {12, false}}
		for _, s := range steps {
			if ok, err := st.UseTOTPStep(ctx, "u1", s.step); ok != s.want || err != nil {
				t.Fatalf("UseTOTPStep(%d) = %v, %v; want %v", s.step, ok, err, s.want)
			}
		}

		if err := st.ReplaceRecoveryCodes(ctx, "u1", []string{"h1", "h2"}); err != nil {
			t.Fatal(err)
		}
		if gone, err := st.DeleteTOTP(ctx, "u1"); !gone || err != nil {
			t.Fatalf("DeleteTOTP = %v, %v", gone, err)
		}
		if left, _, _ := st.RecoveryCodeStats(ctx, "u1"); left != 0 {
			t.Fatalf("%d recovery codes survived DeleteTOTP", left)
		}
		if gone, err := st.DeleteTOTP(ctx, "u1"); gone || err != nil {
			t.Fatalf("second DeleteTOTP = %v, %v", gone, err)
		}
	})
}

func TestRecoveryCodes(t *testing.T) {
	eachTOTPBackend(t, func(t *testing.T, st *store.Store, clock *testkit.Clock) {
		ctx := context.Background()
		if err := st.ReplaceRecoveryCodes(ctx, "u1", []string{"a", "b", "c"}); err != nil {
			t.Fatal(err)
		}
		if err := st.ReplaceRecoveryCodes(ctx, "u2", []string{"a"}); err != nil {
			t.Fatal(err)
		}
		uses := []struct {
			user, hash string
			want       bool
		}{{"u1", "a", true}, {"u1", "a", false}, {"u1", "zz", false}, {"u2", "b", false}, {"u2", "a", true}}
		for _, u := range uses {
			if ok, err := st.UseRecoveryCode(ctx, u.user, u.hash); ok != u.want || err != nil {
				t.Fatalf("UseRecoveryCode(%s, %s) = %v, %v; want %v", u.user, u.hash, ok, err, u.want)
			}
		}
		left, last, err := st.RecoveryCodeStats(ctx, "u1")
		if err != nil || left != 2 || last == nil || !last.Equal(clock.Now()) {
			t.Fatalf("stats = %d, %v, %v; want 2 left, used now", left, last, err)
		}
		if err := st.ReplaceRecoveryCodes(ctx, "u1", []string{"d", "e"}); err != nil {
			t.Fatal(err)
		}
		if ok, _ := st.UseRecoveryCode(ctx, "u1", "b"); ok {
			t.Fatal("a code of the old set still works")
		}
		if left, last, _ := st.RecoveryCodeStats(ctx, "u1"); left != 2 || last != nil {
			t.Fatalf("after regenerating: %d left, last used %v", left, last)
		}
	})
}

// TestSecondFactorSingleUseUnderConcurrency: many goroutines using the same
// TOTP step or the same recovery code at once: exactly one wins.
func TestSecondFactorSingleUseUnderConcurrency(t *testing.T) {
	eachTOTPBackend(t, func(t *testing.T, st *store.Store, clock *testkit.Clock) {
		ctx := context.Background()
		if err := st.PutPendingTOTP(ctx, "u1", []byte("s")); err != nil {
			t.Fatal(err)
		}
		if err := st.ConfirmTOTP(ctx, "u1", []byte("s"), 1); err != nil {
			t.Fatal(err)
		}
		if err := st.ReplaceRecoveryCodes(ctx, "u1", []string{"h"}); err != nil {
			t.Fatal(err)
		}
		lost := errors.New("lost the race")
		race := func(name string, use func() (bool, error)) {
			const n = 32
			won := 0
			for _, err := range testkit.Race(n, func(int) error {
				if ok, err := use(); err != nil || !ok {
					return cmp.Or(err, lost)
				}
				return nil
			}) {
				switch {
				case err == nil:
					won++
				case !errors.Is(err, lost):
					t.Errorf("%s: %v", name, err)
				}
			}
			if won != 1 {
				t.Errorf("%s: %d of %d concurrent uses won, want 1", name, won, n)
			}
		}
		race("totp step", func() (bool, error) { return st.UseTOTPStep(ctx, "u1", 2) })
		race("recovery code", func() (bool, error) { return st.UseRecoveryCode(ctx, "u1", "h") })
	})
}

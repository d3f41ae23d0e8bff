package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"latchkey/internal/testkit"
	"latchkey/store"
)

func TestPasskeys(t *testing.T) {
	for _, be := range testkit.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			ctx := context.Background()
			st := testkit.OpenStore(t, be.DSN(t), store.Options{})
			for _, id := range []string{"alice", "bob"} {
				if err := st.CreateUser(ctx, &store.User{ID: id, Email: id + "@example.com"}); err != nil {
					t.Fatal(err)
				}
			}

			t.Run("user handle is made once", func(t *testing.T) {
				if _, err := st.PasskeyHandle(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("PasskeyHandle before any = %v, want ErrNotFound", err)
				}
				h1, err := st.EnsurePasskeyHandle(ctx, "alice", "handle-one")
				if err != nil || h1 != "handle-one" {
					t.Fatalf("EnsurePasskeyHandle = %q, %v", h1, err)
				}
				h2, err := st.EnsurePasskeyHandle(ctx, "alice", "handle-two")
				if err != nil || h2 != "handle-one" {
					t.Fatalf("second EnsurePasskeyHandle = %q, %v; want the first handle kept", h2, err)
				}
				if id, err := st.UserIDByPasskeyHandle(ctx, "handle-one"); err != nil || id != "alice" {
					t.Fatalf("UserIDByPasskeyHandle = %q, %v", id, err)
				}
				if _, err := st.UserIDByPasskeyHandle(ctx, "handle-two"); !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("unknown handle: %v, want ErrNotFound", err)
				}
			})

			t.Run("create, list, rename, delete", func(t *testing.T) {
				k1 := &store.Passkey{ID: "k1", UserID: "alice", CredentialID: "cred-1", PublicKey: []byte{1}, Name: "Laptop", BackupEligible: true}
				k2 := &store.Passkey{ID: "k2", UserID: "alice", CredentialID: "cred-2", PublicKey: []byte{2}, Name: "Key", CreatedAt: time.Now().Add(time.Second)}
				for _, k := range []*store.Passkey{k1, k2} {
					if err := st.CreatePasskey(ctx, k); err != nil {
						t.Fatal(err)
					}
				}
				dup := &store.Passkey{ID: "k3", UserID: "bob", CredentialID: "cred-1", PublicKey: []byte{3}}
				if err := st.CreatePasskey(ctx, dup); !errors.Is(err, store.ErrConflict) {
					t.Fatalf("duplicate credential ID: %v, want ErrConflict", err)
				}
				list, err := st.ListPasskeys(ctx, "alice")
				if err != nil || len(list) != 2 || list[0].ID != "k1" || !list[0].BackupEligible {
					t.Fatalf("ListPasskeys = %+v, %v", list, err)
				}
				if n, err := st.CountPasskeys(ctx, "bob"); err != nil || n != 0 {
					t.Fatalf("CountPasskeys(bob) = %d, %v", n, err)
				}
				if got, err := st.PasskeyByCredentialID(ctx, "cred-2"); err != nil || got.ID != "k2" {
					t.Fatalf("PasskeyByCredentialID = %+v, %v", got, err)
				}
				// Another user's ID does not reach alice's passkeys.
				for name, err := range map[string]error{
					"rename": st.RenamePasskey(ctx, "bob", "k1", "mine now"),
					"delete": st.DeletePasskey(ctx, "bob", "k1"),
				} {
					if !errors.Is(err, store.ErrNotFound) {
						t.Errorf("%s by another user: %v, want ErrNotFound", name, err)
					}
				}
				if err := st.RenamePasskey(ctx, "alice", "k1", "Work laptop"); err != nil {
					t.Fatal(err)
				}
				if err := st.DeletePasskey(ctx, "alice", "k2"); err != nil {
					t.Fatal(err)
				}
				list, _ = st.ListPasskeys(ctx, "alice")
				if len(list) != 1 || list[0].Name != "Work laptop" {
					t.Fatalf("after rename and delete: %+v", list)
				}
			})

			t.Run("use is recorded conditionally", func(t *testing.T) {
				for _, k := range []*store.Passkey{
					{ID: "c5", UserID: "bob", CredentialID: "count-5", PublicKey: []byte{1}, SignCount: 5},
					{ID: "c0", UserID: "bob", CredentialID: "count-0", PublicKey: []byte{1}},
				} {
					if err := st.CreatePasskey(ctx, k); err != nil {
						t.Fatal(err)
					}
				}
				at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
				for _, tc := range []struct {
					name      string
					id        string
					count     uint32
					challenge string
					want      error
				}{
					{"counter goes up", "c5", 6, "ch-1", nil},
					{"same counter again (clone)", "c5", 6, "ch-2", store.ErrConflict},
					{"counter goes back (clone)", "c5", 3, "ch-3", store.ErrConflict},
					{"counter drops to 0", "c5", 0, "ch-4", store.ErrConflict},
					{"counter goes up again", "c5", 9, "ch-5", nil},
					{"zero counter", "c0", 0, "ch-6", nil},
					{"zero counter, next assertion", "c0", 0, "ch-7", nil},
					{"zero counter, same assertion replayed", "c0", 0, "ch-7", store.ErrConflict},
					{"unknown passkey", "nope", 1, "ch-8", store.ErrConflict},
				} {
					err := st.RecordPasskeyUse(ctx, store.PasskeyUse{ID: tc.id, SignCount: tc.count, ChallengeHash: tc.challenge, BackupState: true, At: at})
					if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
						t.Errorf("%s: RecordPasskeyUse = %v, want %v", tc.name, err, tc.want)
					}
				}
				got, err := st.PasskeyByCredentialID(ctx, "count-5")
				if err != nil || got.SignCount != 9 || got.LastChallenge != "ch-5" || !got.BackupState || got.LastUsedAt == nil || !got.LastUsedAt.Equal(at) {
					t.Fatalf("after uses: %+v, %v", got, err)
				}
			})

			t.Run("reset removes every passkey", func(t *testing.T) {
				n, err := st.DeleteUserPasskeys(ctx, "bob")
				if err != nil || n != 2 {
					t.Fatalf("DeleteUserPasskeys = %d, %v; want 2", n, err)
				}
				if n, _ := st.CountPasskeys(ctx, "bob"); n != 0 {
					t.Fatalf("%d passkeys left", n)
				}
			})
		})
	}
}

package e2e

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"testing"
	"time"

	"latchkey/internal/testkit"
	"latchkey/provider"
	"latchkey/seal"
	"latchkey/store"
)

// countingRand counts the random bytes a key generation reads.
type countingRand struct{ n int }

func (c *countingRand) Read(p []byte) (int, error) {
	c.n += len(p)
	return rand.Read(p)
}

type deadRand struct{}

func (deadRand) Read([]byte) (int, error) {
	return 0, errors.New("no randomness: nothing should be generated")
}

// TestEnsureGeneratesOnlyWhenNeeded: a start on a database that has a key of
// the configured algorithm generates nothing (it loads the key); a first
// start and a change of signing.alg each generate one key, and a switch
// leaves the old key published.
func TestEnsureGeneratesOnlyWhenNeeded(t *testing.T) {
	for _, be := range testkit.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			ctx := context.Background()
			st := testkit.OpenStore(t, be.DSN(t), store.Options{})
			kr, err := seal.New([]string{testkit.TestSecret}, nil)
			if err != nil {
				t.Fatal(err)
			}
			keys := func(alg string, r io.Reader) *provider.Keys {
				return &provider.Keys{Store: st, Seal: kr, Now: time.Now, Rand: r, Grace: provider.KeyGrace, Alg: alg}
			}
			var first countingRand
			k1 := keys("", &first)
			if err := k1.Ensure(ctx); err != nil {
				t.Fatal(err)
			}
			if first.n == 0 {
				t.Fatal("the first start generated no key")
			}
			a1, _ := k1.Active(ctx)
			if a1.Algorithm != provider.RS256 {
				t.Errorf("default algorithm %s", a1.Algorithm)
			}

			// A restart: the key is loaded, no randomness is read.
			k2 := keys(provider.RS256, deadRand{})
			if err := k2.Ensure(ctx); err != nil {
				t.Fatalf("restart with a key in the database: %v", err)
			}
			if a2, _ := k2.Active(ctx); a2.KeyID != a1.KeyID {
				t.Errorf("restart changed the active key %s -> %s", a1.KeyID, a2.KeyID)
			}

			// signing.alg changed: one new provider.ES256 key, the provider.RS256 one stays.
			k3 := keys(provider.ES256, nil)
			if err := k3.Ensure(ctx); err != nil {
				t.Fatal(err)
			}
			a3, _ := k3.Active(ctx)
			if a3.Algorithm != provider.ES256 || a3.KeyID == a1.KeyID {
				t.Fatalf("after the switch the active key is %s (%s)", a3.KeyID, a3.Algorithm)
			}
			set, _ := k3.Public(ctx)
			if len(set.Keys) != 2 {
				t.Fatalf("%d keys published during the switch, want 2", len(set.Keys))
			}
			if _, ok := k3.ByID(ctx, a1.KeyID); !ok {
				t.Error("the provider.RS256 key is not published during the switch")
			}
			// And a restart under provider.ES256 generates nothing either.
			if err := keys(provider.ES256, deadRand{}).Ensure(ctx); err != nil {
				t.Fatalf("restart under provider.ES256: %v", err)
			}
		})
	}
}

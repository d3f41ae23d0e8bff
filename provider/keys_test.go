package provider

import (
	"context"
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ory/fosite/token/jwt"

	"latchkey/seal"
	"latchkey/store"
)

// TestSignerRefusesAlgMismatch: a token whose header names another
// algorithm than its key's is refused.
func TestSignerRefusesAlgMismatch(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open("sqlite://"+filepath.Join(t.TempDir(), "keys.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	kr, _ := seal.New([]string{"test-secret-test-secret-test-secret-0123"}, nil)
	k := &Keys{Store: st, Seal: kr, Now: time.Now, Grace: KeyGrace, Alg: ES256}
	if err := k.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	s := &signer{keys: k}
	tok, _, err := s.Generate(ctx, jwt.MapClaims{"sub": "x"}, &jwt.Headers{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Decode(ctx, tok); err != nil {
		t.Fatalf("own token: %v", err)
	}
	// Swap the header's alg; the signature no longer matters, the key
	// choice is refused first.
	active, _ := k.Active(ctx)
	forged := headerB64(t, `{"alg":"RS256","kid":"`+active.KeyID+`"}`) + tok[indexDot(tok):]
	if _, err := s.Decode(ctx, forged); err == nil {
		t.Error("a token claiming RS256 verified with an ES256 key")
	}
}

func headerB64(t *testing.T, s string) string {
	t.Helper()
	return base64.RawURLEncoding.EncodeToString([]byte(s))
}

func indexDot(s string) int { return strings.IndexByte(s, '.') }

package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"latchkey/internal/testkit"
	"latchkey/store"
)

// TestKeysRotateAfterAlgChange: `keys rotate` adds exactly one key, of the
// configured algorithm, also when signing.alg changed since the last key
// (it once made two: a switch key, then the rotation's).
func TestKeysRotateAfterAlgChange(t *testing.T) {
	dir := t.TempDir()
	rs := filepath.Join(dir, "rs.yaml")
	es := filepath.Join(dir, "es.yaml")
	os.WriteFile(rs, []byte("signing: {alg: RS256}\n"), 0o600)
	os.WriteFile(es, []byte("signing: {alg: ES256}\n"), 0o600)
	if _, e, code := runCLI(t, dir, "", "--config", rs, "migrate"); code != 0 {
		t.Fatalf("migrate: exit %d: %s", code, e)
	}
	for _, tc := range []struct {
		config, wantAlg string
		wantKeys        int
	}{
		{rs, "RS256", 1}, // migrate makes none; serve or the first rotation does
		{es, "ES256", 2},
		{es, "ES256", 3},
		{rs, "RS256", 4},
	} {
		if _, e, code := runCLI(t, dir, "", "--config", tc.config, "keys", "rotate"); code != 0 {
			t.Fatalf("keys rotate: exit %d: %s", code, e)
		}
		st := testkit.OpenStore(t, "sqlite://"+filepath.Join(dir, "latchkey.db"), store.Options{})
		keys, err := st.SigningKeys(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != tc.wantKeys || keys[0].Algorithm != tc.wantAlg {
			var got []string
			for _, k := range keys {
				got = append(got, k.Algorithm)
			}
			t.Errorf("after keys rotate with %s: keys %v (newest first), want %d with a %s first", filepath.Base(tc.config), got, tc.wantKeys, tc.wantAlg)
		}
	}
}

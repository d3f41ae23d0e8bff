package seal

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

var (
	secretA = strings.Repeat("a", 32)
	secretB = strings.Repeat("b", 40)
)

func TestSealOpenRotation(t *testing.T) {
	old, err := New([]string{secretA}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := old.Seal([]byte("totp secret"), []byte("user-1"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("totp secret")) {
		t.Fatal("plaintext visible in sealed value")
	}
	// After rotation B seals, A still opens old values.
	rotated, err := New([]string{secretB, secretA}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := rotated.Open(sealed, []byte("user-1"))
	if err != nil || string(got) != "totp secret" {
		t.Fatalf("open after rotation = %q, %v", got, err)
	}
	fresh, _ := rotated.Seal([]byte("x"), nil)
	if _, err := old.Open(fresh, nil); !errors.Is(err, ErrOpen) {
		t.Fatalf("old keyring opened a value sealed with a newer key: %v", err)
	}

	tests := []struct {
		name   string
		sealed []byte
		aad    string
	}{
		{"wrong aad", sealed, "user-2"},
		{"flipped byte", flip(sealed, len(sealed)-1), "user-1"},
		{"truncated", sealed[:6], "user-1"},
		{"empty", nil, "user-1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := rotated.Open(tc.sealed, []byte(tc.aad)); !errors.Is(err, ErrOpen) {
				t.Fatalf("Open = %v, want ErrOpen", err)
			}
		})
	}
}

func TestMACPurposeBound(t *testing.T) {
	kr, _ := New([]string{secretA}, nil)
	sum := kr.MAC("csrf", "browser", "flow")
	if !kr.VerifyMAC(sum, "csrf", "browser", "flow") {
		t.Fatal("MAC does not verify")
	}
	for _, c := range [][]string{{"return", "browser", "flow"}, {"csrf", "browse", "rflow"}, {"csrf", "browser"}} {
		if kr.VerifyMAC(sum, c[0], c[1:]...) {
			t.Fatalf("MAC verified for %v", c)
		}
	}
}

func TestShortSecretRefused(t *testing.T) {
	if _, err := New([]string{"short"}, nil); err == nil {
		t.Fatal("short secret accepted")
	}
}

func flip(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 1
	return c
}

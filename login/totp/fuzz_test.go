package totp

import (
	"strings"
	"testing"
)

// FuzzNormalizeCode: the normalizer is idempotent and leaves none of the
// separators it removes.
func FuzzNormalizeCode(f *testing.F) {
	for _, s := range []string{"123456", "123 456", " 12-34-56 ", "\t", "１２３４５６", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := NormalizeCode(s)
		if NormalizeCode(n) != n || strings.ContainsAny(n, " -\t\n\r\f\v") {
			t.Fatalf("NormalizeCode(%q) = %q, not normal", s, n)
		}
		if len(n) > len(s) {
			t.Fatalf("NormalizeCode(%q) grew to %q", s, n)
		}
	})
}

func TestNormalizeCode(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"123456", "123456"},
		{" 123 456 ", "123456"},
		{"12-34-56", "123456"},
		{"123\t456\n", "123456"},
		{"\u00a0123456\u00a0", "123456"}, // pasted with non-breaking spaces
		{"0\f-", "0"},                    // trimming before removing left "0\f"
		{"１２３４５６", "１２３４５６"},             // full-width digits stay, and are refused later
		{"\xff\xfe", "\xff\xfe"},
	} {
		if got := NormalizeCode(tc.in); got != tc.want {
			t.Errorf("NormalizeCode(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

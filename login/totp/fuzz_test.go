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
		if NormalizeCode(n) != n || strings.ContainsAny(n, " -\t") {
			t.Fatalf("NormalizeCode(%q) = %q, not normal", s, n)
		}
		if len(n) > len(s) {
			t.Fatalf("NormalizeCode(%q) grew to %q", s, n)
		}
	})
}

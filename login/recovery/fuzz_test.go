package recovery

import "testing"

// FuzzNormalize: an accepted code is canonical (normalising it again or
// its formatted form gives the same code), and anything else is refused
// without a panic.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"ABCD-EFGH-JKMN", "abcd efgh jkmn", "ABCDEFGHJKMN", "0000-0000-0000", "ä", "----"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := Normalize(s)
		if !ok {
			return
		}
		if n2, ok2 := Normalize(n); !ok2 || n2 != n {
			t.Fatalf("Normalize(%q) = %q, which does not normalise to itself", s, n)
		}
		if n3, ok3 := Normalize(format(n)); !ok3 || n3 != n {
			t.Fatalf("the formatted code %q does not normalise back to %q", format(n), n)
		}
	})
}

package totp

import (
	"testing"
	"time"
)

// BenchmarkMatch verifies a TOTP code at the default skew (every step in
// the window computed and compared).
func BenchmarkMatch(b *testing.B) {
	secret := []byte("12345678901234567890")
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	p := Params{Skew: 1}
	code, err := p.Code(secret, p.Step(now))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, ok := p.Match(secret, code, now); !ok {
			b.Fatal("no match")
		}
	}
}

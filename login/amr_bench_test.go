package login

import (
	"testing"
	"time"
)

// BenchmarkAMRACR derives amr, acr and auth_time from a two-factor sign-in,
// as every ID token does.
func BenchmarkAMRACR(b *testing.B) {
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	results := []Result{{Method: MethodPassword, UserID: "u", At: at}, {Method: MethodTOTP, UserID: "u", At: at.Add(time.Minute)}}
	for b.Loop() {
		if len(AMR(results)) == 0 || ACR(results) == 0 || AuthTime(results).IsZero() {
			b.Fatal("nothing derived")
		}
	}
}

package login

import (
	"slices"
	"testing"
)

func TestRequiredLevel(t *testing.T) {
	tests := []struct {
		name      string
		clientMin Level
		acr       []string
		twoFA     bool
		want      Level
	}{
		{"defaults to one factor", LevelNone, nil, false, Level1FA},
		{"client minimum", LevelMFA, nil, false, LevelMFA},
		{"rp asks for more", Level1FA, []string{"phr"}, false, LevelPHR},
		{"rp asks for less than client", LevelMFA, []string{"1fa"}, false, LevelMFA},
		{"any listed value is acceptable", Level1FA, []string{"phrh", "mfa"}, false, LevelMFA},
		{"unknown values ignored", Level1FA, []string{"urn:x", "gold"}, false, Level1FA},
		{"user's 2FA raises to mfa", Level1FA, nil, true, LevelMFA},
		{"user's 2FA does not lower", LevelPHR, nil, true, LevelPHR},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := RequiredLevel(tc.clientMin, tc.acr, tc.twoFA); got != tc.want {
				t.Fatalf("RequiredLevel = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestNextMethods(t *testing.T) {
	first := []Method{MethodPassword, MethodMagicLink, MethodPasskey}
	enrolled := []Method{MethodPassword, MethodTOTP, MethodRecoveryCode, MethodPasskey}
	pwd := []Result{{Method: MethodPassword}}
	tests := []struct {
		name     string
		results  []Result
		required Level
		want     []Method
	}{
		{"unidentified gets first factors", nil, LevelMFA, first},
		{"after password only what is missing", pwd, LevelMFA, []Method{MethodTOTP, MethodRecoveryCode, MethodPasskey}},
		{"phishing resistant needs a passkey", pwd, LevelPHR, []Method{MethodPasskey}},
		{"after totp no recovery code", []Result{{Method: MethodPassword}, {Method: MethodTOTP}}, LevelPHR, []Method{MethodPasskey}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := NextMethods(tc.results, first, enrolled, tc.required); !slices.Equal(got, tc.want) {
				t.Fatalf("NextMethods = %v, want %v", got, tc.want)
			}
		})
	}
}

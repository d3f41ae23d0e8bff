package login

import (
	"slices"
	"testing"
	"time"
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
		name       string
		identified bool
		results    []Result
		required   Level
		want       []Method
	}{
		{"re-authentication of a known user offers the enrolled factors", true, nil, Level1FA, enrolled},
		{"unidentified gets first factors", false, nil, LevelMFA, first},
		{"after password only what is missing", true, pwd, LevelMFA, []Method{MethodTOTP, MethodRecoveryCode, MethodPasskey}},
		{"phishing resistant needs a passkey", true, pwd, LevelPHR, []Method{MethodPasskey}},
		{"after totp no recovery code", true, []Result{{Method: MethodPassword}, {Method: MethodTOTP}}, LevelPHR, []Method{MethodPasskey}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := NextMethods(tc.identified, tc.results, first, enrolled, tc.required); !slices.Equal(got, tc.want) {
				t.Fatalf("NextMethods = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRecent(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	oldPwd := Result{Method: MethodPassword, At: now.Add(-time.Hour)}
	newPwd := Result{Method: MethodPassword, At: now.Add(-time.Minute)}
	newOTP := Result{Method: MethodTOTP, At: now.Add(-time.Minute)}
	tests := []struct {
		name    string
		results []Result
		level   Level
		want    bool
	}{
		{"both factors fresh", []Result{newPwd, newOTP}, LevelMFA, true},
		{"old password does not count", []Result{oldPwd, newOTP}, LevelMFA, false},
		{"fresh password is enough for 1fa", []Result{newPwd}, Level1FA, true},
		{"nothing fresh", []Result{oldPwd}, Level1FA, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Recent(tc.results, now, 5*time.Minute, tc.level); got != tc.want {
				t.Fatalf("Recent = %v, want %v", got, tc.want)
			}
		})
	}
}

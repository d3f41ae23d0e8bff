package login

import (
	"fmt"
	"slices"
	"time"
)

// Method names a factor, as posted in the login form's "method" field.
type Method string

// The factors of SPEC.md.
const (
	MethodPassword     Method = "password"
	MethodTOTP         Method = "totp"
	MethodRecoveryCode Method = "recovery_code"
	MethodMagicLink    Method = "magic_link"
	MethodPasskey      Method = "passkey"
)

// Result is one completed factor: the only input amr, acr and auth_time are
// derived from.
type Result struct {
	Method Method    `json:"method"`
	UserID string    `json:"user_id"`
	At     time.Time `json:"at"`
	// Passkey facts from the authenticator data.
	UserVerified bool `json:"uv,omitempty"`
	DeviceBound  bool `json:"device_bound,omitempty"` // backup-eligible flag clear
}

// Level is an acr level; the zero value means not authenticated.
type Level int

// The acr levels, weakest first.
const (
	LevelNone Level = iota
	Level1FA
	LevelMFA
	LevelPHR
	LevelPHRH
)

var levelNames = []string{"", "1fa", "mfa", "phr", "phrh"}

// String is the acr value.
func (l Level) String() string {
	if l < 0 || int(l) >= len(levelNames) {
		return ""
	}
	return levelNames[l]
}

// ParseLevel reads an acr value.
func ParseLevel(s string) (Level, error) {
	i := slices.Index(levelNames, s)
	if i <= 0 {
		return LevelNone, fmt.Errorf("unknown acr level %q (want one of 1fa, mfa, phr, phrh)", s)
	}
	return Level(i), nil
}

// ACRValuesSupported is what discovery advertises.
func ACRValuesSupported() []string { return slices.Clone(levelNames[1:]) }

// factorKind groups methods into distinct factors: a recovery code stands in
// for TOTP, so the two together are not two factors.
func factorKind(m Method) string {
	if m == MethodRecoveryCode {
		return string(MethodTOTP)
	}
	return string(m)
}

// amrOf lists what one result contributes, per SPEC.md's table.
func amrOf(r Result) []string {
	switch r.Method {
	case MethodPassword:
		return []string{"pwd"}
	case MethodTOTP, MethodRecoveryCode:
		return []string{"otp"}
	case MethodMagicLink:
		return []string{"email"}
	case MethodPasskey:
		out := []string{"swk"}
		if r.DeviceBound {
			out[0] = "hwk"
		}
		out = append(out, "user")
		if r.UserVerified {
			out = append(out, "pin")
		}
		return out
	}
	return nil
}

// AMR is the ID token's amr for these results: each factor's values in the
// order they were completed, without repeats, then "mfa" when earned.
func AMR(results []Result) []string {
	var out []string
	for _, r := range results {
		for _, v := range amrOf(r) {
			if !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
	}
	if isMFA(results) {
		out = append(out, "mfa")
	}
	return out
}

func isMFA(results []Result) bool {
	kinds := map[string]bool{}
	for _, r := range results {
		kinds[factorKind(r.Method)] = true
		if r.Method == MethodPasskey && r.UserVerified {
			return true
		}
	}
	return len(kinds) >= 2
}

// ACR is the level these results reach. Phishing resistance needs a passkey
// within a multi-factor sign-in (user verification or a second factor): a
// bare passkey tap without verification is one factor, however strong.
func ACR(results []Result) Level {
	if len(results) == 0 {
		return LevelNone
	}
	if !isMFA(results) {
		return Level1FA
	}
	level := LevelMFA
	for _, r := range results {
		if r.Method != MethodPasskey {
			continue
		}
		if r.DeviceBound {
			return LevelPHRH
		}
		level = LevelPHR
	}
	return level
}

// AuthTime is the time of the last fresh factor.
func AuthTime(results []Result) time.Time {
	var t time.Time
	for _, r := range results {
		if r.At.After(t) {
			t = r.At
		}
	}
	return t
}

// Used tells whether a factor of m's kind is among results.
func Used(results []Result, m Method) bool {
	for _, r := range results {
		if factorKind(r.Method) == factorKind(m) {
			return true
		}
	}
	return false
}

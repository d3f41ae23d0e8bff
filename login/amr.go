package login

import (
	"fmt"
	"slices"
	"time"

	"latchkey/config"
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
	// MethodRemembered is no factor the user answers: a remembered browser
	// standing in for the second factor at mfa. It adds nothing to amr and
	// never makes a sign-in phishing-resistant.
	MethodRemembered Method = "remembered_browser"
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

// levelNames is config.ACRLevels (the one table of level names, which
// config validation uses too) with the unauthenticated level in front; a
// test checks the constants above match it.
var levelNames = append([]string{""}, config.ACRLevels...)

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
// order they were completed, without repeats, then "mfa" when earned by
// what was proved (a remembered browser lists nothing).
func AMR(results []Result) []string {
	results = provedOnly(results)
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
// bare passkey tap without verification is one factor, however strong. A
// remembered browser counts as the second factor for mfa, never beyond.
func ACR(results []Result) Level {
	proved := provedOnly(results)
	if len(proved) == 0 {
		return LevelNone
	}
	if !isMFA(results) {
		return Level1FA
	}
	level := LevelMFA
	if !isMFA(proved) {
		return level
	}
	for _, r := range proved {
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

// provedOnly drops a remembered browser's stand-in.
func provedOnly(results []Result) []Result {
	if !slices.ContainsFunc(results, func(r Result) bool { return r.Method == MethodRemembered }) {
		return results
	}
	return slices.DeleteFunc(slices.Clone(results), func(r Result) bool { return r.Method == MethodRemembered })
}

// AuthTime is the time of the last fresh factor (a remembered browser is
// none).
func AuthTime(results []Result) time.Time {
	var t time.Time
	for _, r := range provedOnly(results) {
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

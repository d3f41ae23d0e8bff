package login

import (
	"slices"
	"time"
)

// RequiredLevel is the level a sign-in must reach: the strongest of the
// client's min_acr, the acr_values the relying party asked for and the
// user's own choice (a user with a second factor enrolled is always asked
// for it).
//
// acr_values lists acceptable levels in order of preference (OIDC Core
// 3.1.2.1), so any one of them satisfies the request: the weakest known one
// counts. Unknown values are ignored, as the spec lets an OP do.
func RequiredLevel(clientMin Level, acrValues []string, userHasSecondFactor bool) Level {
	req := max(clientMin, Level1FA)
	asked := LevelNone
	for _, v := range acrValues {
		if l, err := ParseLevel(v); err == nil && (asked == LevelNone || l < asked) {
			asked = l
		}
	}
	req = max(req, asked)
	if userHasSecondFactor {
		req = max(req, LevelMFA)
	}
	return req
}

// Satisfied tells whether results reach level.
func Satisfied(results []Result, level Level) bool {
	return len(results) > 0 && ACR(results) >= level
}

// NextMethods lists what a step may offer: before the user is known, the
// identifying factors; after, only the user's enrolled factors that are not
// yet used (step-up asks only for what is missing). Phishing-resistant
// levels can only be reached with a passkey, so only that is offered.
func NextMethods(identified bool, results []Result, identifying, enrolled []Method, required Level) []Method {
	if !identified {
		return identifying
	}
	var out []Method
	for _, m := range enrolled {
		if Used(results, m) {
			continue
		}
		if required >= LevelPHR && m != MethodPasskey {
			continue
		}
		out = append(out, m)
	}
	return slices.Clip(out)
}

// Recent tells whether the factors proved within window before now reach
// level on their own: sensitive account changes need a fresh proof, not a
// session that was strong hours ago.
func Recent(results []Result, now time.Time, window time.Duration, level Level) bool {
	var fresh []Result
	for _, r := range results {
		if now.Sub(r.At) <= window {
			fresh = append(fresh, r)
		}
	}
	return Satisfied(fresh, level)
}

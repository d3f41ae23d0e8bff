package login

import (
	"slices"
	"testing"
	"time"

	"latchkey/config"
)

func TestPolicyRequired(t *testing.T) {
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
			in := Input{ClientMin: tc.clientMin, ACRValues: tc.acr, Enrolled: Enrollment{TwoFA: tc.twoFA}}
			if got := (Policy{}).Required(in); got != tc.want {
				t.Fatalf("Required = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestLevelTable: the level constants follow the one table of names that
// config validation uses.
func TestLevelTable(t *testing.T) {
	want := []Level{Level1FA, LevelMFA, LevelPHR, LevelPHRH}
	if len(config.ACRLevels) != len(want) {
		t.Fatalf("config.ACRLevels = %v, want %d levels", config.ACRLevels, len(want))
	}
	for i, name := range config.ACRLevels {
		l, err := ParseLevel(name)
		if err != nil || l != want[i] || l.String() != name {
			t.Errorf("level %q = %v (%v), want %v", name, l, err, want[i])
		}
	}
	if !slices.Equal(ACRValuesSupported(), config.ACRLevels) {
		t.Errorf("ACRValuesSupported = %v, want %v", ACRValuesSupported(), config.ACRLevels)
	}
}

// TestPolicyEvaluate walks session state × enrolled factors × required
// level × remembered browser to the decision, and the amr/acr that the
// decision's results give.
func TestPolicyEvaluate(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	pwd := Result{Method: MethodPassword, UserID: "u", At: now.Add(-time.Hour)}
	otp := Result{Method: MethodTOTP, UserID: "u", At: now.Add(-50 * time.Minute)}
	otpNew := Result{Method: MethodTOTP, UserID: "u", At: now.Add(-time.Minute)}
	pkSync := Result{Method: MethodPasskey, UserID: "u", UserVerified: true, At: now.Add(-time.Minute)}
	pkBound := Result{Method: MethodPasskey, UserID: "u", UserVerified: true, DeviceBound: true, At: now.Add(-time.Minute)}
	first := []Method{MethodPassword, MethodMagicLink, MethodPasskey}

	none := Enrollment{Methods: []Method{MethodPassword}}
	withTOTP := Enrollment{Methods: []Method{MethodPassword, MethodTOTP, MethodRecoveryCode}, TwoFA: true}
	withPasskey := Enrollment{Methods: []Method{MethodPassword, MethodPasskey}, TwoFA: true}
	withBoth := Enrollment{Methods: []Method{MethodPassword, MethodTOTP, MethodRecoveryCode, MethodPasskey}, TwoFA: true}

	type want struct {
		required  Level
		satisfied bool
		offer     []Method
		enroll    Method
		amr       []string
		acr       string
		fresh     bool
	}
	tests := []struct {
		name       string
		session    []Result
		enrolled   Enrollment
		identified bool
		clientMin  Level
		acr        []string
		remembered bool
		allowed    bool
		stepUp     time.Duration
		prompt     []string
		maxAge     int64
		want       want
	}{
		// Before the user is known.
		{name: "anonymous, 1fa: the identifying factors, passkey first", clientMin: Level1FA,
			want: want{required: Level1FA, offer: []Method{MethodPasskey, MethodPassword, MethodMagicLink}}},
		{name: "anonymous, mfa client: still the identifying factors", clientMin: LevelMFA,
			want: want{required: LevelMFA, offer: []Method{MethodPasskey, MethodPassword, MethodMagicLink}}},

		// One factor in hand, no second factor enrolled.
		{name: "1fa session, 1fa client, no 2FA: satisfied", session: []Result{pwd}, enrolled: none, identified: true, clientMin: Level1FA,
			want: want{required: Level1FA, satisfied: true, amr: []string{"pwd"}, acr: "1fa"}},
		{name: "1fa session, mfa client, nothing enrolled: enroll TOTP", session: []Result{pwd}, enrolled: none, identified: true, clientMin: LevelMFA,
			want: want{required: LevelMFA, enroll: MethodTOTP, amr: []string{"pwd"}, acr: "1fa"}},
		{name: "1fa session, phr asked, nothing enrolled: enroll a passkey", session: []Result{pwd}, enrolled: none, identified: true, acr: []string{"phr"},
			want: want{required: LevelPHR, enroll: MethodPasskey, amr: []string{"pwd"}, acr: "1fa"}},
		{name: "1fa session, phr asked, only TOTP: enroll a passkey", session: []Result{pwd}, enrolled: withTOTP, identified: true, acr: []string{"phr"},
			want: want{required: LevelPHR, enroll: MethodPasskey, amr: []string{"pwd"}, acr: "1fa"}},

		// Step-up: only what is missing.
		{name: "1fa session, mfa asked, TOTP: only TOTP or a recovery code", session: []Result{pwd}, enrolled: withTOTP, identified: true, acr: []string{"mfa"},
			want: want{required: LevelMFA, offer: []Method{MethodTOTP, MethodRecoveryCode}, amr: []string{"pwd"}, acr: "1fa"}},
		{name: "1fa session, mfa asked, both: passkey first", session: []Result{pwd}, enrolled: withBoth, identified: true, acr: []string{"mfa"},
			want: want{required: LevelMFA, offer: []Method{MethodPasskey, MethodTOTP, MethodRecoveryCode}, amr: []string{"pwd"}, acr: "1fa"}},
		{name: "1fa session, phr asked, both: only the passkey", session: []Result{pwd}, enrolled: withBoth, identified: true, acr: []string{"phr"},
			want: want{required: LevelPHR, offer: []Method{MethodPasskey}, amr: []string{"pwd"}, acr: "1fa"}},
		{name: "mfa session, phr asked: only the passkey", session: []Result{pwd, otp}, enrolled: withBoth, identified: true, acr: []string{"phr"},
			want: want{required: LevelPHR, offer: []Method{MethodPasskey}, amr: []string{"pwd", "otp", "mfa"}, acr: "mfa"}},
		{name: "mfa session, mfa client: satisfied", session: []Result{pwd, otp}, enrolled: withTOTP, identified: true, clientMin: LevelMFA,
			want: want{required: LevelMFA, satisfied: true, amr: []string{"pwd", "otp", "mfa"}, acr: "mfa"}},
		{name: "passkey session, phrh asked, synced passkey: passkey again", session: []Result{pwd, pkSync}, enrolled: withPasskey, identified: true, acr: []string{"phrh"},
			want: want{required: LevelPHRH, offer: []Method{MethodPasskey}, amr: []string{"pwd", "swk", "user", "pin", "mfa"}, acr: "phr"}},
		{name: "device-bound passkey session, phrh: satisfied", session: []Result{pwd, pkBound}, enrolled: withPasskey, identified: true, acr: []string{"phrh"},
			want: want{required: LevelPHRH, satisfied: true, amr: []string{"pwd", "hwk", "user", "pin", "mfa"}, acr: "phrh"}},

		// The user's own 2FA.
		{name: "1fa session, 1fa client, 2FA on: asked for it", session: []Result{pwd}, enrolled: withTOTP, identified: true, clientMin: Level1FA,
			want: want{required: LevelMFA, offer: []Method{MethodTOTP, MethodRecoveryCode}, amr: []string{"pwd"}, acr: "1fa"}},

		// Remembered browser: mfa only, and only where the client allows.
		{name: "remembered, 2FA on, 1fa client: stands in", session: []Result{pwd}, enrolled: withTOTP, identified: true, clientMin: Level1FA, remembered: true, allowed: true,
			want: want{required: LevelMFA, satisfied: true, amr: []string{"pwd"}, acr: "mfa"}},
		{name: "remembered, mfa client: stands in", session: []Result{pwd}, enrolled: withTOTP, identified: true, clientMin: LevelMFA, remembered: true, allowed: true,
			want: want{required: LevelMFA, satisfied: true, amr: []string{"pwd"}, acr: "mfa"}},
		{name: "remembered, client says no: TOTP asked", session: []Result{pwd}, enrolled: withTOTP, identified: true, clientMin: LevelMFA, remembered: true, allowed: false,
			want: want{required: LevelMFA, offer: []Method{MethodTOTP, MethodRecoveryCode}, amr: []string{"pwd"}, acr: "1fa"}},
		{name: "remembered, phr asked: never stands in", session: []Result{pwd}, enrolled: withBoth, identified: true, acr: []string{"phr"}, remembered: true, allowed: true,
			want: want{required: LevelPHR, offer: []Method{MethodPasskey}, amr: []string{"pwd"}, acr: "1fa"}},
		{name: "remembered, passkey without 2FA needed at phr: no", session: []Result{{Method: MethodPasskey, UserID: "u", At: now}}, enrolled: withPasskey, identified: true, acr: []string{"phr"}, remembered: true, allowed: true,
			want: want{required: LevelPHR, offer: []Method{MethodPasskey, MethodPassword}, amr: []string{"swk", "user"}, acr: "1fa"}},
		{name: "not remembered: TOTP asked", session: []Result{pwd}, enrolled: withTOTP, identified: true, clientMin: LevelMFA, remembered: false, allowed: true,
			want: want{required: LevelMFA, offer: []Method{MethodTOTP, MethodRecoveryCode}, amr: []string{"pwd"}, acr: "1fa"}},
		{name: "a stand-in carried in results does not count", session: []Result{pwd, {Method: MethodRemembered, UserID: "u", At: now}}, enrolled: withTOTP, identified: true, clientMin: LevelMFA, remembered: false, allowed: true,
			want: want{required: LevelMFA, offer: []Method{MethodTOTP, MethodRecoveryCode}, amr: []string{"pwd"}, acr: "1fa"}},
		{name: "remembered with no user known: nothing stands in", clientMin: LevelMFA, remembered: true, allowed: true,
			want: want{required: LevelMFA, offer: []Method{MethodPasskey, MethodPassword, MethodMagicLink}}},

		// step_up_max_age: the second factor again, the first kept.
		{name: "second factor older than step_up_max_age: asked again", session: []Result{pwd, otp}, enrolled: withTOTP, identified: true, clientMin: LevelMFA, stepUp: 10 * time.Minute,
			want: want{required: LevelMFA, offer: []Method{MethodTOTP, MethodRecoveryCode}, amr: []string{"pwd"}, acr: "1fa"}},
		{name: "second factor within step_up_max_age: satisfied", session: []Result{pwd, otpNew}, enrolled: withTOTP, identified: true, clientMin: LevelMFA, stepUp: 10 * time.Minute,
			want: want{required: LevelMFA, satisfied: true, amr: []string{"pwd", "otp", "mfa"}, acr: "mfa"}},

		// prompt=login and max_age: everything is stale.
		{name: "prompt=login: fresh, the enrolled factors", session: []Result{pwd, otpNew}, enrolled: withTOTP, identified: true, clientMin: LevelMFA, prompt: []string{"login"},
			want: want{required: LevelMFA, fresh: true, offer: []Method{MethodPassword, MethodTOTP, MethodRecoveryCode}}},
		{name: "max_age exceeded: fresh", session: []Result{pwd, otp}, enrolled: withTOTP, identified: true, clientMin: LevelMFA, maxAge: 60,
			want: want{required: LevelMFA, fresh: true, offer: []Method{MethodPassword, MethodTOTP, MethodRecoveryCode}}},
		{name: "max_age not exceeded: satisfied", session: []Result{pwd, otp}, enrolled: withTOTP, identified: true, clientMin: LevelMFA, maxAge: 3600,
			want: want{required: LevelMFA, satisfied: true, amr: []string{"pwd", "otp", "mfa"}, acr: "mfa"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			maxAge := tc.maxAge
			if maxAge == 0 {
				maxAge = -1
			}
			d := Policy{}.Evaluate(Input{ClientMin: tc.clientMin, ACRValues: tc.acr, Identified: tc.identified, Identifying: first,
				Enrolled: tc.enrolled, Remembered: tc.remembered, RememberAllowed: tc.allowed, Results: tc.session,
				StepUpMaxAge: tc.stepUp, Prompt: tc.prompt, MaxAge: maxAge, Now: now})
			got := want{required: d.Required, satisfied: d.Satisfied, offer: d.Offer, enroll: d.Enroll,
				amr: AMR(d.Results), acr: ACR(d.Results).String(), fresh: d.Fresh}
			if got.required != tc.want.required || got.satisfied != tc.want.satisfied || !slices.Equal(got.offer, tc.want.offer) ||
				got.enroll != tc.want.enroll || !slices.Equal(got.amr, tc.want.amr) || got.acr != tc.want.acr || got.fresh != tc.want.fresh {
				t.Errorf("Evaluate =\n  %+v\nwant\n  %+v", got, tc.want)
			}
			if d.Level != ACR(d.Results) {
				t.Errorf("Decision.Level %v != ACR(Results) %v", d.Level, ACR(d.Results))
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

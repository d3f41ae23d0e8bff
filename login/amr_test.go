package login

import (
	"slices"
	"testing"
	"time"
)

func TestAMRAndACR(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	pwd := Result{Method: MethodPassword, At: t0}
	otp := Result{Method: MethodTOTP, At: t0.Add(time.Minute)}
	rec := Result{Method: MethodRecoveryCode, At: t0.Add(time.Minute)}
	mail := Result{Method: MethodMagicLink, At: t0}
	pkSyncUV := Result{Method: MethodPasskey, UserVerified: true, At: t0}
	pkBoundUV := Result{Method: MethodPasskey, UserVerified: true, DeviceBound: true, At: t0}
	pkNoUV := Result{Method: MethodPasskey, At: t0.Add(time.Minute)}

	tests := []struct {
		name    string
		results []Result
		amr     []string
		acr     string
	}{
		{"nothing", nil, nil, ""},
		{"password", []Result{pwd}, []string{"pwd"}, "1fa"},
		{"magic link", []Result{mail}, []string{"email"}, "1fa"},
		{"password+totp", []Result{pwd, otp}, []string{"pwd", "otp", "mfa"}, "mfa"},
		{"password+recovery", []Result{pwd, rec}, []string{"pwd", "otp", "mfa"}, "mfa"},
		{"totp+recovery is one factor", []Result{otp, rec}, []string{"otp"}, "1fa"},
		{"password twice is one factor", []Result{pwd, pwd}, []string{"pwd"}, "1fa"},
		{"synced passkey with UV", []Result{pkSyncUV}, []string{"swk", "user", "pin", "mfa"}, "phr"},
		{"device-bound passkey with UV", []Result{pkBoundUV}, []string{"hwk", "user", "pin", "mfa"}, "phrh"},
		{"passkey without UV alone", []Result{pkNoUV}, []string{"swk", "user"}, "1fa"},
		{"password + passkey without UV", []Result{pwd, pkNoUV}, []string{"pwd", "swk", "user", "mfa"}, "phr"},
		{"magic link + totp", []Result{mail, otp}, []string{"email", "otp", "mfa"}, "mfa"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := AMR(tc.results); !slices.Equal(got, tc.amr) {
				t.Errorf("AMR = %v, want %v", got, tc.amr)
			}
			if got := ACR(tc.results).String(); got != tc.acr {
				t.Errorf("ACR = %q, want %q", got, tc.acr)
			}
		})
	}
	if got := AuthTime([]Result{pwd, otp}); !got.Equal(t0.Add(time.Minute)) {
		t.Errorf("AuthTime = %v, want the later factor's time", got)
	}
}

func TestParseLevel(t *testing.T) {
	for i, name := range ACRValuesSupported() {
		l, err := ParseLevel(name)
		if err != nil || l != Level(i+1) || l.String() != name {
			t.Errorf("ParseLevel(%q) = %v, %v", name, l, err)
		}
	}
	for _, bad := range []string{"", "MFA", "2fa", "0"} {
		if _, err := ParseLevel(bad); err == nil {
			t.Errorf("ParseLevel(%q) accepted", bad)
		}
	}
}

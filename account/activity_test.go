package account

import (
	"testing"
	"time"

	"latchkey/store"
)

func TestDescribe(t *testing.T) {
	firefox := "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
	names := func(id string) string { return map[string]string{"shop": "The Shop"}[id] }
	tests := []struct {
		name string
		e    store.AuditEvent
		want string
	}{
		{"two factors", store.AuditEvent{Event: "login.succeeded", Detail: "amr=pwd otp mfa acr=mfa", UserAgent: firefox, IP: "203.0.113.9"},
			"Signed in with password and authenticator app, Firefox on Linux, 203.0.113.9"},
		{"passkey alone", store.AuditEvent{Event: "login.succeeded", Detail: "amr=hwk user pin mfa acr=phrh", IP: "198.51.100.4"},
			"Signed in with passkey, 198.51.100.4"},
		{"three methods", store.AuditEvent{Event: "login.succeeded", Detail: "amr=email otp swk"},
			"Signed in with email link, authenticator app and passkey"},
		{"no amr", store.AuditEvent{Event: "login.succeeded"}, "Signed in"},
		{"failed password", store.AuditEvent{Event: "login.failed", Detail: "method=password", UserAgent: firefox},
			"Failed sign-in attempt (password), Firefox on Linux"},
		{"failed recovery code", store.AuditEvent{Event: "login.failed", Detail: "method=recovery_code"},
			"Failed sign-in attempt (recovery code)"},
		{"signed out", store.AuditEvent{Event: "session.ended", Detail: "reason=logout", UserAgent: firefox, IP: "203.0.113.9"},
			"Signed out, Firefox on Linux, 203.0.113.9"},
		{"revoked", store.AuditEvent{Event: "session.ended", Detail: "reason=revoked"}, "Signed out from your account page"},
		{"user switch", store.AuditEvent{Event: "session.ended", Detail: "reason=user_switch"}, "Signed out: another account signed in on this browser"},
		{"password changed", store.AuditEvent{Event: "session.ended", Detail: "reason=password_changed"}, "Signed out after a password change"},
		{"unknown reason", store.AuditEvent{Event: "session.ended", Detail: "reason=later"}, "Signed out"},
		{"consent revoked", store.AuditEvent{Event: "consent.revoked", Detail: "client=shop"}, "Access removed for The Shop"},
		{"totp on", store.AuditEvent{Event: "totp.enabled", Detail: "10 recovery codes issued"}, "Two-factor authentication turned on"},
		{"totp locked", store.AuditEvent{Event: "totp.failed", Detail: "wrong code; locked for 15m0s"}, "Wrong authenticator code; the app is locked for a while"},
		{"passkey named with spaces", store.AuditEvent{Event: "passkey.added", Detail: `passkey=abc name="My key=1"`}, "Passkey added"},
		{"unknown event", store.AuditEvent{Event: "magic_link.sent"}, "Magic link sent"},
		{"password change refused", store.AuditEvent{Event: "password.change_failed"}, "Password not changed: the current password was wrong"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.e.At = time.Date(2026, 11, 28, 19, 0, 0, 0, time.UTC)
			a := Describe(tc.e, names)
			if got := a.Line(); got != tc.want {
				t.Errorf("Describe(%s %q) = %q, want %q", tc.e.Event, tc.e.Detail, got, tc.want)
			}
			if a.At != "2026-11-28 19:00 UTC" {
				t.Errorf("At = %q", a.At)
			}
		})
	}
}

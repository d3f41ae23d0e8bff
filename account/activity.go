package account

import (
	"strings"

	"latchkey/login"
	"latchkey/store"
)

// Activity is one line of recent activity in plain words.
type Activity struct {
	What   string
	Device string // "Firefox on Linux", or "" when the event names no browser
	IP     string
	At     string
}

// Describe says what an audit event means for its user: "Signed in with
// password and authenticator app", never an event name. clientName names a
// relying party by its ID (nil: the ID).
func Describe(e store.AuditEvent, clientName func(string) string) Activity {
	a := Activity{What: describeEvent(e, clientName), IP: e.IP, At: e.At.UTC().Format("2006-01-02 15:04 MST")}
	if e.UserAgent != "" {
		a.Device = Device(e.UserAgent)
	}
	return a
}

// Line is the activity as one sentence: "Signed in with password,
// Firefox on Linux, 203.0.113.9".
func (a Activity) Line() string {
	parts := []string{a.What}
	if a.Device != "" {
		parts = append(parts, a.Device)
	}
	if a.IP != "" {
		parts = append(parts, a.IP)
	}
	return strings.Join(parts, ", ")
}

// endedWords says why a session ended.
var endedWords = map[login.EndReason]string{
	login.EndLogout:          "Signed out",
	login.EndRPLogout:        "Signed out by an application",
	login.EndRevoked:         "Signed out from your account page",
	login.EndUserSwitch:      "Signed out: another account signed in on this browser",
	login.EndDisabled:        "Signed out: an administrator disabled the account",
	login.EndFactorsReset:    "Signed out: an administrator reset your sign-in methods",
	login.EndPasswordChanged: "Signed out after a password change",
	login.EndPasswordReset:   "Signed out after a password reset",
}

var eventWords = map[string]string{
	"user.signup":                "Account created",
	"user.created":               "Account created by an administrator",
	"user.disabled":              "Account disabled by an administrator",
	"user.factors_reset":         "An administrator removed your authenticator app, recovery codes and passkeys",
	"totp.enabled":               "Two-factor authentication turned on",
	"totp.disabled":              "Two-factor authentication turned off",
	"twofactor.disabled":         "Two-factor authentication turned off",
	"totp.used":                  "Authenticator app code accepted",
	"recovery_code.used":         "Recovery code used",
	"recovery_code.failed":       "Wrong recovery code",
	"recovery_codes.regenerated": "New recovery codes made",
	"passkey.added":              "Passkey added",
	"passkey.renamed":            "Passkey renamed",
	"passkey.deleted":            "Passkey removed",
	"passkey.clone_detected":     "A passkey that looked copied was refused",
	"password.changed":           "Password changed",
	"profile.name_changed":       "Name changed",
	"password.change_failed":     "Password not changed: the current password was wrong",
	"browser.forgotten":          "A remembered browser was forgotten",
}

// methodWords names the factors of a sign-in by their amr values.
var methodWords = map[string]string{
	"pwd":   "password",
	"otp":   "authenticator app",
	"hwk":   "passkey",
	"swk":   "passkey",
	"email": "email link",
}

func describeEvent(e store.AuditEvent, clientName func(string) string) string {
	fields := detailFields(e.Detail)
	switch e.Event {
	case "login.succeeded":
		var methods []string
		for _, amr := range strings.Fields(fields["amr"]) {
			if w, ok := methodWords[amr]; ok && !contains(methods, w) {
				methods = append(methods, w)
			}
		}
		if len(methods) == 0 {
			return "Signed in"
		}
		return "Signed in with " + joinWords(methods)
	case "login.failed":
		if m := fields["method"]; m != "" {
			return "Failed sign-in attempt (" + strings.ReplaceAll(m, "_", " ") + ")"
		}
		return "Failed sign-in attempt"
	case "totp.failed":
		if strings.Contains(e.Detail, "locked") {
			return "Wrong authenticator code; the app is locked for a while"
		}
		return "Wrong authenticator code"
	case login.EventSessionEnded:
		if w, ok := endedWords[login.EndReason(fields["reason"])]; ok {
			return w
		}
		return "Signed out"
	case "consent.revoked":
		name := fields["client"]
		if clientName != nil && name != "" {
			name = clientName(name)
		}
		return "Access removed for " + name
	}
	if w, ok := eventWords[e.Event]; ok {
		return w
	}
	// An event this page does not know yet: its name in words.
	w := strings.NewReplacer(".", " ", "_", " ").Replace(e.Event)
	if w == "" {
		return "Account activity"
	}
	return strings.ToUpper(w[:1]) + w[1:]
}

// detailFields reads "key=value" details; a value runs up to the next
// key (so "amr=pwd otp acr=mfa" gives amr "pwd otp").
func detailFields(detail string) map[string]string {
	out := map[string]string{}
	key := ""
	for _, f := range strings.Fields(detail) {
		if k, v, ok := strings.Cut(f, "="); ok && k != "" && !strings.ContainsAny(k, `"'`) {
			key = k
			out[key] = v
			continue
		}
		if key != "" {
			out[key] = strings.TrimSpace(out[key] + " " + f)
		}
	}
	return out
}

func joinWords(ws []string) string {
	switch len(ws) {
	case 1:
		return ws[0]
	case 2:
		return ws[0] + " and " + ws[1]
	}
	return strings.Join(ws[:len(ws)-1], ", ") + " and " + ws[len(ws)-1]
}

func contains(ws []string, w string) bool {
	for _, x := range ws {
		if x == w {
			return true
		}
	}
	return false
}

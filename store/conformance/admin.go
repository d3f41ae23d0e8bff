package conformance

import (
	"errors"
	"slices"
	"testing"
	"time"

	"latchkey/store"
)

// testDeleteUser gives a user a row in every user-keyed table, deletes the
// user, and checks that no table still holds their user_id (audit events
// excepted: they are the admin's record), that another user is untouched,
// and that the address can be registered again.
func testDeleteUser(t *testing.T, e *env) {
	for _, id := range []string{"u-gone", "u-kept"} {
		u := newUser(t, e, id, id+"@example.com")
		newSession(t, e, "sess-"+id, u.ID, time.Hour)
		must(t, e.st.AddSessionClient(e.ctx, "sess-"+id, "shop"), "AddSessionClient")
		must(t, e.st.CreateToken(e.ctx, &store.OAuthToken{Kind: "access", Signature: "sig-" + id, RequestID: "req-" + id,
			ClientID: "shop", Subject: id, Active: true, Data: []byte("{}"), ExpiresAt: e.now().Add(time.Hour)}), "CreateToken")
		must(t, e.st.RememberConsent(e.ctx, id, "shop", []string{"openid"}), "RememberConsent")
		must(t, e.st.PutPendingTOTP(e.ctx, id, []byte("sealed")), "PutPendingTOTP")
		must(t, e.st.ReplaceRecoveryCodes(e.ctx, id, []string{"h1-" + id, "h2-" + id}), "ReplaceRecoveryCodes")
		must(t, e.st.CreatePasskey(e.ctx, &store.Passkey{ID: "pk-" + id, UserID: id, CredentialID: "cred-" + id, PublicKey: []byte{1}}), "CreatePasskey")
		_, err := e.st.EnsurePasskeyHandle(e.ctx, id, "handle-"+id)
		must(t, err, "EnsurePasskeyHandle")
		must(t, e.st.RememberBrowser(e.ctx, &store.RememberedBrowser{ID: "rb-" + id, TokenHash: "tok-" + id, UserID: id,
			ExpiresAt: e.now().Add(time.Hour)}), "RememberBrowser")
		must(t, e.st.Audit(e.ctx, store.AuditEvent{UserID: id, Event: "login.succeeded"}), "Audit")
	}

	must(t, e.st.DeleteUser(e.ctx, "u-gone"), "DeleteUser")
	if err := e.st.DeleteUser(e.ctx, "u-gone"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second DeleteUser: %v, want ErrNotFound", err)
	}

	db := e.st.SQL()
	tables, err := e.st.Tables(e.ctx)
	must(t, err, "Tables")
	checked, withRows := 0, 0
	for _, table := range tables {
		col := ""
		for _, c := range []string{"user_id", "subject"} {
			if e.st.HasColumn(table, c) {
				col = c
			}
		}
		if col == "" {
			continue
		}
		var gone, kept int
		must(t, db.QueryRowContext(e.ctx, "SELECT COUNT(*) FROM "+table+" WHERE "+col+" = 'u-gone'").Scan(&gone), table)
		must(t, db.QueryRowContext(e.ctx, "SELECT COUNT(*) FROM "+table+" WHERE "+col+" = 'u-kept'").Scan(&kept), table)
		checked++
		if table == "audit_events" {
			if gone == 0 {
				t.Errorf("audit events of the deleted user were removed")
			}
			continue
		}
		if gone != 0 {
			t.Errorf("%s still holds %d rows of the deleted user", table, gone)
		}
		if kept > 0 {
			withRows++
		}
	}
	if checked < 8 || withRows < 8 {
		t.Errorf("only %d user-keyed tables found, %d with the other user's rows kept; the check is not looking", checked, withRows)
	}
	var clients int
	must(t, db.QueryRowContext(e.ctx, "SELECT COUNT(*) FROM session_clients WHERE session_hash = 'sess-u-gone'").Scan(&clients), "session_clients")
	if clients != 0 {
		t.Errorf("session clients of the deleted user's session remain")
	}
	if _, err := e.st.UserByEmail(e.ctx, "u-gone@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted user still found: %v", err)
	}
	newUser(t, e, "u-again", "u-gone@example.com")
}

func testEvents(t *testing.T, e *env) {
	t0 := e.now()
	for i, ev := range []store.AuditEvent{
		{UserID: "u-a", Event: "e1", At: t0},
		{UserID: "u-b", Event: "e2", At: t0.Add(time.Minute)},
		{UserID: "u-a", Event: "e3", At: t0.Add(2 * time.Minute)},
		{UserID: "", Event: "e4", At: t0.Add(3 * time.Minute)},
	} {
		must(t, e.st.Audit(e.ctx, ev), "Audit "+ev.Event)
		_ = i
	}
	for _, tc := range []struct {
		name string
		f    store.EventFilter
		want []string
	}{
		{"all", store.EventFilter{}, []string{"e4", "e3", "e2", "e1"}},
		{"user", store.EventFilter{UserID: "u-a"}, []string{"e3", "e1"}},
		{"since", store.EventFilter{Since: t0.Add(time.Minute)}, []string{"e4", "e3", "e2"}},
		{"user since", store.EventFilter{UserID: "u-a", Since: t0.Add(30 * time.Second)}, []string{"e3"}},
		{"limit", store.EventFilter{Limit: 2}, []string{"e4", "e3"}},
		{"nothing", store.EventFilter{UserID: "u-nobody"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := e.st.Events(e.ctx, tc.f)
			must(t, err, "Events")
			var got []string
			for _, ev := range evs {
				got = append(got, ev.Event)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

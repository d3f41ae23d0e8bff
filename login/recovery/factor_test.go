package recovery_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"

	"latchkey/internal/testkit"
	"latchkey/login"
	"latchkey/login/recovery"
	"latchkey/mail"
	"latchkey/store"
)

// appOn stands in for the TOTP factor.
type appOn struct{ on bool }

func (a *appOn) Method() login.Method { return login.MethodTOTP }
func (a *appOn) Verify(context.Context, login.Attempt) (login.Result, error) {
	return login.Result{}, login.ErrInvalid
}
func (a *appOn) Enrolled(context.Context, string) (bool, error) { return a.on, nil }

type outbox struct {
	mu   sync.Mutex
	sent []mail.Message
}

func (o *outbox) Send(_ context.Context, m mail.Message) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sent = append(o.sent, m)
	return nil
}

func setup(t *testing.T, dsn string) (*recovery.Factor, *store.Store, *appOn, *outbox, string) {
	t.Helper()
	st := testkit.OpenStore(t, dsn, store.Options{})
	u := &store.User{ID: "user-1", Email: "pat@example.com"}
	if err := st.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	app, box := &appOn{on: true}, &outbox{}
	return &recovery.Factor{Store: st, TOTP: app, Audit: st, Users: st, Mailer: box}, st, app, box, u.ID
}

func use(f *recovery.Factor, userID, code string) (login.Result, error) {
	return f.Verify(context.Background(), login.Attempt{Flow: &login.Flow{UserID: userID}, Form: url.Values{"code": {code}}})
}

func eachBackend(t *testing.T, fn func(t *testing.T, dsn string)) {
	for _, be := range testkit.Backends() {
		t.Run(be.Name, func(t *testing.T) { fn(t, be.DSN(t)) })
	}
}

func TestRecoveryFactor(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		f, st, app, box, uid := setup(t, dsn)
		if on, _ := f.Enrolled(ctx, uid); on {
			t.Fatal("enrolled without codes")
		}
		codes, err := f.Generate(ctx, uid)
		if err != nil || len(codes) != recovery.Count {
			t.Fatalf("Generate = %d codes, %v", len(codes), err)
		}
		if on, _ := f.Enrolled(ctx, uid); !on {
			t.Fatal("not enrolled with codes and TOTP on")
		}

		res, err := use(f, uid, " "+strings.ToLower(strings.ReplaceAll(codes[0], "-", " "))+" ")
		if err != nil || res.Method != login.MethodRecoveryCode || res.UserID != uid {
			t.Fatalf("first use: %+v, %v", res, err)
		}
		for _, bad := range []string{codes[0], "not a code", "", "2222-2222-2222"} {
			if _, err := use(f, uid, bad); !errors.Is(err, login.ErrInvalid) {
				t.Errorf("code %q: %v, want ErrInvalid", bad, err)
			}
		}
		if _, err := use(f, "someone-else", codes[1]); !errors.Is(err, login.ErrUnavailable) && !errors.Is(err, login.ErrInvalid) {
			t.Errorf("another user's code: %v", err)
		}
		if left, _, _ := f.Stats(ctx, uid); left != recovery.Count-1 {
			t.Fatalf("%d left, want %d", left, recovery.Count-1)
		}
		ev, _ := st.RecentEvents(ctx, uid, 10)
		if !hasEvent(ev, "recovery_code.used", "9 left") || !hasEvent(ev, "recovery_code.failed", "") {
			t.Fatalf("audit = %+v", ev)
		}
		if len(box.sent) != 1 || box.sent[0].To != "pat@example.com" || !strings.Contains(box.sent[0].Text, "9 unused recovery codes") {
			t.Fatalf("notice mails = %+v", box.sent)
		}

		// Without TOTP the codes are not a way in.
		app.on = false
		if _, err := use(f, uid, codes[1]); !errors.Is(err, login.ErrUnavailable) {
			t.Fatalf("code with TOTP off: %v", err)
		}
		app.on = true

		// A new set replaces the old one.
		fresh, err := f.Generate(ctx, uid)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := use(f, uid, codes[1]); !errors.Is(err, login.ErrInvalid) {
			t.Fatalf("old code after regenerating: %v", err)
		}
		for _, c := range fresh {
			if _, err := use(f, uid, c); err != nil {
				t.Fatalf("fresh code %s: %v", c, err)
			}
		}
		if on, _ := f.Enrolled(ctx, uid); on {
			t.Fatal("still enrolled with every code used")
		}
	})
}

func TestRecoveryCodeConcurrentUse(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		f, _, _, _, uid := setup(t, dsn)
		codes, err := f.Generate(context.Background(), uid)
		if err != nil {
			t.Fatal(err)
		}
		const n = 24
		won := 0
		for _, err := range testkit.Race(n, func(int) error { _, err := use(f, uid, codes[3]); return err }) {
			if err != nil && !errors.Is(err, login.ErrInvalid) {
				t.Error(err)
			}
			if err == nil {
				won++
			}
		}
		if won != 1 {
			t.Fatalf("%d of %d concurrent uses of one code succeeded, want 1", won, n)
		}
	})
}

func hasEvent(ev []store.AuditEvent, name, detail string) bool {
	for _, e := range ev {
		if e.Event == name && strings.Contains(e.Detail, detail) {
			return true
		}
	}
	return false
}

package totp_test

import (
	"context"
	"errors"
	"testing"

	"latchkey/login"
	"latchkey/login/totp"
)

// codes issues fixed recovery codes, or fails.
type codes struct{ err error }

func (c codes) Generate(context.Context, string) ([]string, error) {
	return []string{"AAAA-BBBB-CCCC"}, c.err
}

// TestTurnOn: turning 2FA on is one change: a wrong code, or recovery
// codes that cannot be stored, leave the app off and no audit event; the
// right code turns it on with its codes and its totp.enabled event.
func TestTurnOn(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		r := newRig(t, dsn, totp.Params{Skew: 1})
		now := r.clock.Now()
		setup, err := r.f.Begin(ctx, "u1", "u1@example.com", now)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := b32decode(setup.Secret)
		if err != nil {
			t.Fatal(err)
		}
		good := code(t, raw, now)
		for _, tc := range []struct {
			name  string
			code  string
			codes codes
			want  error
		}{
			{"wrong code", "000000", codes{}, login.ErrInvalid},
			{"recovery codes fail", good, codes{err: errors.New("disk full")}, errors.New("")},
			{"right code", good, codes{}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				on := &totp.TurnOn{Factor: r.f, Codes: tc.codes, Tx: r.st, Audit: r.st}
				got, err := on.Confirm(ctx, nil, "u1", "u1@example.com", tc.code, now)
				enrolled, eerr := r.f.Enrolled(ctx, "u1")
				if eerr != nil {
					t.Fatal(eerr)
				}
				events, eerr := r.st.RecentEvents(ctx, "u1", 10)
				if eerr != nil {
					t.Fatal(eerr)
				}
				if tc.want != nil {
					if err == nil || (errors.Is(tc.want, login.ErrInvalid) && !errors.Is(err, login.ErrInvalid)) {
						t.Fatalf("err = %v, want %v", err, tc.want)
					}
					if enrolled || len(events) != 0 {
						t.Fatalf("a failed turn-on left enrolled=%v and %d audit events", enrolled, len(events))
					}
					return
				}
				if err != nil || len(got) != 1 || !enrolled {
					t.Fatalf("turn on: %v codes=%v enrolled=%v", err, got, enrolled)
				}
				if len(events) != 1 || events[0].Event != "totp.enabled" {
					t.Fatalf("audit events %+v, want one totp.enabled", events)
				}
			})
		}
	})
}

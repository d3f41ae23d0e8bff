package totp_test

import (
	"bytes"
	"context"
	"encoding/base32"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"

	"latchkey/internal/testkit"
	"latchkey/login"
	"latchkey/login/totp"
	"latchkey/seal"
	"latchkey/store"
)

var (
	secretA = strings.Repeat("a", 32)
	secretB = strings.Repeat("b", 32)
)

// rig is a factor on a real database whose clock the test sets.
type rig struct {
	f     *totp.Factor
	st    *store.Store
	clock *testkit.Clock
}

func newRig(t *testing.T, dsn string, p totp.Params) *rig {
	t.Helper()
	clock := testkit.NewClock()
	st := testkit.OpenStore(t, dsn, store.Options{Now: clock.Now})
	kr, err := seal.New([]string{secretA}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &rig{st: st, clock: clock, f: &totp.Factor{Store: st, Keys: kr, Issuer: "Latchkey", Params: p,
		Audit: st}}
}

func (r *rig) set(at time.Time) { r.clock.Advance(at.Sub(r.clock.Now())) }

// enroll sets up userID with secret (read through the factor's Rand, as
// Begin reads a new secret) confirmed at the given time, so later codes
// have steps after it.
func (r *rig) enroll(t *testing.T, userID string, secret []byte, at time.Time) {
	t.Helper()
	ctx := context.Background()
	r.set(at)
	f := *r.f
	f.Rand = bytes.NewReader(secret)
	if _, err := f.Begin(ctx, userID, userID+"@example.com", at); err != nil {
		t.Fatalf("begin: %v", err)
	}
	code, err := r.f.Params.Code(secret, r.f.Params.Step(at))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.f.Confirm(ctx, userID, code, at); err != nil {
		t.Fatalf("confirm: %v", err)
	}
}

// verify answers the factor's sign-in step at the given time.
func (r *rig) verify(userID, code string, at time.Time) (login.Result, error) {
	r.set(at)
	return r.f.Verify(context.Background(), login.Attempt{
		Flow: &login.Flow{UserID: userID}, Form: url.Values{"code": {code}}, Now: at,
	})
}

// rfcVectors are RFC 6238 Appendix B's SHA-1 rows (8 digits, 30 s, the
// 20-byte ASCII seed "12345678901234567890").
var rfcVectors = []struct {
	unix int64
	code string
}{
	{59, "94287082"},
	{1111111109, "07081804"},
	{1111111111, "14050471"},
	{1234567890, "89005924"},
	{2000000000, "69279037"},
	{20000000000, "65353130"},
}

var rfcSecret = []byte("12345678901234567890")

// TestVerifyRFC6238 checks each RFC 6238 vector through Verify with the
// clock drifted by whole steps: within ±skew accepted, beyond refused, and
// an accepted step never accepted again.
func TestVerifyRFC6238(t *testing.T) {
	for _, be := range testkit.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			dsn := be.DSN(t)
			for _, skew := range []int{1, 2} {
				r := newRig(t, dsn, totp.Params{Digits: otp.DigitsEight, Skew: skew})
				for _, v := range rfcVectors {
					for drift := -skew - 1; drift <= skew+1; drift++ {
						name := fmt.Sprintf("skew %d, T=%d, clock %+d steps", skew, v.unix, drift)
						t.Run(name, func(t *testing.T) {
							user := fmt.Sprintf("u-%d-%d-%d", skew, v.unix, drift)
							r.enroll(t, user, rfcSecret, time.Unix(0, 0))
							at := time.Unix(v.unix+int64(drift)*30, 0)
							res, err := r.verify(user, v.code, at)
							want := drift >= -skew && drift <= skew
							if want && (err != nil || res.Method != login.MethodTOTP || res.UserID != user || !res.At.Equal(at)) {
								t.Fatalf("refused within the window: %+v, %v", res, err)
							}
							if !want && !errors.Is(err, login.ErrInvalid) {
								t.Fatalf("outside the window: %+v, %v; want ErrInvalid", res, err)
							}
						})
					}
				}
			}
		})
	}
}

// TestVerifyRefusesUsedSteps: a code works once, and once a step is used,
// codes of older steps (still inside the window) are refused too.
func TestVerifyRefusesUsedSteps(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		r := newRig(t, dsn, totp.Params{Digits: otp.DigitsEight, Skew: 1})
		for _, v := range rfcVectors {
			user := fmt.Sprint("u-", v.unix)
			r.enroll(t, user, rfcSecret, time.Unix(0, 0))
			at := time.Unix(v.unix, 0)
			if _, err := r.verify(user, v.code, at); err != nil {
				t.Fatalf("T=%d first use: %v", v.unix, err)
			}
			if _, err := r.verify(user, v.code, at.Add(time.Second)); !errors.Is(err, login.ErrInvalid) {
				t.Fatalf("T=%d replay accepted: %v", v.unix, err)
			}
			p := r.f.Params
			older, _ := p.Code(rfcSecret, p.Step(at)-1)
			if _, err := r.verify(user, older, at); !errors.Is(err, login.ErrInvalid) {
				t.Fatalf("T=%d older step accepted after a newer one: %v", v.unix, err)
			}
			newer, _ := p.Code(rfcSecret, p.Step(at)+1)
			if _, err := r.verify(user, newer, at.Add(30*time.Second)); err != nil {
				t.Fatalf("T=%d next step refused: %v", v.unix, err)
			}
		}
	})
}

// TestVerifyConcurrentReplay: the same valid code submitted by many
// goroutines at once (as if to several replicas) is accepted exactly once.
func TestVerifyConcurrentReplay(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		r := newRig(t, dsn, totp.Params{Skew: 1})
		start := time.Unix(1_700_000_000, 0)
		r.enroll(t, "racer", rfcSecret, start)
		at := start.Add(2 * time.Minute)
		r.set(at)
		code, _ := r.f.Params.Code(rfcSecret, r.f.Params.Step(at))

		const n = 40
		accepted, refused := 0, 0
		var unexpected []error
		for _, err := range testkit.Race(n, func(int) error {
			_, err := r.f.Verify(context.Background(), login.Attempt{
				Flow: &login.Flow{UserID: "racer"}, Form: url.Values{"code": {code}}, Now: at,
			})
			return err
		}) {
			switch {
			case err == nil:
				accepted++
			case errors.Is(err, login.ErrInvalid):
				refused++
			default:
				unexpected = append(unexpected, err)
			}
		}
		if len(unexpected) > 0 {
			t.Fatalf("unexpected errors: %v", unexpected)
		}
		if accepted != 1 || refused != n-1 {
			t.Fatalf("accepted %d, refused %d; want exactly 1 of %d accepted", accepted, refused, n)
		}
	})
}

// TestWrongCodes: a wrong code is login.ErrInvalid, and the factor keeps
// no counter of its own: the guess limit is the login's lockout (one
// counter per account for every guessable factor, see login/lockout), so
// after many wrong codes the right one still works here.
func TestWrongCodes(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		r := newRig(t, dsn, totp.Params{Skew: 1})
		p := r.f.Params
		start := time.Unix(1_700_000_000, 0)
		right := func(at time.Time) string {
			c, _ := p.Code(rfcSecret, p.Step(at))
			return c
		}
		wrong := func(at time.Time) string {
			c := []byte(right(at))
			c[0] = '0' + (c[0]-'0'+5)%10
			return string(c)
		}
		r.enroll(t, "u", rfcSecret, start)
		at := start.Add(time.Minute)
		for i := range 20 {
			if _, err := r.verify("u", wrong(at), at); !errors.Is(err, login.ErrInvalid) {
				t.Fatalf("wrong code %d: %v, want ErrInvalid", i+1, err)
			}
			at = at.Add(10 * time.Second)
		}
		at = at.Add(time.Minute)
		if _, err := r.verify("u", right(at), at); err != nil {
			t.Fatalf("right code after wrong ones: %v", err)
		}
	})
}

// TestEnrollment: the secret is pending until confirmed, sealed at rest,
// bound to its user, readable after key rotation, and the confirming code
// cannot sign in again.
func TestEnrollment(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		r := newRig(t, dsn, totp.Params{Skew: 1})
		now := r.clock.Now()
		setup, err := r.f.Begin(ctx, "u1", "u1@example.com", now)
		if err != nil {
			t.Fatal(err)
		}
		key, err := otp.NewKeyFromURL(setup.URI)
		if err != nil || key.Issuer() != "Latchkey" || key.AccountName() != "u1@example.com" || key.Secret() != setup.Secret ||
			key.Digits() != otp.DigitsSix || key.Period() != 30 || key.Algorithm() != otp.AlgorithmSHA1 {
			t.Fatalf("otpauth URI %q: %v", setup.URI, err)
		}
		raw, err := b32decode(setup.Secret)
		if err != nil || len(raw) != totp.SecretSize {
			t.Fatalf("secret %q is not %d bytes of base32: %v", setup.Secret, totp.SecretSize, err)
		}
		if !bytes.HasPrefix(setup.QRPNG, []byte("\x89PNG")) {
			t.Fatal("QR code is not a PNG")
		}
		again, err := r.f.Begin(ctx, "u1", "u1@example.com", now.Add(time.Minute))
		if err != nil || again.Secret != setup.Secret {
			t.Fatalf("a second visit changed the pending secret: %v", err)
		}
		if on, err := r.f.Enrolled(ctx, "u1"); on || err != nil {
			t.Fatalf("pending secret counts as enrolled: %v %v", on, err)
		}
		if _, err := r.verify("u1", code(t, raw, now), now); !errors.Is(err, login.ErrUnavailable) {
			t.Fatalf("pending secret signs in: %v", err)
		}

		row, err := r.st.TOTPCredential(ctx, "u1")
		if err != nil || bytes.Contains(row.Secret, raw) || bytes.Contains(row.Secret, []byte(setup.Secret)) {
			t.Fatalf("secret not sealed at rest: %v", err)
		}

		if err := r.f.Confirm(ctx, "u1", "000000", now); !errors.Is(err, login.ErrInvalid) {
			t.Fatalf("wrong confirmation code: %v", err)
		}
		if err := r.f.Confirm(ctx, "u1", code(t, raw, now), now); err != nil {
			t.Fatalf("confirm: %v", err)
		}
		if on, err := r.f.Enrolled(ctx, "u1"); !on || err != nil {
			t.Fatalf("confirmed secret not enrolled: %v %v", on, err)
		}
		if _, err := r.f.Begin(ctx, "u1", "u1@example.com", now); !errors.Is(err, totp.ErrAlreadyOn) {
			t.Fatalf("Begin with an app on: %v", err)
		}
		if _, err := r.verify("u1", code(t, raw, now), now); !errors.Is(err, login.ErrInvalid) {
			t.Fatalf("the confirming code signed in: %v", err)
		}

		// After rotation (a new first key), the old secret still opens.
		rotated, _ := seal.New([]string{secretB, secretA}, nil)
		rf := *r.f
		rf.Keys = rotated
		later := now.Add(time.Minute)
		r.set(later)
		if _, err := rf.Verify(ctx, login.Attempt{Flow: &login.Flow{UserID: "u1"}, Form: url.Values{"code": {code(t, raw, later)}}, Now: later}); err != nil {
			t.Fatalf("verify after key rotation: %v", err)
		}

		// A sealed secret moved to another user's row does not open.
		if err := r.st.PutPendingTOTP(ctx, "u2", row.Secret); err != nil {
			t.Fatal(err)
		}
		if err := r.f.Confirm(ctx, "u2", code(t, raw, later), later); err == nil || errors.Is(err, login.ErrInvalid) {
			t.Fatalf("a secret sealed for u1 opened for u2: %v", err)
		}

		// An old pending secret is replaced.
		if _, err := r.f.Begin(ctx, "u3", "u3@example.com", now); err != nil {
			t.Fatal(err)
		}
		first, _ := r.st.TOTPCredential(ctx, "u3")
		r.set(now.Add(totp.PendingTTL + time.Minute))
		if err := r.f.Confirm(ctx, "u3", "123456", now.Add(totp.PendingTTL+time.Minute)); !errors.Is(err, totp.ErrNoPending) {
			t.Fatalf("confirming an expired set-up: %v", err)
		}
		if _, err := r.f.Begin(ctx, "u3", "u3@example.com", now.Add(totp.PendingTTL+time.Minute)); err != nil {
			t.Fatal(err)
		}
		second, _ := r.st.TOTPCredential(ctx, "u3")
		if bytes.Equal(first.Secret, second.Secret) {
			t.Fatal("an expired pending secret was shown again")
		}

		if gone, err := r.f.Disable(ctx, "u1"); !gone || err != nil {
			t.Fatalf("disable: %v %v", gone, err)
		}
		if on, _ := r.f.Enrolled(ctx, "u1"); on {
			t.Fatal("still enrolled after Disable")
		}
	})
}

func code(t *testing.T, secret []byte, at time.Time) string {
	t.Helper()
	p := totp.Params{}
	c, err := p.Code(secret, p.Step(at))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func b32decode(s string) ([]byte, error) {
	return base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
}

func eachBackend(t *testing.T, fn func(t *testing.T, dsn string)) {
	for _, be := range testkit.Backends() {
		t.Run(be.Name, func(t *testing.T) { fn(t, be.DSN(t)) })
	}
}

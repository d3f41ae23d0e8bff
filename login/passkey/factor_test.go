package passkey_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"latchkey/internal/testkit"
	"latchkey/login"
	"latchkey/login/passkey"
	"latchkey/login/passkey/passkeytest"
	"latchkey/store"
)

const (
	rpID   = "localhost"
	origin = "http://localhost:8080"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// env is a factor on a fresh SQLite store with one user.
type env struct {
	t      testing.TB
	ctx    context.Context
	st     *store.Store
	f      *passkey.Factor
	user   *store.User
	flowID int
}

func newEnv(t testing.TB) *env {
	t.Helper()
	st := testkit.OpenStore(t, testkit.SQLiteDSN(t), store.Options{})
	f, err := passkey.New(passkey.Config{RPID: rpID, RPName: "Latchkey", Origins: []string{origin}}, st, nil, func() time.Time { return t0 }, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: context.Background(), st: st, f: f}
	e.user = e.addUser("alice@example.com")
	return e
}

func (e *env) addUser(email string) *store.User {
	e.t.Helper()
	u := &store.User{ID: "user-" + strings.Split(email, "@")[0], Email: email}
	if err := e.st.CreateUser(e.ctx, u); err != nil {
		e.t.Fatal(err)
	}
	return u
}

// register runs the registration ceremony for u with a.
func (e *env) register(u *store.User, a *passkeytest.Authenticator, name string) (*store.Passkey, error) {
	e.t.Helper()
	fl := &login.Flow{ID: "reg", UserID: u.ID}
	opts, err := e.f.BeginRegistration(e.ctx, u, fl)
	if err != nil {
		e.t.Fatalf("begin registration: %v", err)
	}
	cred, err := a.Create(origin, opts)
	if err != nil {
		e.t.Fatalf("authenticator: %v", err)
	}
	return e.f.FinishRegistration(e.ctx, u, fl, name, cred)
}

func (e *env) mustRegister(u *store.User, a *passkeytest.Authenticator) *store.Passkey {
	e.t.Helper()
	p, err := e.register(u, a, "")
	if err != nil {
		e.t.Fatalf("register: %v", err)
	}
	return p
}

// flow is a fresh sign-in flow; with a user it is at the second-factor
// step after a password.
func (e *env) flow(userID string, required login.Level) *login.Flow {
	e.flowID++
	fl := &login.Flow{ID: "flow-" + string(rune('a'+e.flowID)), Required: required}
	if userID != "" {
		fl.UserID = userID
		fl.Results = []login.Result{{Method: login.MethodPassword, UserID: userID, At: t0}}
	}
	return fl
}

// challenge asks the factor for options, as the options endpoint does.
func (e *env) challenge(fl *login.Flow) any {
	e.t.Helper()
	view, _, err := e.f.Challenge(e.ctx, fl, nil)
	if err != nil {
		e.t.Fatalf("challenge: %v", err)
	}
	return view
}

func (e *env) verify(fl *login.Flow, assertion []byte) (login.Result, error) {
	return e.f.Verify(e.ctx, login.Attempt{Flow: fl, Form: url.Values{passkey.CredentialField: {string(assertion)}}, Now: t0})
}

// login is one whole sign-in: options, assertion, verify, settle.
func (e *env) login(fl *login.Flow, a *passkeytest.Authenticator) (login.Result, []byte, error) {
	e.t.Helper()
	assertion, err := a.Get(origin, e.challenge(fl))
	if err != nil {
		e.t.Fatalf("authenticator: %v", err)
	}
	res, err := e.verify(fl, assertion)
	if err == nil {
		e.f.Settle(fl)
	}
	return res, assertion, err
}

func (e *env) events(userID string) []string {
	e.t.Helper()
	evs, err := e.st.RecentEvents(e.ctx, userID, 50)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Event)
	}
	return out
}

func TestRegistration(t *testing.T) {
	for _, tc := range []struct {
		name    string
		tamper  func(a *passkeytest.Authenticator, opts any) (origin string, options any)
		wantErr bool
	}{
		{name: "happy path"},
		{name: "wrong origin", wantErr: true, tamper: func(_ *passkeytest.Authenticator, opts any) (string, any) {
			return "https://evil.example", opts
		}},
		{name: "wrong RP ID", wantErr: true, tamper: func(a *passkeytest.Authenticator, opts any) (string, any) {
			a.RPID = "evil.example"
			return origin, opts
		}},
		{name: "challenge of another ceremony", wantErr: true, tamper: func(_ *passkeytest.Authenticator, opts any) (string, any) {
			b, _ := json.Marshal(opts)
			var m map[string]any
			_ = json.Unmarshal(b, &m)
			m["challenge"] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
			return origin, m
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			a := passkeytest.New()
			fl := &login.Flow{ID: "reg", UserID: e.user.ID}
			opts, err := e.f.BeginRegistration(e.ctx, e.user, fl)
			if err != nil {
				t.Fatal(err)
			}
			o := origin
			if tc.tamper != nil {
				o, opts = tc.tamper(a, opts)
			}
			cred, err := a.Create(o, opts)
			if err != nil {
				t.Fatal(err)
			}
			p, err := e.f.FinishRegistration(e.ctx, e.user, fl, "My laptop", cred)
			if tc.wantErr {
				if !errors.Is(err, login.ErrInvalid) {
					t.Fatalf("FinishRegistration = %v, want ErrInvalid", err)
				}
				if n, _ := e.st.CountPasskeys(e.ctx, e.user.ID); n != 0 {
					t.Fatalf("a refused passkey was stored")
				}
				return
			}
			if err != nil {
				t.Fatalf("FinishRegistration: %v", err)
			}
			if p.Name != "My laptop" || p.SignCount != 0 || p.BackupEligible || !p.UserVerified ||
				p.Transports != "internal" || len(p.AAGUID) != 16 || p.AttestationFormat != "none" || len(p.PublicKey) == 0 {
				t.Fatalf("stored passkey = %+v", p)
			}
			on, err := e.f.Enrolled(e.ctx, e.user.ID)
			if err != nil || !on {
				t.Fatalf("Enrolled = %v, %v after registration", on, err)
			}
		})
	}
}

func TestRegistrationOptions(t *testing.T) {
	e := newEnv(t)
	a := passkeytest.New()
	first := e.mustRegister(e.user, a)
	fl := &login.Flow{UserID: e.user.ID}
	opts, err := e.f.BeginRegistration(e.ctx, e.user, fl)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(opts)
	var o struct {
		User struct {
			ID, Name string
		}
		Attestation            string
		AuthenticatorSelection struct {
			ResidentKey, UserVerification string
		}
		ExcludeCredentials []struct{ ID string }
	}
	if err := json.Unmarshal(b, &o); err != nil {
		t.Fatal(err)
	}
	if o.Attestation != "none" || o.AuthenticatorSelection.ResidentKey != "preferred" || o.AuthenticatorSelection.UserVerification != "preferred" {
		t.Errorf("options = %s, want attestation none, resident key and UV preferred", b)
	}
	if len(o.ExcludeCredentials) != 1 || o.ExcludeCredentials[0].ID != first.CredentialID {
		t.Errorf("excludeCredentials = %+v, want the registered passkey", o.ExcludeCredentials)
	}
	if o.User.ID == "" || strings.Contains(o.User.ID, "alice") || len(o.User.ID) < 80 {
		t.Errorf("user.id = %q, want a random 64-byte handle", o.User.ID)
	}
	if _, err := a.Create(origin, opts); err == nil {
		t.Errorf("the same authenticator registered twice")
	}
	// A second authenticator is welcome, and gets a default name.
	p, err := e.register(e.user, passkeytest.New(), "")
	if err != nil || p.Name != "Passkey 2" {
		t.Fatalf("second passkey: %v %+v", err, p)
	}
}

func TestSignIn(t *testing.T) {
	type step struct {
		e    *env
		a    *passkeytest.Authenticator
		pk   *store.Passkey
		user *store.User
	}
	for _, tc := range []struct {
		name string
		// prepare changes the authenticator before registration.
		prepare func(a *passkeytest.Authenticator)
		// run signs in (maybe with a fault) and returns the outcome.
		run     func(s *step) (login.Result, error)
		wantErr bool
		// check looks at the result or the aftermath.
		check func(t *testing.T, s *step, res login.Result)
	}{
		{
			name: "usernameless, device-bound, verified",
			run: func(s *step) (login.Result, error) {
				res, _, err := s.e.login(s.e.flow("", login.Level1FA), s.a)
				return res, err
			},
			check: func(t *testing.T, s *step, res login.Result) {
				if res.UserID != s.user.ID || !res.UserVerified || !res.DeviceBound || res.Method != login.MethodPasskey {
					t.Fatalf("result = %+v", res)
				}
				if amr := login.AMR([]login.Result{res}); !slices.Equal(amr, []string{"hwk", "user", "pin", "mfa"}) {
					t.Fatalf("amr = %v", amr)
				}
				if acr := login.ACR([]login.Result{res}); acr != login.LevelPHRH {
					t.Fatalf("acr = %v", acr)
				}
				rows, _ := s.e.st.ListPasskeys(s.e.ctx, s.user.ID)
				if rows[0].SignCount != 1 || rows[0].LastUsedAt == nil {
					t.Fatalf("use not recorded: %+v", rows[0])
				}
			},
		},
		{
			name: "usernameless, synced, not verified",
			prepare: func(a *passkeytest.Authenticator) {
				a.BackupEligible, a.BackupState, a.UserVerified = true, true, false
			},
			run: func(s *step) (login.Result, error) {
				res, _, err := s.e.login(s.e.flow("", login.Level1FA), s.a)
				return res, err
			},
			check: func(t *testing.T, s *step, res login.Result) {
				if res.UserVerified || res.DeviceBound {
					t.Fatalf("result = %+v", res)
				}
				if amr := login.AMR([]login.Result{res}); !slices.Equal(amr, []string{"swk", "user"}) {
					t.Fatalf("amr = %v", amr)
				}
			},
		},
		{
			name: "second factor after a password",
			run: func(s *step) (login.Result, error) {
				fl := s.e.flow(s.user.ID, login.Level1FA)
				view := s.e.challenge(fl)
				b, _ := json.Marshal(view)
				if !strings.Contains(string(b), s.pk.CredentialID) {
					return login.Result{}, errors.New("allowCredentials lacks the user's passkey: " + string(b))
				}
				assertion, err := s.a.Get(origin, view)
				if err != nil {
					return login.Result{}, err
				}
				return s.e.verify(fl, assertion)
			},
			check: func(t *testing.T, s *step, res login.Result) {
				if res.UserID != s.user.ID {
					t.Fatalf("result = %+v", res)
				}
			},
		},
		{
			name: "wrong origin",
			run: func(s *step) (login.Result, error) {
				fl := s.e.flow("", login.Level1FA)
				assertion, err := s.a.Get("https://login.evil.example", s.e.challenge(fl))
				if err != nil {
					return login.Result{}, err
				}
				return s.e.verify(fl, assertion)
			},
			wantErr: true,
		},
		{
			name: "wrong RP ID",
			run: func(s *step) (login.Result, error) {
				s.a.RPID = "evil.example"
				res, _, err := s.e.login(s.e.flow("", login.Level1FA), s.a)
				return res, err
			},
			wantErr: true,
		},
		{
			name: "challenge from another flow",
			run: func(s *step) (login.Result, error) {
				mine, other := s.e.flow("", login.Level1FA), s.e.flow("", login.Level1FA)
				s.e.challenge(mine)
				assertion, err := s.a.Get(origin, s.e.challenge(other))
				if err != nil {
					return login.Result{}, err
				}
				return s.e.verify(mine, assertion)
			},
			wantErr: true,
		},
		{
			name: "replayed assertion in the same flow",
			run: func(s *step) (login.Result, error) {
				fl := s.e.flow("", login.Level1FA)
				_, assertion, err := s.e.login(fl, s.a)
				if err != nil {
					return login.Result{}, err
				}
				return s.e.verify(fl, assertion)
			},
			wantErr: true,
		},
		{
			// Two replicas, or two racing requests, both holding the flow
			// before either settled it: the store accepts the assertion once,
			// even from an authenticator whose counter stays at 0.
			name:    "replayed assertion against a copy of the flow",
			prepare: func(a *passkeytest.Authenticator) { a.ZeroCounter = true },
			run: func(s *step) (login.Result, error) {
				fl := s.e.flow("", login.Level1FA)
				assertion, err := s.a.Get(origin, s.e.challenge(fl))
				if err != nil {
					return login.Result{}, err
				}
				stale := *fl
				stale.State = maps.Clone(fl.State)
				if _, err := s.e.verify(fl, assertion); err != nil {
					return login.Result{}, errors.New("first use refused: " + err.Error())
				}
				return s.e.verify(&stale, assertion)
			},
			wantErr: true,
		},
		{
			name: "sign-count regression",
			run: func(s *step) (login.Result, error) {
				if _, _, err := s.e.login(s.e.flow("", login.Level1FA), s.a); err != nil {
					return login.Result{}, errors.New("first sign-in refused: " + err.Error())
				}
				s.a.Creds[0].SignCount = 0 // a clone made before that sign-in
				res, _, err := s.e.login(s.e.flow("", login.Level1FA), s.a)
				return res, err
			},
			wantErr: true,
			check: func(t *testing.T, s *step, _ login.Result) {
				if !slices.Contains(s.e.events(s.user.ID), "passkey.clone_detected") {
					t.Fatalf("no passkey.clone_detected audit event: %v", s.e.events(s.user.ID))
				}
			},
		},
		{
			name:    "authenticator that always reports 0",
			prepare: func(a *passkeytest.Authenticator) { a.ZeroCounter = true },
			run: func(s *step) (login.Result, error) {
				if _, _, err := s.e.login(s.e.flow("", login.Level1FA), s.a); err != nil {
					return login.Result{}, err
				}
				res, _, err := s.e.login(s.e.flow("", login.Level1FA), s.a)
				return res, err
			},
			check: func(t *testing.T, s *step, _ login.Result) {
				if slices.Contains(s.e.events(s.user.ID), "passkey.clone_detected") {
					t.Fatalf("a zero counter was taken for a clone")
				}
			},
		},
		{
			name:    "UV required but absent",
			prepare: func(a *passkeytest.Authenticator) { a.UserVerified = false },
			run: func(s *step) (login.Result, error) {
				// Only a verified passkey can reach phr on its own.
				fl := s.e.flow("", login.LevelPHR)
				view := s.e.challenge(fl)
				if b, _ := json.Marshal(view); !strings.Contains(string(b), `"userVerification":"required"`) {
					return login.Result{}, errors.New("options do not require UV: " + string(b))
				}
				assertion, err := s.a.Get(origin, view)
				if err != nil {
					return login.Result{}, err
				}
				res, err := s.e.verify(fl, assertion)
				if errors.Is(err, login.ErrInvalid) {
					// and the same passkey verified is fine
					s.a.UserVerified = true
					if _, _, err2 := s.e.login(s.e.flow("", login.LevelPHR), s.a); err2 != nil {
						return login.Result{}, errors.New("verified passkey refused: " + err2.Error())
					}
				}
				return res, err
			},
			wantErr: true,
		},
		{
			name: "another user's passkey at the second-factor step",
			run: func(s *step) (login.Result, error) {
				bob := s.e.addUser("bob@example.com")
				bobs := passkeytest.New()
				s.e.mustRegister(bob, bobs)
				fl := s.e.flow(s.user.ID, login.Level1FA)
				s.e.challenge(fl)
				var state struct {
					Challenge string `json:"challenge"`
				}
				if _, err := fl.GetState(login.MethodPasskey, &state); err != nil {
					return login.Result{}, err
				}
				ch, _ := base64.RawURLEncoding.DecodeString(state.Challenge)
				assertion, err := bobs.Sign(bobs.Creds[0], origin, rpID, ch)
				if err != nil {
					return login.Result{}, err
				}
				return s.e.verify(fl, assertion)
			},
			wantErr: true,
		},
		{
			name: "disabled user",
			run: func(s *step) (login.Result, error) {
				if err := s.e.st.SetUserDisabled(s.e.ctx, s.user.ID, true); err != nil {
					return login.Result{}, err
				}
				res, _, err := s.e.login(s.e.flow("", login.Level1FA), s.a)
				return res, err
			},
			wantErr: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			a := passkeytest.New()
			if tc.prepare != nil {
				tc.prepare(a)
			}
			s := &step{e: e, a: a, user: e.user, pk: e.mustRegister(e.user, a)}
			res, err := tc.run(s)
			if tc.wantErr && !errors.Is(err, login.ErrInvalid) {
				t.Fatalf("got %+v, %v; want login.ErrInvalid", res, err)
			}
			if !tc.wantErr && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if tc.check != nil {
				tc.check(t, s, res)
			}
		})
	}
}

// TestChallengeSettled: Settle drops the challenge, and a user without
// passkeys gets no options at the second-factor step.
func TestChallengeSettled(t *testing.T) {
	e := newEnv(t)
	fl := e.flow(e.user.ID, login.Level1FA)
	if _, _, err := e.f.Challenge(e.ctx, fl, nil); !errors.Is(err, login.ErrUnavailable) {
		t.Fatalf("Challenge for a user without passkeys = %v, want ErrUnavailable", err)
	}
	e.mustRegister(e.user, passkeytest.New())
	e.challenge(fl)
	if _, ok := fl.State[login.MethodPasskey]; !ok {
		t.Fatalf("Challenge kept no state in the flow")
	}
	e.f.Settle(fl)
	if _, ok := fl.State[login.MethodPasskey]; ok {
		t.Fatalf("Settle left the challenge in the flow")
	}
	if !e.f.WantsChallenge(url.Values{}) || e.f.WantsChallenge(url.Values{passkey.CredentialField: {"{}"}}) {
		t.Fatalf("WantsChallenge must be true exactly when no credential was posted")
	}
}

// TestNew: browsers offer passkeys to domain names only, so an IP-address
// RP ID turns the factor off instead of failing later in every ceremony.
func TestNew(t *testing.T) {
	for _, tc := range []struct {
		rpID string
		want error
	}{
		{"localhost", nil},
		{"login.example.com", nil},
		{"127.0.0.1", passkey.ErrNoDomain},
		{"::1", passkey.ErrNoDomain},
		{"[::1]", passkey.ErrNoDomain},
	} {
		_, err := passkey.New(passkey.Config{RPID: tc.rpID, RPName: "Latchkey", Origins: []string{"http://" + tc.rpID}}, nil, nil, nil, nil)
		if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Errorf("New(RP ID %q) = %v, want %v", tc.rpID, err, tc.want)
		}
	}
}

// BenchmarkAssertionVerify is a passkey sign-in's server side: the
// assertion checked against the stored credential (its signature, counter
// and flags) and the counter stored.
func BenchmarkAssertionVerify(b *testing.B) {
	e := newEnv(b)
	a := passkeytest.New()
	e.mustRegister(e.user, a)
	for b.Loop() {
		b.StopTimer()
		fl := e.flow(e.user.ID, 0)
		assertion, err := a.Get(origin, e.challenge(fl))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := e.verify(fl, assertion); err != nil {
			b.Fatal(err)
		}
	}
}

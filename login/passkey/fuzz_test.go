package passkey_test

import (
	"testing"

	"latchkey/login"
	"latchkey/login/passkey/passkeytest"
)

// FuzzAssertion: whatever a browser posts as the WebAuthn assertion, the
// factor refuses it with a login error (never a panic, never a sign-in)
// unless it is a real assertion for the challenge.
func FuzzAssertion(f *testing.F) {
	e := newEnv(f)
	a := passkeytest.New()
	e.mustRegister(e.user, a)
	fl := e.flow("", login.Level1FA)
	good, err := a.Get(origin, e.challenge(fl))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"id":"x","rawId":"x","type":"public-key","response":{"clientDataJSON":"","authenticatorData":"","signature":""}}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, assertion []byte) {
		res, err := e.verify(fl, assertion)
		if err == nil {
			if string(assertion) == string(good) {
				return
			}
			t.Fatalf("a mutated assertion signed in: %+v", res)
		}
	})
}

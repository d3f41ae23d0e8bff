package password_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"latchkey/internal/testkit"
	"latchkey/login"
	"latchkey/login/password"
	"latchkey/store"
)

// cheap keeps argon2id fast in tests; only TestOWASPParams pays for the real
// parameters.
var cheap = password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

const cheapPrefix = "$argon2id$v=19$m=64,t=1,p=1$"

func mustHash(t *testing.T, h *password.Hasher, pw string) string {
	t.Helper()
	enc, err := h.Hash(pw)
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	return enc
}

func TestHashCheckRoundTrip(t *testing.T) {
	h := &password.Hasher{Params: cheap}
	for _, tc := range []struct {
		name, pw string
		wrong    []string
	}{
		{"ascii", "correct horse battery staple", []string{"correct horse battery stapl", "Correct horse battery staple", "correct horse battery staple "}},
		{"unicode", "pässwörd ✓ 密码", []string{"passwörd ✓ 密码", "pässwörd ✓"}},
		{"empty", "", []string{" ", "\x00"}},
		{"max length", strings.Repeat("x", password.MaxLength), []string{strings.Repeat("x", password.MaxLength-1)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			enc := mustHash(t, h, tc.pw)
			if !strings.HasPrefix(enc, cheapPrefix) {
				t.Errorf("hash %q lacks prefix %q", enc, cheapPrefix)
			}
			ok, rehash, err := h.Check(tc.pw, enc)
			if err != nil || !ok || rehash {
				t.Errorf("Check(right password) = %v, %v, %v; want true, false, nil", ok, rehash, err)
			}
			for _, w := range tc.wrong {
				ok, _, err := h.Check(w, enc)
				if err != nil || ok {
					t.Errorf("Check(%q) = %v, %v; want false, nil", w, ok, err)
				}
			}
		})
	}
}

func TestHashIsSalted(t *testing.T) {
	h := &password.Hasher{Params: cheap}
	a, b := mustHash(t, h, "same password"), mustHash(t, h, "same password")
	if a == b {
		t.Fatal("two hashes of one password are equal: no random salt")
	}
	for _, enc := range []string{a, b} {
		if ok, _, err := h.Check("same password", enc); err != nil || !ok {
			t.Errorf("Check(%q) = %v, %v", enc, ok, err)
		}
	}
	// With the salt fixed the hash is the same, so the difference above came
	// from the salt and nothing else.
	fixed := func() io.Reader { return bytes.NewReader(bytes.Repeat([]byte{7}, 16)) }
	c := mustHash(t, &password.Hasher{Params: cheap, Rand: fixed()}, "same password")
	d := mustHash(t, &password.Hasher{Params: cheap, Rand: fixed()}, "same password")
	if c != d {
		t.Errorf("hashes with the same salt differ: %q, %q", c, d)
	}
	if salt := strings.Split(c, "$")[4]; salt != base64.RawStdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 16)) {
		t.Errorf("salt field %q is not the salt read from Rand", salt)
	}
}

func TestOWASPParams(t *testing.T) {
	h := &password.Hasher{Params: password.OWASP}
	enc := mustHash(t, h, "hunter2 but longer")
	const prefix = "$argon2id$v=19$m=19456,t=2,p=1$"
	if !strings.HasPrefix(enc, prefix) {
		t.Fatalf("OWASP hash %q lacks prefix %q", enc, prefix)
	}
	parts := strings.Split(enc, "$")
	if len(parts) != 6 {
		t.Fatalf("hash has %d $-separated parts, want 6", len(parts))
	}
	for i, want := range map[int]int{4: 16, 5: 32} {
		b, err := base64.RawStdEncoding.DecodeString(parts[i])
		if err != nil || len(b) != want {
			t.Errorf("part %d decodes to %d bytes (%v), want %d", i, len(b), err, want)
		}
	}
	if ok, rehash, err := h.Check("hunter2 but longer", enc); err != nil || !ok || rehash {
		t.Errorf("Check = %v, %v, %v; want true, false, nil", ok, rehash, err)
	}
}

func TestRehash(t *testing.T) {
	enc := mustHash(t, &password.Hasher{Params: cheap}, "pw")
	for _, tc := range []struct {
		name   string
		change func(p *password.Params)
		want   bool
	}{
		{"same params", func(*password.Params) {}, false},
		{"memory", func(p *password.Params) { p.Memory = 128 }, true},
		{"time", func(p *password.Params) { p.Time = 2 }, true},
		{"threads", func(p *password.Params) { p.Threads = 2 }, true},
		{"key length", func(p *password.Params) { p.KeyLen = 64 }, true},
		{"salt length", func(p *password.Params) { p.SaltLen = 32 }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := cheap
			tc.change(&p)
			ok, rehash, err := (&password.Hasher{Params: p}).Check("pw", enc)
			if err != nil || !ok {
				t.Fatalf("Check = %v, %v; a hash verifies with its own params whatever the hasher's", ok, err)
			}
			if rehash != tc.want {
				t.Errorf("rehash = %v, want %v", rehash, tc.want)
			}
		})
	}
}

func TestMalformedHashes(t *testing.T) {
	h := &password.Hasher{Params: cheap}
	valid := mustHash(t, h, "pw")
	parts := strings.Split(valid, "$")
	salt, key := parts[4], parts[5]
	short := base64.RawStdEncoding.EncodeToString([]byte("1234"))
	join := func(p ...string) string { return strings.Join(p, "$") }
	for _, tc := range []struct{ name, enc string }{
		{"empty", ""},
		{"argon2i prefix", join("", "argon2i", "v=19", "m=64,t=1,p=1", salt, key)},
		{"bcrypt", "$2b$10$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui"},
		{"plain text", "pw"},
		{"missing key", join("", "argon2id", "v=19", "m=64,t=1,p=1", salt)},
		{"extra field", valid + "$x"},
		{"old version", join("", "argon2id", "v=16", "m=64,t=1,p=1", salt, key)},
		{"no version", join("", "argon2id", "m=64,t=1,p=1", salt, key, "")},
		{"zero memory", join("", "argon2id", "v=19", "m=0,t=1,p=1", salt, key)},
		{"zero time", join("", "argon2id", "v=19", "m=64,t=0,p=1", salt, key)},
		{"zero threads", join("", "argon2id", "v=19", "m=64,t=1,p=0", salt, key)},
		{"absurd memory", join("", "argon2id", "v=19", "m=4194304,t=1,p=1", salt, key)},
		{"absurd time", join("", "argon2id", "v=19", "m=64,t=100000,p=1", salt, key)},
		{"params not numbers", join("", "argon2id", "v=19", "m=x,t=1,p=1", salt, key)},
		{"bad base64 salt", join("", "argon2id", "v=19", "m=64,t=1,p=1", "!!!!****", key)},
		{"bad base64 key", join("", "argon2id", "v=19", "m=64,t=1,p=1", salt, "%%%%"+key)},
		{"padded base64 salt", join("", "argon2id", "v=19", "m=64,t=1,p=1", salt+"==", key)},
		{"short salt", join("", "argon2id", "v=19", "m=64,t=1,p=1", short, key)},
		{"short key", join("", "argon2id", "v=19", "m=64,t=1,p=1", salt, short)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, _, err := h.Check("pw", tc.enc)
			if err == nil || ok {
				t.Errorf("Check(%q) = %v, %v; want an error", tc.enc, ok, err)
			}
		})
	}
	// The mutations above start from a hash that does verify.
	if ok, _, err := h.Check("pw", valid); err != nil || !ok {
		t.Fatalf("Check(valid) = %v, %v", ok, err)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("entropy exhausted") }

func TestHashRandFailure(t *testing.T) {
	h := &password.Hasher{Params: cheap, Rand: failingReader{}}
	if enc, err := h.Hash("pw"); err == nil {
		t.Errorf("Hash with a failing Rand = %q, nil; want an error", enc)
	}
	if _, err := password.New(nil, h, slog.New(slog.DiscardHandler)); err == nil {
		t.Error("New with a failing Rand succeeded")
	}
}

// ---------------------------------------------------------------- factor

// recordingUsers is the real store, recording (and optionally failing)
// SetPasswordHash calls.
type recordingUsers struct {
	*store.Store
	rehashed []string
	fail     error
}

func (r *recordingUsers) SetPasswordHash(ctx context.Context, id, hash string) error {
	r.rehashed = append(r.rehashed, id)
	if r.fail != nil {
		return r.fail
	}
	return r.Store.SetPasswordHash(ctx, id, hash)
}

type factorEnv struct {
	st    *store.Store
	users *recordingUsers
	f     *password.Factor
	now   time.Time
}

func (fe *factorEnv) addUser(t *testing.T, id, email, pw string, h *password.Hasher) {
	t.Helper()
	u := &store.User{ID: id, Email: email}
	if pw != "" {
		u.PasswordHash = mustHash(t, h, pw)
	}
	if err := fe.st.CreateUser(t.Context(), u); err != nil {
		t.Fatalf("create %s: %v", id, err)
	}
}

func (fe *factorEnv) hashOf(t *testing.T, id string) string {
	t.Helper()
	u, err := fe.st.UserByID(t.Context(), id)
	if err != nil {
		t.Fatalf("UserByID(%s): %v", id, err)
	}
	return u.PasswordHash
}

func (fe *factorEnv) verify(t *testing.T, flowUser, ident, pw string) (login.Result, error) {
	t.Helper()
	form := url.Values{"method": {"password"}, "password": {pw}}
	if ident != "" {
		form.Set("identifier", ident)
	}
	return fe.f.Verify(t.Context(), login.Attempt{Flow: &login.Flow{ID: "flow-1", UserID: flowUser}, Form: form, Now: fe.now})
}

func newFactorEnv(t *testing.T, h *password.Hasher, log *slog.Logger) *factorEnv {
	t.Helper()
	st := testkit.OpenStore(t, testkit.SQLiteDSN(t), store.Options{})
	users := &recordingUsers{Store: st}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f, err := password.New(users, h, log)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return &factorEnv{st: st, users: users, f: f, now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
}

// The dummy hash's password, guessed by an attacker who read the source.
const dummyPassword = "latchkey dummy password for unknown accounts"

func TestFactorVerify(t *testing.T) {
	h := &password.Hasher{Params: cheap}
	fe := newFactorEnv(t, h, nil)
	long := strings.Repeat("L", password.MaxLength)
	fe.addUser(t, "u-alice", "alice@example.com", "alice's secret", h)
	fe.addUser(t, "u-bob", "bob@example.com", "bob's secret", h)
	fe.addUser(t, "u-carol", "carol@example.com", "carol's secret", h)
	fe.addUser(t, "u-dave", "dave@example.com", "", h) // signed up by passkey
	fe.addUser(t, "u-erin", "erin@example.com", long, h)
	// frank's stored hash is of an over-long password: only the length cap
	// can refuse it.
	fe.addUser(t, "u-frank", "frank@example.com", long+"L", h)
	if err := fe.st.SetUserDisabled(t.Context(), "u-carol", true); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name                string
		flowUser, ident, pw string
		wantUser            string // "" means ErrInvalid is expected
		sameAsWrongPassword bool   // the error must not tell this case apart
	}{
		{name: "right password", ident: "alice@example.com", pw: "alice's secret", wantUser: "u-alice"},
		{name: "email in other case, padded", ident: "  ALICE@Example.com ", pw: "alice's secret", wantUser: "u-alice"},
		{name: "wrong password", ident: "alice@example.com", pw: "alice's secreT", sameAsWrongPassword: true},
		{name: "other user's password", ident: "alice@example.com", pw: "bob's secret", sameAsWrongPassword: true},
		{name: "unknown email", ident: "mallory@example.com", pw: "alice's secret", sameAsWrongPassword: true},
		{name: "unknown email, dummy password", ident: "mallory@example.com", pw: dummyPassword, sameAsWrongPassword: true},
		{name: "disabled user, right password", ident: "carol@example.com", pw: "carol's secret", sameAsWrongPassword: true},
		{name: "disabled user, wrong password", ident: "carol@example.com", pw: "nope", sameAsWrongPassword: true},
		{name: "user without password", ident: "dave@example.com", pw: "anything", sameAsWrongPassword: true},
		{name: "user without password, dummy password", ident: "dave@example.com", pw: dummyPassword, sameAsWrongPassword: true},
		{name: "user without password, empty password", ident: "dave@example.com", pw: ""},
		{name: "empty password", ident: "alice@example.com", pw: ""},
		{name: "no identifier", pw: "alice's secret"},
		{name: "blank identifier", ident: "   ", pw: "alice's secret"},
		{name: "password of MaxLength", ident: "erin@example.com", pw: long, wantUser: "u-erin"},
		{name: "password over MaxLength", ident: "frank@example.com", pw: long + "L"},
		// A flow that knows its user checks that user's password and
		// ignores the posted identifier.
		{name: "flow user, own password", flowUser: "u-bob", ident: "alice@example.com", pw: "bob's secret", wantUser: "u-bob"},
		{name: "flow user, no identifier", flowUser: "u-bob", pw: "bob's secret", wantUser: "u-bob"},
		{name: "flow user, identifier's password", flowUser: "u-bob", ident: "alice@example.com", pw: "alice's secret", sameAsWrongPassword: true},
		{name: "flow user disabled", flowUser: "u-carol", pw: "carol's secret", sameAsWrongPassword: true},
		{name: "flow user unknown", flowUser: "u-gone", ident: "alice@example.com", pw: "alice's secret", sameAsWrongPassword: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := fe.verify(t, tc.flowUser, tc.ident, tc.pw)
			if tc.wantUser != "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				want := login.Result{Method: login.MethodPassword, UserID: tc.wantUser, At: fe.now}
				if res != want {
					t.Errorf("Verify = %+v, want %+v", res, want)
				}
				return
			}
			if !errors.Is(err, login.ErrInvalid) {
				t.Fatalf("Verify = %+v, %v; want an error wrapping login.ErrInvalid", res, err)
			}
			if res != (login.Result{}) {
				t.Errorf("failed Verify returned a result %+v", res)
			}
			if tc.sameAsWrongPassword && err.Error() != login.ErrInvalid.Error() {
				t.Errorf("error %q differs from a wrong password's %q: it reveals the account's state", err, login.ErrInvalid)
			}
		})
	}
	if len(fe.users.rehashed) != 0 {
		t.Errorf("hashes made with current params were rewritten for %v", fe.users.rehashed)
	}
}

func TestFactorRehashesOldParams(t *testing.T) {
	old := &password.Hasher{Params: password.Params{Memory: 32, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}}
	current := &password.Hasher{Params: password.Params{Memory: 64, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}}
	fe := newFactorEnv(t, current, nil)
	fe.addUser(t, "u-alice", "alice@example.com", "alice's secret", old)
	oldHash := fe.hashOf(t, "u-alice")
	if !strings.HasPrefix(oldHash, "$argon2id$v=19$m=32,t=1,p=1$") {
		t.Fatalf("setup: old hash %q", oldHash)
	}

	// A wrong password changes nothing.
	if _, err := fe.verify(t, "", "alice@example.com", "wrong"); !errors.Is(err, login.ErrInvalid) {
		t.Fatalf("wrong password: %v", err)
	}
	if got := fe.hashOf(t, "u-alice"); got != oldHash || len(fe.users.rehashed) != 0 {
		t.Fatalf("a wrong password rehashed the stored hash (%d calls)", len(fe.users.rehashed))
	}

	res, err := fe.verify(t, "", "alice@example.com", "alice's secret")
	if err != nil || res.UserID != "u-alice" {
		t.Fatalf("Verify with an old-params hash = %+v, %v", res, err)
	}
	newHash := fe.hashOf(t, "u-alice")
	if !strings.HasPrefix(newHash, "$argon2id$v=19$m=64,t=2,p=1$") {
		t.Errorf("after sign-in the stored hash is %q, want it made with the current params", newHash)
	}
	if ok, rehash, err := current.Check("alice's secret", newHash); err != nil || !ok || rehash {
		t.Errorf("new hash Check = %v, %v, %v; want true, false, nil", ok, rehash, err)
	}

	// Signing in again finds current params: nothing is rewritten.
	if _, err := fe.verify(t, "", "alice@example.com", "alice's secret"); err != nil {
		t.Fatalf("second Verify: %v", err)
	}
	if got := fe.hashOf(t, "u-alice"); got != newHash {
		t.Error("a hash with current params was rewritten")
	}
	if len(fe.users.rehashed) != 1 {
		t.Errorf("SetPasswordHash called %d times, want once", len(fe.users.rehashed))
	}
}

func TestFactorRehashFailureStillSignsIn(t *testing.T) {
	var logs bytes.Buffer
	old := &password.Hasher{Params: password.Params{Memory: 32, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}}
	fe := newFactorEnv(t, &password.Hasher{Params: cheap}, slog.New(slog.NewTextHandler(&logs, nil)))
	fe.addUser(t, "u-alice", "alice@example.com", "alice's secret", old)
	fe.users.fail = errors.New("database is read-only")

	res, err := fe.verify(t, "", "alice@example.com", "alice's secret")
	if err != nil || res.UserID != "u-alice" {
		t.Fatalf("Verify = %+v, %v; a failed rehash must not fail the sign-in", res, err)
	}
	if len(fe.users.rehashed) != 1 {
		t.Errorf("SetPasswordHash called %d times, want once", len(fe.users.rehashed))
	}
	if !strings.Contains(logs.String(), "rehash password") || !strings.Contains(logs.String(), "read-only") {
		t.Errorf("the failed rehash was not logged: %q", logs.String())
	}
}

// TestFactorUnknownEmailChecksDummyHash shows that an unknown email (or a
// user without a password) still goes through Hasher.Check, on the dummy
// hash, instead of returning early: with a hasher whose own hashes Check
// rejects (a 4-byte salt), those attempts fail with Check's error rather
// than ErrInvalid. No timing is measured.
func TestFactorUnknownEmailChecksDummyHash(t *testing.T) {
	t.Run("dummy hash is made by New without hashing", func(t *testing.T) {
		var salt countingReader
		g := newGatedKDF()
		close(g.release)
		h := &password.Hasher{Params: cheap, Rand: &salt}
		password.SetKDF(h, g.kdf)
		if _, err := password.New(nil, h, slog.New(slog.DiscardHandler)); err != nil {
			t.Fatal(err)
		}
		if want := int(cheap.SaltLen + cheap.KeyLen); salt.n != want {
			t.Errorf("New read %d random bytes, want %d: it did not make a dummy hash", salt.n, want)
		}
		if g.entered.Load() != 0 {
			t.Errorf("New ran argon2 %d times; the dummy needs none", g.entered.Load())
		}
	})

	normal := &password.Hasher{Params: cheap}
	odd := &password.Hasher{Params: password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 4, KeyLen: 32}}
	if _, _, err := odd.Check("x", mustHash(t, odd, "x")); err == nil {
		t.Fatal("setup: Check accepts a 4-byte salt; pick another parameter it rejects")
	}
	fe := newFactorEnv(t, odd, nil)
	fe.addUser(t, "u-alice", "alice@example.com", "alice's secret", normal)
	fe.addUser(t, "u-dave", "dave@example.com", "", normal)

	for _, tc := range []struct {
		name, ident, pw string
		checksDummy     bool
	}{
		{"unknown email", "mallory@example.com", "guess", true},
		{"user without password", "dave@example.com", "guess", true},
		{"known user, wrong password", "alice@example.com", "guess", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := fe.verify(t, "", tc.ident, tc.pw)
			if err == nil {
				t.Fatal("Verify succeeded")
			}
			if got := !errors.Is(err, login.ErrInvalid); got != tc.checksDummy {
				t.Errorf("Verify = %v; checked the dummy hash = %v, want %v", err, got, tc.checksDummy)
			}
		})
	}
}

type countingReader struct{ n int }

func (c *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(c.n + i)
	}
	c.n += len(p)
	return len(p), nil
}

func TestFactorEnrolled(t *testing.T) {
	h := &password.Hasher{Params: cheap}
	fe := newFactorEnv(t, h, nil)
	fe.addUser(t, "u-alice", "alice@example.com", "alice's secret", h)
	fe.addUser(t, "u-dave", "dave@example.com", "", h)
	if fe.f.Method() != login.MethodPassword {
		t.Errorf("Method = %q", fe.f.Method())
	}
	for _, tc := range []struct {
		id      string
		want    bool
		wantErr error
	}{
		{"u-alice", true, nil},
		{"u-dave", false, nil},
		{"u-gone", false, store.ErrNotFound},
	} {
		got, err := fe.f.Enrolled(t.Context(), tc.id)
		if got != tc.want || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
			t.Errorf("Enrolled(%s) = %v, %v; want %v, %v", tc.id, got, err, tc.want, tc.wantErr)
		}
	}
}

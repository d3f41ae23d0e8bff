package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"latchkey/internal/testkit"
	"latchkey/store"
)

// TestMain lets the test binary stand in for the latchkey binary: the
// tests below re-execute it with LATCHKEY_TEST_MAIN=1, so they see real
// exit codes, standard streams and a real listening server.
func TestMain(m *testing.M) {
	if os.Getenv("LATCHKEY_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func latchkey(t *testing.T, dir string, stdin string, args ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LATCHKEY_TEST_MAIN=1", "LATCHKEY_CONFIG=")
	cmd.Stdin = strings.NewReader(stdin)
	return cmd
}

// start runs cmd in the background with its output in one buffer; done
// receives its exit. Cleanup kills it and waits for it to end.
func start(t *testing.T, cmd *exec.Cmd) (logs *testkit.Buffer, done chan error) {
	t.Helper()
	logs = &testkit.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done = make(chan error, 1)
	exited := make(chan struct{})
	go func() { done <- cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	return logs, done
}

func runCLI(t *testing.T, dir, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := latchkey(t, dir, stdin, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run latchkey %v: %v", args, err)
	}
	return o.String(), e.String(), code
}

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte(`issuer: not a url
clients:
  - id: shop
    secret: "shop-secret-shop-secret-shop-secret-42"
    redirect_uris: [ "https://shop.example/callback", "/relative" ]
    min_acr: gold
`), 0o600)
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("issuer: http://localhost:9000\nlisten: 127.0.0.1:9000\nmail: {smtp_url: 'smtp://u:p@mail.example.com:587'}\n"), 0o600)
	plainSMTP := filepath.Join(dir, "plain.yaml")
	os.WriteFile(plainSMTP, []byte("mail: {smtp_url: 'smtp://u:p@mail.example.com:25?tls=none'}\n"), 0o600)

	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  []string
	}{
		{"three mistakes, flag after", []string{"config", "check", "--config", bad}, 1, []string{
			"issuer: ", "clients[0].redirect_uris[1]: not an absolute URL", "clients[0].min_acr: "}},
		{"flag before the command", []string{"--config=" + bad, "config", "check"}, 1, []string{"clients[0].min_acr: "}},
		{"valid file", []string{"config", "check", "--config", good}, 0, nil},
		{"missing file", []string{"config", "check", "--config", filepath.Join(dir, "nope.yaml")}, 1, []string{"nope.yaml"}},
		{"unknown command", []string{"frobnicate"}, 2, []string{"unknown command"}},
		{"plain SMTP to a remote host", []string{"config", "check", "--config", plainSMTP}, 1, []string{"mail.smtp_url: plain SMTP (tls=none) only to a loopback host"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := runCLI(t, dir, "", tc.args...)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tc.wantCode, stderr)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if tc.name == "three mistakes, flag after" {
				var problems int
				for _, l := range strings.Split(stderr, "\n") {
					if strings.HasPrefix(l, "issuer: ") || strings.HasPrefix(l, "clients[0].") {
						problems++
					}
				}
				if problems != 3 {
					t.Errorf("want exactly 3 problem lines, got %d:\n%s", problems, stderr)
				}
			}
		})
	}
}

func TestUserCommands(t *testing.T) {
	dir := t.TempDir()
	if _, e, code := runCLI(t, dir, "short\n", "user", "add", "a@example.com", "--password-stdin"); code == 0 || !strings.Contains(e, "at least 8") {
		t.Fatalf("short password accepted (exit %d): %s", code, e)
	}
	if _, e, code := runCLI(t, dir, "", "user", "add", "not-an-email"); code == 0 || !strings.Contains(e, "EMAIL") {
		t.Fatalf("bad email accepted (exit %d): %s", code, e)
	}
	if _, e, code := runCLI(t, dir, "a good long password\n", "user", "add", "a@example.com", "--password-stdin"); code != 0 {
		t.Fatalf("user add: exit %d: %s", code, e)
	}
	if _, e, code := runCLI(t, dir, "another password\n", "user", "add", "A@example.com", "--password-stdin"); code == 0 || !strings.Contains(e, "already exists") {
		t.Fatalf("duplicate accepted (exit %d): %s", code, e)
	}
	if _, e, code := runCLI(t, dir, "", "user", "disable", "a@example.com"); code != 0 {
		t.Fatalf("disable: exit %d: %s", code, e)
	}
	out, _, _ := runCLI(t, dir, "", "user", "list")
	if !strings.Contains(out, "a@example.com") || !strings.Contains(out, "disabled") || strings.Count(out, "@example.com") != 1 {
		t.Fatalf("user list:\n%s", out)
	}
}

// TestServeOnDefaults is the newcomer's first command: serve with no config
// starts on http://localhost:8080 with its SQLite file and generated secret
// in the working directory, and a user added with `user add` signs in.
func TestServeOnDefaults(t *testing.T) {
	dir := t.TempDir()
	if _, e, code := runCLI(t, dir, "newcomer password\n", "user", "add", "new@example.com", "--password-stdin"); code != 0 {
		t.Fatalf("user add: exit %d: %s", code, e)
	}
	// The defaults listen on 127.0.0.1:8080. A server already there (the
	// README's own, run by hand) would answer instead of the one under
	// test, so the test refuses to run rather than test a stranger.
	probe, err := net.Listen("tcp", "127.0.0.1:8080")
	if err != nil {
		t.Fatalf("port 127.0.0.1:8080 is in use by another process (%v); stop it: this test runs `latchkey serve` on the default address", err)
	}
	probe.Close()
	cmd := latchkey(t, dir, "", "serve")
	logs, done := start(t, cmd)

	base := "http://localhost:8080"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var ids []string
	ours := func() bool {
		for _, id := range ids {
			if strings.Contains(logs.String(), "request_id="+id) {
				return true
			}
		}
		return false
	}
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			// The answer must be ours: its request ID is in our log (the
			// line is written just after the response, hence the list).
			if id := resp.Header.Get("X-Request-Id"); resp.StatusCode == http.StatusOK && id != "" {
				ids = append(ids, id)
			}
			if ours() {
				break
			}
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited early (%v); is port 8080 taken?\n%s", err, logs.String())
		case <-ctx.Done():
			t.Fatalf("serve did not answer on %s:\n%s", base, logs.String())
		case <-time.After(100 * time.Millisecond):
		}
	}

	b := testkit.NewBrowser(t)
	page := b.Get(base + "/login")
	f := page.FormWithButton(t, "method", "password")
	f.Set("identifier", "new@example.com").Set("password", "newcomer password")
	page = b.Submit(f)
	if page.URL.Path != "/" || !strings.Contains(page.Body, "Signed in as new@example.com") {
		t.Fatalf("sign-in did not land on the home page signed in: %d %s\n%.800s", page.Status, page.URL, page.Body)
	}
	meta := b.Get(base + "/.well-known/openid-configuration")
	if !strings.Contains(meta.Body, `"issuer":"http://localhost:8080"`) {
		t.Fatalf("discovery issuer: %.300s", meta.Body)
	}

	for _, f := range []string{"latchkey.db", "latchkey.secret"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s not in the working directory: %v", f, err)
		}
	}
	if st, err := os.Stat(filepath.Join(dir, "latchkey.secret")); err == nil && st.Mode().Perm() != 0o600 {
		t.Errorf("latchkey.secret mode %v, want 0600", st.Mode().Perm())
	}
	ignore, err := os.ReadFile("../../.gitignore")
	if err != nil {
		t.Fatal(err)
	}
	for _, pat := range []string{"/latchkey.db\n", "/latchkey.db-*\n", "/latchkey.secret\n"} {
		if !strings.Contains(string(ignore), pat) {
			t.Errorf(".gitignore lacks %q", strings.TrimSpace(pat))
		}
	}

	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve did not shut down cleanly: %v\n%s", err, logs.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve ignored SIGTERM")
	}
}

func TestUserResetFactors(t *testing.T) {
	dir := t.TempDir()
	if _, e, code := runCLI(t, dir, "a good long password\n", "user", "add", "r@example.com", "--password-stdin"); code != 0 {
		t.Fatalf("user add: exit %d: %s", code, e)
	}
	ctx := context.Background()
	dsn := "sqlite://" + filepath.Join(dir, "latchkey.db")
	st, err := store.Open(dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	u, err := st.UserByEmail(ctx, "r@example.com")
	if err != nil {
		t.Fatal(err)
	}
	sealed := []byte("sealed-secret")
	if err := st.PutPendingTOTP(ctx, u.ID, sealed); err != nil {
		t.Fatal(err)
	}
	if err := st.ConfirmTOTP(ctx, u.ID, sealed, 1); err != nil {
		t.Fatal(err)
	}
	if err := st.CreatePasskey(ctx, &store.Passkey{ID: "pk1", UserID: u.ID, CredentialID: "cred1", PublicKey: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	sess := &store.Session{IDHash: "h1", UserID: u.ID, Data: []byte(`{}`), AuthTime: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
	if err := st.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	remember := func(st *store.Store, id string) {
		t.Helper()
		if err := st.RememberBrowser(ctx, &store.RememberedBrowser{ID: id, TokenHash: "tok-" + id, UserID: u.ID,
			ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	remember(st, "rb1")
	st.Close()

	if _, e, code := runCLI(t, dir, "", "user", "reset-factors", "nobody@example.com"); code == 0 || !strings.Contains(e, "no user") {
		t.Fatalf("reset of an unknown user: exit %d %s", code, e)
	}
	out, e, code := runCLI(t, dir, "", "user", "reset-factors", "R@example.com")
	if code != 0 || !strings.Contains(out, "passkeys removed: 1") {
		t.Fatalf("reset-factors: exit %d\n%s%s", code, out, e)
	}

	st, err = store.Open(dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.TOTPCredential(ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TOTP survived: %v", err)
	}
	if n, err := st.CountPasskeys(ctx, u.ID); err != nil || n != 0 {
		t.Errorf("passkeys left: %d %v", n, err)
	}
	if _, err := st.GetSession(ctx, "h1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("session survived: %v", err)
	}
	evs, _ := st.RecentEvents(ctx, u.ID, 5)
	if len(evs) == 0 || evs[0].Event != "user.factors_reset" {
		t.Errorf("reset not audited: %+v", evs)
	}
	if usr, _ := st.UserByID(ctx, u.ID); usr.PasswordHash == "" {
		t.Errorf("reset-factors removed the password")
	}
	if ok, err := st.UseRememberedBrowser(ctx, "tok-rb1", u.ID); ok || err != nil {
		t.Errorf("remembered browser survived reset-factors: %v %v", ok, err)
	}

	// user disable forgets the user's remembered browsers too.
	remember(st, "rb2")
	if _, e, code := runCLI(t, dir, "", "user", "disable", "r@example.com"); code != 0 {
		t.Fatalf("disable: exit %d: %s", code, e)
	}
	if ok, err := st.UseRememberedBrowser(ctx, "tok-rb2", u.ID); ok || err != nil {
		t.Errorf("remembered browser survived user disable: %v %v", ok, err)
	}
}

// TestUserAddNameVerified: --name and --verified reach the record; without
// them the address is unproven, and a user without a password is told the
// way to set one.
func TestUserAddNameVerified(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name      string
		stdin     string
		args      []string
		wantCode  int
		wantOut   string
		wantErr   string
		user      string
		wantName  string
		wantVerif bool
		wantPass  bool
	}{
		{"plain, with password", "a good long password\n", []string{"p@example.com", "--password-stdin"}, 0, "created user", "", "p@example.com", "", false, true},
		{"name and verified", "", []string{"--name", "  Bea Smith ", "b@example.com", "--verified"}, 0, "/recover", "", "b@example.com", "Bea Smith", true, false},
		{"name=form", "", []string{"c@example.com", "--name=Cé"}, 0, "/recover", "", "c@example.com", "Cé", false, false},
		{"name without value", "", []string{"d@example.com", "--name"}, 2, "", "--name needs a value", "", "", false, false},
		{"name with control character", "", []string{"e@example.com", "--name", "Eve\nBcc: x"}, 1, "", "control character", "", "", false, false},
		{"name too long", "", []string{"f@example.com", "--name", strings.Repeat("n", 201)}, 1, "", "longer than 200", "", "", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, e, code := runCLI(t, dir, tc.stdin, append([]string{"user", "add"}, tc.args...)...)
			if code != tc.wantCode || !strings.Contains(out, tc.wantOut) || !strings.Contains(e, tc.wantErr) {
				t.Fatalf("exit %d (want %d)\nstdout: %s\nstderr: %s", code, tc.wantCode, out, e)
			}
			if tc.wantPass == strings.Contains(out, "/recover") && code == 0 {
				t.Errorf("the /recover hint shows = %v for a user with password = %v:\n%s", !tc.wantPass, tc.wantPass, out)
			}
		})
	}
	st, err := store.Open("sqlite://"+filepath.Join(dir, "latchkey.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, tc := range tests {
		if tc.user == "" {
			continue
		}
		u, err := st.UserByEmail(context.Background(), tc.user)
		if err != nil {
			t.Fatalf("%s: %v", tc.user, err)
		}
		if u.Name != tc.wantName || u.EmailVerified != tc.wantVerif || (u.PasswordHash != "") != tc.wantPass {
			t.Errorf("%s: name %q verified %v password %v; want %q %v %v", tc.user, u.Name, u.EmailVerified, u.PasswordHash != "", tc.wantName, tc.wantVerif, tc.wantPass)
		}
	}
	for _, refused := range []string{"d@example.com", "e@example.com", "f@example.com"} {
		if _, err := st.UserByEmail(context.Background(), refused); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s was created despite the error: %v", refused, err)
		}
	}
}

package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"latchkey/internal/testkit"
)

// signsIn reports whether email and pw sign in on the server at base, from
// a fresh browser.
func signsIn(t *testing.T, base, email, pw string) bool {
	t.Helper()
	b := testkit.NewBrowser(t)
	page := b.Get(base + "/login")
	f := page.FormWithButton(t, "method", "password")
	f.Set("identifier", email).Set("password", pw)
	page = b.Submit(f)
	return page.URL.Path == "/" && strings.Contains(page.Body, "Signed in as "+email)
}

// startServe runs `latchkey serve` on a config file with a free port and
// returns its base URL, the config path and the log.
func startServe(t *testing.T, dir string) (string, string, *testkit.Buffer) {
	t.Helper()
	port := testkit.FreePort(t)
	cfgPath := filepath.Join(dir, "latchkey.yaml")
	writeAtomically(t, cfgPath, reloadConfig(port, dir, []string{"shop"}, ""))
	logs, _ := start(t, latchkey(t, dir, "", "serve", "--config", cfgPath))
	waitLog(t, logs, 1, msgIs("latchkey is serving", ""))
	return "http://localhost:" + strconv.Itoa(port), cfgPath, logs
}

// TestUserLifecycleCommands drives the new user commands against the
// database of a running server and checks each over HTTP.
func TestUserLifecycleCommands(t *testing.T) {
	dir := t.TempDir()
	base, cfgPath, _ := startServe(t, dir)
	cli := func(stdin string, args ...string) (string, string, int) {
		t.Helper()
		return runCLI(t, dir, stdin, append(args, "--config", cfgPath)...)
	}
	const email, pw1, pw2 = "life@example.com", "first long password", "second long password"
	if _, e, code := cli(pw1+"\n", "user", "add", email, "--password-stdin"); code != 0 {
		t.Fatalf("user add: %d %s", code, e)
	}
	if !signsIn(t, base, email, pw1) {
		t.Fatal("a new user cannot sign in")
	}
	if out, e, code := cli("", "healthcheck"); code != 0 || !strings.Contains(out, "/healthz: ok") {
		t.Fatalf("healthcheck against the running server: %d %s %s", code, out, e)
	}

	if _, e, code := cli("", "user", "disable", email); code != 0 {
		t.Fatalf("disable: %d %s", code, e)
	}
	if signsIn(t, base, email, pw1) {
		t.Fatal("a disabled user signed in")
	}
	if _, e, code := cli("", "user", "enable", email); code != 0 {
		t.Fatalf("enable: %d %s", code, e)
	}
	if !signsIn(t, base, email, pw1) {
		t.Fatal("an enabled user cannot sign in")
	}

	if _, e, code := cli("short\n", "user", "set-password", email, "--password-stdin"); code == 0 || !strings.Contains(e, "password:") {
		t.Fatalf("a weak password was set: %d %s", code, e)
	}
	if _, e, code := cli("", "user", "set-password", email); code != 2 || !strings.Contains(e, "--password-stdin") {
		t.Fatalf("set-password without --password-stdin: %d %s", code, e)
	}
	if out, e, code := cli(pw2+"\n", "user", "set-password", email, "--password-stdin"); code != 0 || !strings.Contains(out, "sessions ended") {
		t.Fatalf("set-password: %d %s %s", code, out, e)
	}
	if signsIn(t, base, email, pw1) {
		t.Fatal("the old password still signs in")
	}
	if !signsIn(t, base, email, pw2) {
		t.Fatal("the new password does not sign in")
	}

	out, e, code := cli("", "user", "show", strings.ToUpper(email))
	if code != 0 {
		t.Fatalf("show: %d %s", code, e)
	}
	for _, want := range []string{"email:", email, "status:", "active", "password:", "set", "totp:", "off", "passkeys:", "sessions:", "last events:", "login.succeeded", "password.set", "user.enabled", "user.disabled"} {
		if !strings.Contains(out, want) {
			t.Errorf("user show lacks %q:\n%s", want, out)
		}
	}

	out, e, code = cli("", "audit", "--user", email, "--json")
	if code != 0 {
		t.Fatalf("audit: %d %s", code, e)
	}
	var events []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("audit --json line: %v: %s", err, sc.Text())
		}
		if ev["email"] != email {
			t.Errorf("event of another user: %v", ev)
		}
		events = append(events, ev["event"].(string))
	}
	if len(events) < 5 || events[0] != "login.succeeded" || !strings.Contains(strings.Join(events, " "), "user.created") {
		t.Errorf("audit events (newest first): %v", events)
	}
	if out, _, code := cli("", "audit", "--since", "1h"); code != 0 || !strings.Contains(out, "user.enabled") || !strings.Contains(out, email) {
		t.Errorf("audit --since 1h: %d\n%s", code, out)
	}
	if out, _, _ := cli("", "audit", "--since=1ns"); strings.Contains(out, "user.enabled") {
		t.Errorf("audit --since 1ns shows old events:\n%s", out)
	}

	if out, e, code := cli("", "user", "delete", email); code != 0 || !strings.Contains(out, "deleted") {
		t.Fatalf("delete: %d %s %s", code, out, e)
	}
	if signsIn(t, base, email, pw2) {
		t.Fatal("a deleted user signed in")
	}
	if _, e, code := cli("", "user", "show", email); code == 0 || !strings.Contains(e, "EMAIL: no user") {
		t.Fatalf("show of a deleted user: %d %s", code, e)
	}
	if _, e, code := cli(pw1+"\n", "user", "add", email, "--password-stdin"); code != 0 {
		t.Fatalf("the deleted address cannot be added again: %d %s", code, e)
	}
	if !signsIn(t, base, email, pw1) {
		t.Fatal("the re-added user cannot sign in")
	}
	if out, _, _ := cli("", "audit", "--json"); !strings.Contains(out, `"event":"user.deleted"`) {
		t.Errorf("the deletion is not in the audit log:\n%s", out)
	}
}

// TestCLIErrorsNameTheArgument: each mistake names what is wrong, with
// exit code 2 for usage and 1 for a bad value.
func TestCLIErrorsNameTheArgument(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"user", "show"}, 2, "EMAIL"},
		{[]string{"user", "enable"}, 2, "EMAIL"},
		{[]string{"user", "delete", "a@example.com", "b@example.com"}, 2, "EMAIL"},
		{[]string{"user", "show", "nobody@example.com"}, 1, "EMAIL: no user nobody@example.com"},
		{[]string{"user", "set-password"}, 2, "EMAIL"},
		{[]string{"user", "set-password", "a@example.com", "--pasword-stdin"}, 2, `"--pasword-stdin"`},
		{[]string{"audit", "--since", "yesterday"}, 2, "--since"},
		{[]string{"audit", "--since"}, 2, "--since needs a value"},
		{[]string{"audit", "--user", "nobody@example.com"}, 1, "--user: no user"},
		{[]string{"audit", "--verbose"}, 2, `"--verbose"`},
		{[]string{"version", "extra"}, 2, `"extra"`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, e, code := runCLI(t, dir, "", tc.args...)
			if code != tc.code || !strings.Contains(e, tc.want) {
				t.Errorf("exit %d (want %d), stderr lacks %q:\n%s", code, tc.code, tc.want, e)
			}
		})
	}
}

// TestHelpEverywhere: --help on every command prints its usage and exits
// 0 without doing anything (no database is created).
func TestHelpEverywhere(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"--help"}, {"help"}, {"serve", "--help"}, {"migrate", "--help"}, {"user", "--help"},
		{"user", "add", "--help"}, {"user", "list", "--help"}, {"user", "show", "--help"},
		{"user", "disable", "x@example.com", "--help"}, {"user", "enable", "--help"}, {"user", "delete", "--help"},
		{"user", "set-password", "-h"}, {"user", "reset-factors", "--help"}, {"audit", "--help"},
		{"client", "list", "--help"}, {"config", "check", "--help"}, {"config", "print-defaults", "--help"}, {"keys", "rotate", "--help"}, {"version", "--help"}, {"healthcheck", "--help"},
	} {
		out, e, code := runCLI(t, dir, "", args...)
		want := "latchkey"
		if len(args) > 1 && args[0] != "help" {
			want = "  " + args[0]
		}
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("%v: exit %d, stdout lacks %q:\n%s%s", args, code, want, out, e)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "latchkey.db")); err == nil {
		t.Error("a --help run opened the database")
	}
	out, _, code := runCLI(t, dir, "", "version")
	if code != 0 || !strings.HasPrefix(out, "latchkey ") || !strings.Contains(out, "go1.") {
		t.Errorf("version: %d %q", code, out)
	}
}

// TestPrintDefaults: the printed file passes config check as it is.
func TestPrintDefaults(t *testing.T) {
	dir := t.TempDir()
	out, e, code := runCLI(t, dir, "", "config", "print-defaults")
	if code != 0 || !strings.Contains(out, "# The public URL") || !strings.Contains(out, "issuer: http://localhost:8080") {
		t.Fatalf("print-defaults: %d %s\n%s", code, e, out)
	}
	path := filepath.Join(dir, "defaults.yaml")
	if err := os.WriteFile(path, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, e, code := runCLI(t, dir, "", "config", "check", "--config", path); code != 0 {
		t.Fatalf("the printed defaults fail config check: %d %s %s", code, out, e)
	}
}

// TestHealthcheckFailsWithoutServer: nothing listening is exit 1.
func TestHealthcheckFailsWithoutServer(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "latchkey.yaml")
	writeAtomically(t, path, reloadConfig(testkit.FreePort(t), dir, nil, ""))
	if _, e, code := runCLI(t, dir, "", "healthcheck", "--config", path); code != 1 || !strings.Contains(e, "healthcheck http://127.0.0.1:") {
		t.Fatalf("healthcheck with no server: %d %s", code, e)
	}
}

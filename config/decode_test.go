package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"unknown top-level key with suggestion", "isuer: https://x", []string{`isuer: unknown key (did you mean "issuer"?)`}},
		{"unknown key without suggestion", "colour: blue", []string{"colour: unknown key"}},
		{"unknown nested key", "clients:\n  - id: a\n    redirect_uri: [https://a.example/cb]",
			[]string{`clients[0].redirect_uri: unknown key (did you mean "redirect_uris"?)`}},
		{"unknown key in a section", "totp:\n  skwe: 1", []string{`totp.skwe: unknown key (did you mean "skew"?)`}},
		{"two unknown keys both reported, in order", "listn: x\nmail:\n  smtp: log",
			[]string{`listn: unknown key (did you mean "listen"?)`, `mail.smtp: unknown key`}},
		{"DevMode is not a key", "devmode: true", []string{"devmode: unknown key"}},
		{"string where a list is expected", "secrets:\n  keys: abc", []string{"secrets.keys: expected a list, got a string"}},
		{"list where a string is expected", "issuer: [a, b]", []string{"issuer: expected a string, got a list"}},
		{"mapping where a section is a string", "database: sqlite://x", []string{"database: expected a mapping, got a string"}},
		{"not an integer", "totp:\n  skew: abc", []string{`totp.skew: expected an integer, got "abc"`}},
		{"not a boolean", "signup: yes", []string{`signup: expected true or false, got "yes"`}},
		{"bad duration", "magic_link:\n  ttl: 15 minutes", []string{`magic_link.ttl: expected a duration such as 15m or 1h30m, got "15 minutes"`}},
		{"duration as a number", "magic_link:\n  ttl: 900", []string{`magic_link.ttl: expected a duration such as 15m or 1h30m, got "900"`}},
		{"duplicate key", "listen: a:1\nlisten: b:2", []string{"listen: duplicate key (first set on line 1)"}},
		{"duplicate nested key", "clients:\n  - id: a\n    id: b", []string{"clients[0].id: duplicate key (first set on line 2)"}},
		{"root is a list", "- a", []string{"(root): expected a mapping, got a list"}},
		{"two documents", "signup: true\n---\nsignup: false", []string{"(root): only one YAML document is allowed (remove the extra ---)"}},
		{"empty list item", "secrets:\n  keys:\n    -\n", []string{"secrets.keys[0]: empty list item"}},
		{"unknown key holding an anchor", "base: &b {skew: 1}\n", []string{"base: unknown key"}},
		{"every mistake at once", "isuer: x\ntotp:\n  skew: abc\nclients:\n  - id: a\n    scope: [openid]",
			[]string{
				`isuer: unknown key (did you mean "issuer"?)`,
				`totp.skew: expected an integer, got "abc"`,
				`clients[0].scope: unknown key (did you mean "scopes"?)`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := LoadBytes([]byte(tt.yaml))
			if c != nil {
				t.Error("LoadBytes returned a Config with an error")
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error %v (%T) is not an Errors", err, err)
			}
			assertLines(t, err, tt.want...)
		})
	}
}

func TestMergeKeysRejected(t *testing.T) {
	in := "totp: &t\n  skew: 1\nwebauthn:\n  <<: *t\n"
	assertLines(t, loadErr(t, in), "webauthn.<<: merge keys are not supported; write the settings out")
}

func TestAliasesResolve(t *testing.T) {
	c, err := LoadBytes([]byte("webauthn:\n  rp_name: &n Shop ID\ntotp:\n  issuer_label: *n\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.TOTP.IssuerLabel != "Shop ID" {
		t.Fatalf("issuer_label = %q", c.TOTP.IssuerLabel)
	}
}

func TestSyntaxErrorIsPlainError(t *testing.T) {
	_, err := LoadBytes([]byte("issuer: [unclosed"))
	if err == nil {
		t.Fatal("no error for broken YAML")
	}
	var errs Errors
	if errors.As(err, &errs) {
		t.Fatalf("syntax error reported as field errors: %v", err)
	}
	if !strings.Contains(err.Error(), "line") {
		t.Errorf("syntax error %q does not say where", err)
	}
}

func TestEnvExpansion(t *testing.T) {
	t.Setenv("LK_HOST", "shop.example")
	t.Setenv("LK_SECRET", secret32)
	t.Setenv("LK_SKEW", "2")
	t.Setenv("LK_EMPTY", "")
	t.Setenv("LK_EVIL", "x\n evil: x\nsignup: false")
	t.Setenv("LK_NESTED", "${LK_HOST}")
	c, err := LoadBytes([]byte(`
issuer: https://id.${LK_HOST}
secrets:
  keys: ["${LK_SECRET}", "lit-$${LK_SECRET}-$5"]
totp:
  skew: ${LK_SKEW}
  issuer_label: ${LK_EVIL}
mail:
  from: "${LK_NESTED}"
webauthn:
  rp_name: "a${LK_EMPTY}b"
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, got, want string }{
		{"inside a string", c.Issuer, "https://id.shop.example"},
		{"list item", c.Secrets.Keys[0], secret32},
		{"$${ escape and lone $", c.Secrets.Keys[1], "lit-${LK_SECRET}-$5"},
		{"no injection", c.TOTP.IssuerLabel, "x\n evil: x\nsignup: false"},
		{"no second expansion", c.Mail.From, "${LK_HOST}"},
		{"empty variable", c.WebAuthn.RPName, "ab"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
	if c.TOTP.Skew != 2 {
		t.Errorf("skew = %d, want 2", c.TOTP.Skew)
	}
	if !c.Signup {
		t.Error("a variable's content changed signup")
	}
}

func TestEnvExpansionErrors(t *testing.T) {
	t.Setenv("LK_NOT_A_NUMBER", "many")
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"unset variable", `secrets: {keys: ["${LATCHKEY_SECRET_UNSET_FOR_TEST}"]}`,
			[]string{"secrets.keys[0]: environment variable LATCHKEY_SECRET_UNSET_FOR_TEST is not set (nor LATCHKEY_SECRET_UNSET_FOR_TEST_FILE)"}},
		{"two unset in one value", `issuer: "${LK_UNSET_A}${LK_UNSET_B}"`,
			[]string{"issuer: environment variable LK_UNSET_A is not set (nor LK_UNSET_A_FILE)", "issuer: environment variable LK_UNSET_B is not set (nor LK_UNSET_B_FILE)"}},
		{"unterminated", `issuer: "https://${LK_HOST"`, []string{`issuer: unterminated "${"; write "$${" for a literal "${"`}},
		{"bad name", `issuer: "${1ABC}"`, []string{`issuer: invalid environment variable name "1ABC" in ${...}`}},
		{"expanded value has the wrong type", "totp:\n  skew: ${LK_NOT_A_NUMBER}", []string{`totp.skew: expected an integer, got "many"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertLines(t, loadErr(t, tt.yaml), tt.want...)
		})
	}
}

func TestKeysAreNotExpanded(t *testing.T) {
	t.Setenv("LK_KEY", "issuer")
	assertLines(t, loadErr(t, "${LK_KEY}: https://x.example"), "${LK_KEY}: unknown key")
}

func TestSuggest(t *testing.T) {
	tests := []struct{ key, want string }{
		{"redirect_uri", "redirect_uris"},
		{"Redirect_URIS", "redirect_uris"},
		{"secrt", "secret"},
		{"ab", ""}, // two edits from "id", but as long as the key itself
		{"completely_different", ""},
	}
	for _, tt := range tests {
		if got := suggest(tt.key, clientType); got != tt.want {
			t.Errorf("suggest(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
}

func loadErr(t *testing.T, in string) error {
	t.Helper()
	_, err := LoadBytes([]byte(in))
	if err == nil {
		t.Fatalf("LoadBytes(%q) succeeded, want an error", in)
	}
	return err
}

var clientType = reflect.TypeFor[Client]()

// TestEnvFromFile: ${NAME} falls back to the file NAME_FILE names, without
// its trailing newline; both set, or an unreadable file, is a problem.
func TestEnvFromFile(t *testing.T) {
	dir := t.TempDir()
	secret := "a-secret-from-a-file-a-secret-from-a-file"
	path := filepath.Join(dir, "secret")
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("LK_FILE_SECRET_FILE", path)
	c, err := LoadBytes([]byte(`secrets: {keys: ["${LK_FILE_SECRET}"]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Secrets.Keys) != 1 || c.Secrets.Keys[0] != secret {
		t.Fatalf("keys = %q, want the file's content", c.Secrets.Keys)
	}
	t.Setenv("LK_FILE_SECRET", "from-env")
	assertLines(t, loadErr(t, `secrets: {keys: ["${LK_FILE_SECRET}"]}`),
		"secrets.keys[0]: both LK_FILE_SECRET and LK_FILE_SECRET_FILE are set; set one")
	t.Setenv("LK_MISSING_FILE", filepath.Join(dir, "nope"))
	err = loadErr(t, `issuer: "${LK_MISSING}"`)
	if !strings.Contains(err.Error(), "issuer: LK_MISSING_FILE: open ") {
		t.Fatalf("unreadable file: %v", err)
	}
}

package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// specExample is the annotated example from SPEC.md, kept verbatim so the
// documented file is known to load and validate.
const specExample = `
issuer: http://localhost:8080          # the public URL; also the WebAuthn origin
listen: 127.0.0.1:8080
database:
  dsn: sqlite://latchkey.db             # relative to the working dir; sqlite:///abs/path.db; or
                                        # postgres://user:pass@host:5432/db?sslmode=disable
secrets:
  keys: [ "${LATCHKEY_SECRET}" ]        # >= 32 characters each; first encrypts, all decrypt (rotation)
signup: true                            # self-service registration
mail:
  from: "Latchkey <no-reply@localhost>"
  smtp_url: log                         # or smtp://user:pass@host:587 (STARTTLS; plain only to a
                                        # loopback host) / smtps://host:465 (implicit TLS)
totp:
  issuer_label: Latchkey
  skew: 1                               # accepted steps either side of now
magic_link:
  ttl: 15m                              # links and emailed codes; single use
  second_factor: false                  # true: an emailed code may also serve as the 2nd factor
recovery:
  delay: 24h                            # lost every factor: wait this long (user mailed, can cancel)
remember_browser:
  ttl: 720h                             # "remember this browser" after a 2nd factor; 0 turns it off
lockout:
  max_failures: 10                      # wrong passwords or codes per account within window
  window: 15m
  duration: 15m                         # then that account's guessable factors are locked
signing:
  alg: RS256                            # or ES256 (faster); both keys are published during a switch
tokens:
  access_token_ttl: 1h
  id_token_ttl: 1h
  refresh_token_ttl: 720h
  refresh_reuse_grace: 10s              # a rotated refresh token presented again within this is
                                        # not treated as theft (parallel requests of one RP)
log:
  level: info                           # debug | info | warn | error
  format: text                          # text | json
metrics:
  listen: ""                            # e.g. 127.0.0.1:9464 serves Prometheus /metrics there; "" = off
trusted_proxies: []                     # CIDRs whose X-Forwarded-For/-Proto are believed
branding:
  name: Latchkey                        # shown in pages and mails
  logo_url: ""
  primary_color: "#2151c5"
  templates_dir: ""                     # files here override the embedded pages one by one
webauthn:
  rp_name: Latchkey
  rp_id: localhost                      # defaults to the issuer's host
clients:
  - id: shop
    name: Shop
    secret: "${SHOP_SECRET}"            # absent for public clients (PKCE S256 required)
    public: false
    redirect_uris: [ "https://shop.example/callback" ]
    post_logout_redirect_uris: [ "https://shop.example/" ]
    scopes: [ openid, profile, email, offline_access ]
    grant_types: [ authorization_code, refresh_token ]   # or client_credentials
    skip_consent: false                 # first-party apps may skip the consent screen
    min_acr: mfa                        # the weakest sign-in this app accepts
    step_up_max_age: 10m                # optional: a 2nd factor older than this is asked again
    remember_browser: true              # false: a remembered browser never stands in here
    backchannel_logout_uri: https://shop.example/backchannel-logout   # optional
`

const (
	secret32 = "0123456789abcdef0123456789abcdef"
	secret40 = "shop-secret-shop-secret-shop-secret-0000"
)

func TestDefaultValidates(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
	if Default().DevMode {
		t.Fatal("Default().DevMode = true, want false")
	}
}

func TestLoadEmptyPathIsDevMode(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if !c.DevMode {
		t.Fatal("Load(\"\").DevMode = false, want true")
	}
	want := Default()
	want.DevMode = true
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("Load(\"\") = %+v, want defaults", c)
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "latchkey.yaml")
	if err := os.WriteFile(path, []byte("signup: false\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.DevMode || c.Signup {
		t.Fatalf("DevMode=%v Signup=%v, want false false", c.DevMode, c.Signup)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Fatal("Load of a missing file succeeded")
	}
}

func TestSpecExample(t *testing.T) {
	t.Setenv("LATCHKEY_SECRET", secret32)
	t.Setenv("SHOP_SECRET", secret40)
	c, err := LoadBytes([]byte(specExample))
	if err != nil {
		t.Fatalf("LoadBytes: %v", err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate:\n%v", err)
	}
	if got := c.Secrets.Keys; len(got) != 1 || got[0] != secret32 {
		t.Errorf("secrets.keys = %q", got)
	}
	shop := c.Clients[0]
	if shop.Secret != secret40 || shop.Name != "Shop" || shop.MinACR != "mfa" || len(shop.Scopes) != 4 {
		t.Errorf("client = %+v", shop)
	}
	if c.MagicLink.TTL.Duration != 15*time.Minute {
		t.Errorf("ttl = %v", c.MagicLink.TTL)
	}
	if shop.StepUpMaxAge.Duration != 10*time.Minute || !shop.RemembersBrowser() {
		t.Errorf("shop step_up_max_age = %v, remembers browser = %v", shop.StepUpMaxAge, shop.RemembersBrowser())
	}
	// The spec's example spells out every default, so it must equal Default() but for clients and secrets.
	d := Default()
	d.Secrets, d.Clients = c.Secrets, c.Clients
	d.WebAuthn.RPID = "localhost" // written out in the example; derived from the issuer by default
	d.TrustedProxies = []string{} // an explicit [] is kept as an empty list
	if !reflect.DeepEqual(c, d) {
		t.Errorf("spec example differs from Default():\n got %+v\nwant %+v", c, d)
	}
	if c.RPID() != "localhost" {
		t.Errorf("RPID() = %q", c.RPID())
	}
	if got := c.Origins(); !reflect.DeepEqual(got, []string{"http://localhost:8080"}) {
		t.Errorf("Origins() = %q", got)
	}
}

func TestEmptyFileIsAllDefaults(t *testing.T) {
	for _, in := range []string{"", "\n", "# only a comment\n", "---\n", "~\n"} {
		c, err := LoadBytes([]byte(in))
		if err != nil {
			t.Fatalf("LoadBytes(%q): %v", in, err)
		}
		if !reflect.DeepEqual(c, Default()) {
			t.Errorf("LoadBytes(%q) = %+v, want Default()", in, c)
		}
	}
}

func TestAbsentAndNullKeysKeepDefaults(t *testing.T) {
	c, err := LoadBytes([]byte("signup: false\ntotp:\n  skew: 0\ndatabase:\nmail:\n  from:\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Signup {
		t.Error("signup: false did not stick")
	}
	if c.TOTP.Skew != 0 || c.TOTP.IssuerLabel != "Latchkey" {
		t.Errorf("totp = %+v, want skew 0 and the default label", c.TOTP)
	}
	if c.Database.DSN != "sqlite://latchkey.db" || c.Mail.From != "Latchkey <no-reply@localhost>" {
		t.Errorf("null keys lost their defaults: %+v %+v", c.Database, c.Mail)
	}
}

func TestClientDefaults(t *testing.T) {
	c, err := LoadBytes([]byte(`
clients:
  - id: app
    public: true
    redirect_uris: ["http://localhost:3000/cb"]
  - id: other
    name: Other App
    public: true
    scopes: [openid]
    grant_types: [authorization_code]
    min_acr: phr
    step_up_max_age: 10m
    remember_browser: false
    redirect_uris: ["http://localhost:3000/cb"]
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		got, want any
	}{
		{c.Clients[0].Name, "app"},
		{c.Clients[0].Scopes, []string{"openid", "profile", "email"}},
		{c.Clients[0].GrantTypes, []string{"authorization_code", "refresh_token"}},
		{c.Clients[0].MinACR, "1fa"},
		{c.Clients[1].Name, "Other App"},
		{c.Clients[1].Scopes, []string{"openid"}},
		{c.Clients[1].GrantTypes, []string{"authorization_code"}},
		{c.Clients[1].MinACR, "phr"},
		{c.Clients[0].StepUpMaxAge.Duration, time.Duration(0)},
		{c.Clients[1].StepUpMaxAge.Duration, 10 * time.Minute},
		{c.Clients[0].RemembersBrowser(), true},
		{c.Clients[1].RemembersBrowser(), false},
	}
	for i, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("case %d: got %v, want %v", i, tt.got, tt.want)
		}
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	// Defaults must be copies: editing one client must not change another.
	c.Clients[0].Scopes[0] = "changed"
	if defaultClientScopes[0] != "openid" {
		t.Error("client scopes alias the package default")
	}
}

func TestExplicitEmptyListIsKept(t *testing.T) {
	c, err := LoadBytes([]byte("clients:\n  - id: app\n    public: true\n    scopes: []\n    redirect_uris: [\"http://localhost/cb\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s := c.Clients[0].Scopes; s == nil || len(s) != 0 {
		t.Fatalf("scopes = %#v, want an empty non-nil list", s)
	}
	assertLines(t, c.Validate(), "clients[0].scopes: must include openid with the authorization_code grant")
}

func TestIssuerTrailingSlashStripped(t *testing.T) {
	c, err := LoadBytes([]byte("issuer: https://id.example.com/\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Issuer != "https://id.example.com" {
		t.Fatalf("issuer = %q", c.Issuer)
	}
	if got := c.IssuerURL().String(); got != "https://id.example.com" {
		t.Fatalf("IssuerURL() = %q", got)
	}
}

func TestDerivedWebAuthn(t *testing.T) {
	tests := []struct {
		yaml        string
		rpID        string
		origins     []string
		wantOrigins []string
	}{
		{"issuer: https://ID.Example.com:8443/auth", "id.example.com", nil, []string{"https://id.example.com:8443"}},
		{"issuer: https://id.example.com\nwebauthn:\n  rp_id: example.com\n  origins: [https://id.example.com]", "example.com", nil, []string{"https://id.example.com"}},
	}
	for _, tt := range tests {
		c, err := LoadBytes([]byte(tt.yaml))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("%q: %v", tt.yaml, err)
		}
		if c.RPID() != tt.rpID {
			t.Errorf("%q: RPID() = %q, want %q", tt.yaml, c.RPID(), tt.rpID)
		}
		got := c.Origins()
		if !reflect.DeepEqual(got, tt.wantOrigins) {
			t.Errorf("%q: Origins() = %q, want %q", tt.yaml, got, tt.wantOrigins)
		}
		got[0] = "mutated"
		if c.Origins()[0] == "mutated" {
			t.Error("Origins() returned the config's own slice")
		}
	}
}

func TestDurationYAMLRoundTrip(t *testing.T) {
	for _, d := range []time.Duration{15 * time.Minute, time.Hour, 90 * time.Minute, 30 * time.Second} {
		out, err := yaml.Marshal(MagicLink{TTL: Duration{d}})
		if err != nil {
			t.Fatal(err)
		}
		var back MagicLink
		if err := yaml.Unmarshal(out, &back); err != nil {
			t.Fatalf("%s: %v", out, err)
		}
		if back.TTL.Duration != d {
			t.Errorf("round trip of %v via %q gave %v", d, out, back.TTL)
		}
	}
	out, _ := yaml.Marshal(Recovery{Delay: Duration{15 * time.Minute}})
	if string(out) != "delay: 15m\n" {
		t.Errorf("marshal = %q, want \"delay: 15m\\n\"", out)
	}
}

func TestErrorsFormat(t *testing.T) {
	errs := Errors{{Path: "issuer", Msg: "required"}, {Path: "clients[0].id", Msg: "required"}}
	if got, want := errs.Error(), "issuer: required\nclients[0].id: required"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	var target Errors
	_, err := LoadBytes([]byte("nope: 1"))
	if !errors.As(err, &target) || len(target) != 1 {
		t.Fatalf("LoadBytes error %v is not an Errors of one", err)
	}
}

func TestCheckReportsDecodeAndValidationTogether(t *testing.T) {
	t.Setenv("CHECK_UNSET_SECRET", "")
	os.Unsetenv("CHECK_UNSET_SECRET")
	path := filepath.Join(t.TempDir(), "c.yaml")
	in := `
issuer: ftp://x
singup: true
clients:
  - id: shop
    secret: ${CHECK_UNSET_SECRET}
    redirect_uris: [https://shop.example/cb]
`
	if err := os.WriteFile(path, []byte(in), 0o600); err != nil {
		t.Fatal(err)
	}
	// The secret's "required" is an echo of the unset variable and is dropped.
	assertLines(t, Check(path),
		`singup: unknown key (did you mean "signup"?)`,
		"clients[0].secret: environment variable CHECK_UNSET_SECRET is not set (nor CHECK_UNSET_SECRET_FILE)",
		"issuer: must be an absolute http(s) URL",
	)
	if err := Check(""); err != nil {
		t.Fatalf("Check(\"\") = %v", err)
	}
}

// assertLines fails unless err's lines are exactly want, in order.
func assertLines(t *testing.T, err error, want ...string) {
	t.Helper()
	var got []string
	if err != nil {
		got = strings.Split(err.Error(), "\n")
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got lines:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

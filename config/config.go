package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole admin-facing configuration. Field order matters: Validate
// reports problems in this order, which is the order of the example in the spec.
type Config struct {
	Issuer          string          `yaml:"issuer"`
	Listen          string          `yaml:"listen"`
	Database        Database        `yaml:"database"`
	Secrets         Secrets         `yaml:"secrets"`
	Signup          bool            `yaml:"signup"`
	Mail            Mail            `yaml:"mail"`
	TOTP            TOTP            `yaml:"totp"`
	MagicLink       MagicLink       `yaml:"magic_link"`
	Recovery        Recovery        `yaml:"recovery"`
	RememberBrowser RememberBrowser `yaml:"remember_browser"`
	Lockout         Lockout         `yaml:"lockout"`
	Signing         Signing         `yaml:"signing"`
	Tokens          Tokens          `yaml:"tokens"`
	Log             Log             `yaml:"log"`
	Metrics         Metrics         `yaml:"metrics"`
	TrustedProxies  []string        `yaml:"trusted_proxies"`
	Branding        Branding        `yaml:"branding"`
	WebAuthn        WebAuthn        `yaml:"webauthn"`
	Clients         []Client        `yaml:"clients"`
	// DevMode is true when no config file was given: the server then enables the /demo client
	// and may generate a secret. Not a YAML key.
	DevMode bool `yaml:"-"`
}

type Database struct {
	DSN string `yaml:"dsn"`
}

// Secrets.Keys: the first encrypts, all decrypt, so keys can be rotated.
type Secrets struct {
	Keys []string `yaml:"keys"`
}

type Mail struct {
	From    string `yaml:"from"`
	SMTPURL string `yaml:"smtp_url"`
}

type TOTP struct {
	IssuerLabel string `yaml:"issuer_label"`
	Skew        int    `yaml:"skew"`
}

type MagicLink struct {
	TTL Duration `yaml:"ttl"`
	// SecondFactor lets an emailed code serve as the second factor after a
	// password, for users without TOTP or a passkey.
	SecondFactor bool `yaml:"second_factor"`
}

// Recovery is factor recovery for a user who lost every second factor: the
// removal waits Delay, during which the user is mailed and can cancel.
type Recovery struct {
	Delay Duration `yaml:"delay"`
}

// RememberBrowser: after a second factor a browser may stand in for it at
// mfa for TTL. Zero turns the feature off.
type RememberBrowser struct {
	TTL Duration `yaml:"ttl"`
}

// Lockout: MaxFailures wrong answers to guessable factors for one account
// within Window lock those factors for Duration.
type Lockout struct {
	MaxFailures int      `yaml:"max_failures"`
	Window      Duration `yaml:"window"`
	Duration    Duration `yaml:"duration"`
}

type Signing struct {
	Alg string `yaml:"alg"`
}

type Tokens struct {
	AccessTokenTTL  Duration `yaml:"access_token_ttl"`
	IDTokenTTL      Duration `yaml:"id_token_ttl"`
	RefreshTokenTTL Duration `yaml:"refresh_token_ttl"`
	// RefreshReuseGrace: a rotated refresh token presented again within this
	// is taken for parallel requests of one RP, not for theft.
	RefreshReuseGrace Duration `yaml:"refresh_reuse_grace"`
}

type Log struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// Metrics.Listen serves Prometheus /metrics on its own address; "" is off.
type Metrics struct {
	Listen string `yaml:"listen"`
}

type Branding struct {
	Name         string `yaml:"name"`
	LogoURL      string `yaml:"logo_url"`
	PrimaryColor string `yaml:"primary_color"`
	TemplatesDir string `yaml:"templates_dir"`
}

type WebAuthn struct {
	RPName  string   `yaml:"rp_name"`
	RPID    string   `yaml:"rp_id"`
	Origins []string `yaml:"origins"`
}

type Client struct {
	ID                     string   `yaml:"id"`
	Name                   string   `yaml:"name"`
	Secret                 string   `yaml:"secret"`
	Public                 bool     `yaml:"public"`
	RedirectURIs           []string `yaml:"redirect_uris"`
	PostLogoutRedirectURIs []string `yaml:"post_logout_redirect_uris"`
	Scopes                 []string `yaml:"scopes"`
	GrantTypes             []string `yaml:"grant_types"`
	SkipConsent            bool     `yaml:"skip_consent"`
	MinACR                 string   `yaml:"min_acr"`
	// StepUpMaxAge: a second factor older than this is asked again; zero
	// means a session's second factor counts for the session's life.
	StepUpMaxAge Duration `yaml:"step_up_max_age"`
	// RememberBrowser is nil when absent, which means true: use
	// RemembersBrowser to read it.
	RememberBrowser      *bool  `yaml:"remember_browser"`
	BackchannelLogoutURI string `yaml:"backchannel_logout_uri"`
}

// RemembersBrowser reports whether a remembered browser may stand in for the
// second factor at this client (the default).
func (c Client) RemembersBrowser() bool { return c.RememberBrowser == nil || *c.RememberBrowser }

// ACRLevels are the acr values, weakest first, so an index comparison orders them.
var ACRLevels = []string{"1fa", "mfa", "phr", "phrh"}

// SigningAlgs are the ID token signing algorithms; the first is the default.
var SigningAlgs = []string{"RS256", "ES256"}

var (
	LogLevels  = []string{"debug", "info", "warn", "error"}
	LogFormats = []string{"text", "json"}
)

var KnownScopes = []string{"openid", "profile", "email", "offline_access"}

var KnownGrantTypes = []string{"authorization_code", "refresh_token", "client_credentials"}

// Duration exists because time.Duration decodes from YAML as an integer of
// nanoseconds, which no admin wants to write; this one reads and writes "15m".
type Duration struct{ time.Duration }

func (d Duration) MarshalText() ([]byte, error) { return []byte(d.short()), nil }

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

func (d Duration) MarshalYAML() (any, error) { return d.short(), nil }

func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	return d.UnmarshalText([]byte(s))
}

// short drops the zero tails of time.Duration.String ("15m0s" -> "15m") so a
// marshalled config reads like the one the admin wrote.
func (d Duration) short() string {
	s := d.Duration.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Default is the zero-flag configuration: a working local IdP, so that
// `latchkey serve` with no file is the newcomer's first command.
func Default() *Config {
	return &Config{
		Issuer:   "http://localhost:8080",
		Listen:   "127.0.0.1:8080",
		Database: Database{DSN: "sqlite://latchkey.db"},
		Signup:   true,
		Mail: Mail{
			From:    "Latchkey <no-reply@localhost>",
			SMTPURL: "log",
		},
		TOTP:            TOTP{IssuerLabel: "Latchkey", Skew: 1},
		MagicLink:       MagicLink{TTL: Duration{15 * time.Minute}},
		Recovery:        Recovery{Delay: Duration{24 * time.Hour}},
		RememberBrowser: RememberBrowser{TTL: Duration{720 * time.Hour}},
		Lockout:         Lockout{MaxFailures: 10, Window: Duration{15 * time.Minute}, Duration: Duration{15 * time.Minute}},
		Signing:         Signing{Alg: "RS256"},
		Tokens: Tokens{
			AccessTokenTTL:    Duration{time.Hour},
			IDTokenTTL:        Duration{time.Hour},
			RefreshTokenTTL:   Duration{720 * time.Hour},
			RefreshReuseGrace: Duration{10 * time.Second},
		},
		Log:      Log{Level: "info", Format: "text"},
		Branding: Branding{Name: "Latchkey", PrimaryColor: "#2151c5"},
		WebAuthn: WebAuthn{RPName: "Latchkey"},
	}
}

// Per-client defaults, applied when the key is absent. An explicit empty list
// (scopes: []) is kept, so Validate can tell the admin it makes no sense.
var (
	defaultClientScopes     = []string{"openid", "profile", "email"}
	defaultClientGrantTypes = []string{"authorization_code", "refresh_token"}
)

const defaultClientMinACR = "1fa"

// Load reads the file at path. An empty path means "no config file": the
// defaults in dev mode.
func Load(path string) (*Config, error) {
	if path == "" {
		c := Default()
		c.DevMode = true
		return c, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return LoadBytes(data)
}

// LoadBytes decodes a config file. Field-level problems come back as an Errors
// value listing all of them; a YAML syntax error is a plain error, since it has
// no field path. It does not call Validate, so callers decide when to check.
func LoadBytes(data []byte) (*Config, error) {
	c, errs, err := decode(data)
	if err != nil {
		return nil, err
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return c, nil
}

// Check loads and validates the file for `latchkey config check`. Unlike Load
// followed by Validate, when decoding finds problems it still validates what
// could be decoded, so the admin sees every problem in one run instead of
// fixing the file in rounds. Validation problems at or under a path that
// already failed to decode are dropped, being echoes of the same mistake.
func Check(path string) error {
	if path == "" {
		return Default().Validate()
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	c, errs, err := decode(data)
	if err != nil {
		return err
	}
	var verrs Errors
	if vErr := c.Validate(); vErr != nil {
		if !errors.As(vErr, &verrs) {
			return vErr
		}
	}
	for _, ve := range verrs {
		if !slices.ContainsFunc(errs, func(de FieldError) bool { return covers(de.Path, ve.Path) }) {
			errs = append(errs, ve)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// covers reports whether path p is q or one of q's ancestors.
func covers(p, q string) bool {
	if p == rootPath || p == q {
		return true
	}
	return strings.HasPrefix(q, p) && (q[len(p)] == '.' || q[len(p)] == '[')
}

// finish applies what can only be decided once the whole file is read.
func (c *Config) finish() {
	// A trailing slash would make every endpoint URL built from the issuer
	// contain "//" and the iss claim differ from what RPs configured.
	c.Issuer = strings.TrimRight(c.Issuer, "/")
	for i := range c.Clients {
		cl := &c.Clients[i]
		if cl.Name == "" {
			cl.Name = cl.ID
		}
		if cl.Scopes == nil {
			cl.Scopes = slices.Clone(defaultClientScopes)
		}
		if cl.GrantTypes == nil {
			cl.GrantTypes = slices.Clone(defaultClientGrantTypes)
		}
		if cl.MinACR == "" {
			cl.MinACR = defaultClientMinACR
		}
	}
}

// IssuerURL is the parsed issuer, or nil when it does not parse; call it only
// after Validate has passed.
func (c *Config) IssuerURL() *url.URL {
	u, err := url.Parse(c.Issuer)
	if err != nil {
		return nil
	}
	return u
}

// RPID is the WebAuthn relying party ID. It defaults to the issuer's host
// because that is the only value the browser accepts without further thought.
func (c *Config) RPID() string {
	if c.WebAuthn.RPID != "" {
		return strings.ToLower(c.WebAuthn.RPID)
	}
	u := c.IssuerURL()
	if u == nil {
		return ""
	}
	return strings.ToLower(u.Hostname())
}

// Origins are the origins passkey ceremonies may come from. It defaults to the
// issuer's origin because the hosted login pages run there. The result is a
// copy, so callers can not change the config through it.
func (c *Config) Origins() []string {
	if len(c.WebAuthn.Origins) > 0 {
		return slices.Clone(c.WebAuthn.Origins)
	}
	if o := issuerOrigin(c.IssuerURL()); o != "" {
		return []string{o}
	}
	return nil
}

func issuerOrigin(u *url.URL) string {
	if u == nil || u.Host == "" {
		return ""
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host)
}

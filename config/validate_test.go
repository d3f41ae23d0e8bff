package config

import (
	"testing"
	"time"
)

// pub is a valid public client to which each case adds one mistake.
const pub = "clients:\n  - id: app\n    public: true\n    redirect_uris: [\"http://localhost:3000/cb\"]\n"

func TestValidateRules(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // nil: valid
	}{
		// issuer
		{"issuer https with path", "issuer: https://id.example.com/auth", nil},
		{"issuer http on loopback ip", "issuer: http://127.0.0.1:8080", nil},
		{"issuer http on ::1", "issuer: http://[::1]:8080", nil},
		{"issuer empty", `issuer: ""`, []string{"issuer: required"}},
		{"issuer not http", "issuer: ftp://id.example.com", []string{"issuer: must be an absolute http(s) URL"}},
		{"issuer relative", "issuer: id.example.com", []string{"issuer: must be an absolute http(s) URL"}},
		{"issuer query", "issuer: https://id.example.com?a=b", []string{"issuer: must not have a query or fragment"}},
		{"issuer fragment", "issuer: https://id.example.com#x", []string{"issuer: must not have a query or fragment"}},
		{"issuer credentials", "issuer: https://u:p@id.example.com", []string{"issuer: must not contain a user or password"}},
		{"issuer http public host", "issuer: http://id.example.com",
			[]string{"issuer: http is only allowed for localhost or a loopback address; use https"}},

		// listen
		{"listen all interfaces", `listen: ":8080"`, nil},
		{"listen no port", "listen: localhost", []string{"listen: must be host:port, e.g. 127.0.0.1:8080"}},
		{"listen port zero", "listen: 127.0.0.1:0", []string{"listen: port must be between 1 and 65535"}},
		{"listen port too big", "listen: 127.0.0.1:70000", []string{"listen: port must be between 1 and 65535"}},
		{"listen port name", "listen: 127.0.0.1:http", []string{"listen: port must be between 1 and 65535"}},

		// database
		{"dsn absolute sqlite", "database: {dsn: 'sqlite:///var/lib/latchkey.db'}", nil},
		{"dsn postgres with secret", "database: {dsn: 'postgresql://u:p@db:5432/lk'}\nsecrets: {keys: [" + secret32 + "]}", nil},
		{"dsn empty sqlite path", "database: {dsn: 'sqlite://'}",
			[]string{"database.dsn: sqlite needs a file path: sqlite://latchkey.db (relative) or sqlite:///abs/path.db"}},
		{"dsn unsupported", "database: {dsn: 'mysql://u:p@db/lk'}",
			[]string{"database.dsn: unsupported database; use sqlite://PATH or postgres://user:pass@host:5432/db"}},
		{"dsn empty", "database: {dsn: ''}", []string{"database.dsn: required"}},
		{"dsn sqlite tuned", "database: {dsn: 'sqlite://l.db?_busy_timeout=2000&_synchronous=FULL&_journal_size_limit=16777216'}", nil},
		{"dsn sqlite txlock is ours", "database: {dsn: 'sqlite://l.db?_txlock=deferred&_sync=sometimes'}",
			[]string{"database.dsn: parameter _sync: want OFF, NORMAL, FULL or EXTRA",
				"database.dsn: parameter _txlock is set by Latchkey and cannot be changed (transactions take the write lock up front (immediate) so they never deadlock)"}},
		{"dsn postgres pool size", "database: {dsn: 'postgres://u:p@db/lk?pool_max_conns=5000'}\nsecrets: {keys: [" + secret32 + "]}",
			[]string{"database.dsn: parameter pool_max_conns: want one whole number from 1 to 1000"}},
		{"dsn bad postgres url", "database: {dsn: 'postgres://u:p@[db/lk'}\nsecrets: {keys: [" + secret32 + "]}",
			[]string{"database.dsn: not a valid PostgreSQL URL"}},

		// secrets
		{"postgres without keys", "database: {dsn: 'postgres://u:p@db/lk'}",
			[]string{"secrets.keys: required with a PostgreSQL database (every replica must share them)"}},
		{"short key", "secrets: {keys: [short]}", []string{"secrets.keys[0]: too short: at least 32 characters"}},
		{"duplicate key", "secrets: {keys: [" + secret32 + ", " + secret40 + ", " + secret32 + "]}",
			[]string{"secrets.keys[2]: duplicate of secrets.keys[0]"}},

		// mail
		{"mail bare address", "mail: {from: no-reply@example.com}", nil},
		{"mail from invalid", "mail: {from: 'not an address'}",
			[]string{`mail.from: not a valid address, e.g. "Latchkey <no-reply@example.com>"`}},
		{"mail from empty", "mail: {from: ''}", []string{"mail.from: required"}},
		{"smtp with auth", "mail: {smtp_url: 'smtp://u:p@mail.example.com:587'}", nil},
		{"smtps", "mail: {smtp_url: 'smtps://mail.example.com:465'}", nil},
		{"smtp wrong scheme", "mail: {smtp_url: 'http://mail.example.com'}",
			[]string{`mail.smtp_url: must be "log", smtp://[user:pass@]host[:port][?tls=none] or smtps://[user:pass@]host[:port]`}},
		{"smtp no host", "mail: {smtp_url: 'smtp://'}",
			[]string{`mail.smtp_url: must be "log", smtp://[user:pass@]host[:port][?tls=none] or smtps://[user:pass@]host[:port]`}},
		{"smtp bad port", "mail: {smtp_url: 'smtp://mail.example.com:99999'}", []string{"mail.smtp_url: port must be between 1 and 65535"}},
		{"smtp plain to a remote host", "mail: {smtp_url: 'smtp://u:p@mail.example.com:25?tls=none'}",
			[]string{"mail.smtp_url: plain SMTP (tls=none) only to a loopback host; use smtp:// (STARTTLS) or smtps:// (implicit TLS)"}},
		{"smtp plain to a remote IP", "mail: {smtp_url: 'smtp://192.0.2.1:25?tls=none'}",
			[]string{"mail.smtp_url: plain SMTP (tls=none) only to a loopback host; use smtp:// (STARTTLS) or smtps:// (implicit TLS)"}},
		{"smtp plain to loopback", "mail: {smtp_url: 'smtp://127.0.0.1:1025?tls=none'}", nil},
		{"smtp plain to localhost", "mail: {smtp_url: 'smtp://localhost:1025?tls=none'}", nil},
		{"smtp plain to ::1", "mail: {smtp_url: 'smtp://[::1]:1025?tls=none'}", nil},
		{"smtps with tls=none", "mail: {smtp_url: 'smtps://localhost?tls=none'}",
			[]string{`mail.smtp_url: must be "log", smtp://[user:pass@]host[:port][?tls=none] or smtps://[user:pass@]host[:port]`}},
		{"smtp other query", "mail: {smtp_url: 'smtp://mail.example.com?auth=x'}",
			[]string{`mail.smtp_url: must be "log", smtp://[user:pass@]host[:port][?tls=none] or smtps://[user:pass@]host[:port]`}},
		{"smtp empty", "mail: {smtp_url: ''}", []string{`mail.smtp_url: required (use "log" to print mails to the log)`}},

		// totp
		{"totp skew 0", "totp: {skew: 0}", nil},
		{"totp skew 3", "totp: {skew: 3}", nil},
		{"totp skew 4", "totp: {skew: 4}", []string{"totp.skew: must be between 0 and 3"}},
		{"totp skew negative", "totp: {skew: -1}", []string{"totp.skew: must be between 0 and 3"}},
		{"totp label colon", "totp: {issuer_label: 'Shop: ID'}",
			[]string{"totp.issuer_label: must not contain ':' (it separates issuer and account in authenticator apps)"}},
		{"totp label empty", "totp: {issuer_label: ''}", []string{"totp.issuer_label: required"}},

		// magic link
		{"ttl 1m", "magic_link: {ttl: 1m}", nil},
		{"ttl 24h", "magic_link: {ttl: 24h}", nil},
		{"ttl too short", "magic_link: {ttl: 30s}", []string{"magic_link.ttl: must be between 1m and 24h"}},
		{"ttl too long", "magic_link: {ttl: 25h}", []string{"magic_link.ttl: must be between 1m and 24h"}},

		// recovery, remember_browser, lockout, signing, tokens, log, metrics, proxies, branding
		{"recovery delay 1h", "recovery: {delay: 1h}", nil},
		{"recovery delay too short", "recovery: {delay: 10s}", []string{"recovery.delay: must be between 1m and 2160h"}},
		{"remember off", "remember_browser: {ttl: 0s}", nil},
		{"remember negative", "remember_browser: {ttl: -1h}", []string{"remember_browser.ttl: must be between 0s and 8760h"}},
		{"lockout zero failures", "lockout: {max_failures: 0}", []string{"lockout.max_failures: must be between 1 and 1000"}},
		{"lockout window", "lockout: {window: 25h, duration: 30s}",
			[]string{"lockout.window: must be between 1m and 24h", "lockout.duration: must be between 1m and 24h"}},
		{"signing es256", "signing: {alg: ES256}", nil},
		{"signing lowercase", "signing: {alg: es256}", []string{`signing.alg: unknown value "es256"; use one of RS256, ES256`}},
		{"tokens good", "tokens: {access_token_ttl: 5m, id_token_ttl: 5m, refresh_token_ttl: 24h, refresh_reuse_grace: 0s}", nil},
		{"tokens grace too long", "tokens: {refresh_reuse_grace: 1h}", []string{"tokens.refresh_reuse_grace: must be between 0s and 5m"}},
		{"tokens access too long", "tokens: {access_token_ttl: 48h}", []string{"tokens.access_token_ttl: must be between 1m and 24h"}},
		{"log json debug", "log: {level: debug, format: json}", nil},
		{"log level typo", "log: {level: verbose}", []string{`log.level: unknown value "verbose"; use one of debug, info, warn, error`}},
		{"log format typo", "log: {format: logfmt}", []string{`log.format: unknown value "logfmt"; use one of text, json`}},
		{"metrics listen", "metrics: {listen: '127.0.0.1:9464'}", nil},
		{"metrics listen bad", "metrics: {listen: '9464'}", []string{"metrics.listen: must be host:port, e.g. 127.0.0.1:8080"}},
		{"proxies", "trusted_proxies: [10.0.0.0/8, '::1', 192.168.1.7]", nil},
		{"proxies bad", "trusted_proxies: [10.0.0.0/8, 10.0.0.0/33, proxy]",
			[]string{"trusted_proxies[1]: not a CIDR (10.0.0.0/8) or an IP address", "trusted_proxies[2]: not a CIDR (10.0.0.0/8) or an IP address"}},
		{"branding good", "branding: {name: Acme, logo_url: /static/logo.svg, primary_color: '#abc'}", nil},
		{"branding bad", "branding: {name: ' ', logo_url: 'javascript:alert(1)', primary_color: blue, templates_dir: /nonexistent-latchkey}",
			[]string{"branding.name: required", "branding.logo_url: must be an absolute http(s) URL or a path starting with /",
				"branding.primary_color: must be a hex colour such as #2151c5", "branding.templates_dir: not a readable directory"}},
		{"branding protocol-relative logo", "branding: {logo_url: '//evil.example/x.png'}",
			[]string{"branding.logo_url: must be an absolute http(s) URL or a path starting with /"}},

		// webauthn
		{"rp_id parent domain", "issuer: https://id.example.com\nwebauthn: {rp_id: example.com}", nil},
		{"rp_name empty", "webauthn: {rp_name: ''}", []string{"webauthn.rp_name: required"}},
		{"rp_id unrelated", "issuer: https://id.example.com\nwebauthn: {rp_id: other.com}",
			[]string{`webauthn.rp_id: must be the issuer's host "id.example.com" or a registrable parent domain of it`}},
		{"rp_id lookalike suffix", "issuer: https://id.badexample.com\nwebauthn: {rp_id: example.com}",
			[]string{`webauthn.rp_id: must be the issuer's host "id.badexample.com" or a registrable parent domain of it`}},
		{"rp_id top-level domain", "issuer: https://id.example.com\nwebauthn: {rp_id: com}",
			[]string{`webauthn.rp_id: must be the issuer's host "id.example.com" or a registrable parent domain of it`}},
		{"rp_id ip", "issuer: http://127.0.0.1:8080\nwebauthn: {rp_id: 127.0.0.1}",
			[]string{"webauthn.rp_id: must be a domain name, not an IP address"}},
		{"rp_id with scheme", "webauthn: {rp_id: 'https://localhost'}",
			[]string{"webauthn.rp_id: must be a bare host name, without scheme, port or path"}},
		{"origins good", "issuer: https://id.example.com\nwebauthn: {rp_id: example.com, origins: ['https://id.example.com', 'https://app.example.com:8443']}", nil},
		{"origin with path", "webauthn: {origins: ['http://localhost:8080', 'http://localhost:8080/login']}",
			[]string{"webauthn.origins[1]: must be an origin: http(s)://host[:port], without path, query or fragment"}},
		{"origin not a URL", "webauthn: {origins: ['http://localhost:8080', 'localhost']}",
			[]string{"webauthn.origins[1]: must be an origin: http(s)://host[:port], without path, query or fragment"}},
		{"origin http public", "issuer: https://id.example.com\nwebauthn: {origins: ['https://id.example.com', 'http://id.example.com']}",
			[]string{"webauthn.origins[1]: http is only allowed for localhost or a loopback address; use https"}},
		{"origin outside rp id", "issuer: https://id.example.com\nwebauthn: {origins: ['https://id.example.com', 'https://evil.com']}",
			[]string{`webauthn.origins[1]: host must be the RP ID "id.example.com" or a subdomain of it`}},
		{"origins without the issuer", "issuer: https://id.example.com\nwebauthn: {rp_id: example.com, origins: ['https://app.example.com']}",
			[]string{`webauthn.origins: must include the issuer's origin "https://id.example.com" (the login pages run there)`}},

		// clients: ids
		{"no clients", "clients: []", nil},
		{"valid public client", pub, nil},
		{"client id missing", "clients:\n  - public: true\n    redirect_uris: [http://localhost/cb]", []string{"clients[0].id: required"}},
		{"client id bad characters", "clients:\n  - id: 'my app'\n    public: true\n    redirect_uris: [http://localhost/cb]",
			[]string{"clients[0].id: must be 1 to 64 characters from A-Z, a-z, 0-9, '.', '_' and '-'"}},
		{"client id too long", "clients:\n  - id: " + string(make65()) + "\n    public: true\n    redirect_uris: [http://localhost/cb]",
			[]string{"clients[0].id: must be 1 to 64 characters from A-Z, a-z, 0-9, '.', '_' and '-'"}},
		{"client id duplicate", pub + "  - id: app\n    public: true\n    redirect_uris: [http://localhost/cb]",
			[]string{"clients[1].id: duplicate of clients[0].id"}},

		// clients: secrets
		{"public with secret", pub + "    secret: " + secret32, []string{"clients[0].secret: a public client must not have a secret"}},
		{"confidential without secret", "clients:\n  - id: app\n    redirect_uris: [https://app.example/cb]",
			[]string{"clients[0].secret: required for a confidential client (or set public: true)"}},
		{"confidential short secret", "clients:\n  - id: app\n    secret: hunter2\n    redirect_uris: [https://app.example/cb]",
			[]string{"clients[0].secret: too short: at least 32 characters"}},

		// clients: grant types
		{"machine client", "clients:\n  - id: cron\n    secret: " + secret32 + "\n    grant_types: [client_credentials]", nil},
		{"unknown grant", pub + "    grant_types: [authorization_code, implicit]",
			[]string{`clients[0].grant_types[1]: unknown grant type "implicit"; use one of authorization_code, refresh_token, client_credentials`}},
		{"client_credentials public", pub + "    grant_types: [authorization_code, client_credentials]",
			[]string{"clients[0].grant_types[1]: client_credentials needs a confidential client (public: false with a secret)"}},
		{"no grant types", "clients:\n  - id: app\n    public: true\n    grant_types: []",
			[]string{"clients[0].grant_types: at least one is required"}},
		{"duplicate grant", pub + "    grant_types: [authorization_code, authorization_code]",
			[]string{"clients[0].grant_types[1]: duplicate of clients[0].grant_types[0]"}},

		// clients: redirect URIs
		{"redirect_uris required", "clients:\n  - id: app\n    public: true",
			[]string{"clients[0].redirect_uris: required with the authorization_code grant"}},
		{"redirect relative", "clients:\n  - id: app\n    public: true\n    redirect_uris: ['https://app.example/cb', '/cb']",
			[]string{"clients[0].redirect_uris[1]: not an absolute URL"}},
		{"redirect without scheme", "clients:\n  - id: app\n    public: true\n    redirect_uris: ['localhost:3000/cb']",
			[]string{"clients[0].redirect_uris[0]: not an absolute URL"}},
		{"redirect fragment", "clients:\n  - id: app\n    public: true\n    redirect_uris: ['https://app.example/cb#x']",
			[]string{"clients[0].redirect_uris[0]: must not have a fragment"}},
		{"redirect http public", "clients:\n  - id: app\n    public: true\n    redirect_uris: ['http://app.example/cb']",
			[]string{"clients[0].redirect_uris[0]: http is only allowed for loopback hosts (localhost, 127.0.0.1, ::1); use https"}},
		{"redirect http loopback forms", "clients:\n  - id: app\n    public: true\n    redirect_uris: ['http://127.0.0.2:9/cb', 'http://[::1]/cb', 'http://LOCALHOST/cb']", nil},
		{"redirect native scheme", "clients:\n  - id: app\n    public: true\n    redirect_uris: ['com.example.app:/oauth2redirect', 'myapp://callback']", nil},
		{"redirect javascript", "clients:\n  - id: app\n    public: true\n    redirect_uris: ['javascript://x/%0aalert(1)']",
			[]string{`clients[0].redirect_uris[0]: scheme "javascript" is not allowed`}},
		{"redirect https no host", "clients:\n  - id: app\n    public: true\n    redirect_uris: ['https:///cb']",
			[]string{"clients[0].redirect_uris[0]: must have a host"}},
		{"redirect duplicate", "clients:\n  - id: app\n    public: true\n    redirect_uris: ['https://app.example/cb', 'https://app.example/cb']",
			[]string{"clients[0].redirect_uris[1]: duplicate of clients[0].redirect_uris[0]"}},
		{"post logout relative", pub + "    post_logout_redirect_uris: ['/bye']",
			[]string{"clients[0].post_logout_redirect_uris[0]: not an absolute URL"}},

		// clients: scopes, acr, back-channel
		{"unknown scope", pub + "    scopes: [openid, groups]",
			[]string{`clients[0].scopes[1]: unknown scope "groups"; use one of openid, profile, email, offline_access`}},
		{"openid missing", pub + "    scopes: [profile]",
			[]string{"clients[0].scopes: must include openid with the authorization_code grant"}},
		{"duplicate scope", pub + "    scopes: [openid, email, email]",
			[]string{"clients[0].scopes[2]: duplicate of clients[0].scopes[1]"}},
		{"step_up_max_age short", pub + "    step_up_max_age: 30s",
			[]string{"clients[0].step_up_max_age: must be at least 1m (or absent)"}},
		{"step_up_max_age negative", pub + "    step_up_max_age: -5m",
			[]string{"clients[0].step_up_max_age: must not be negative"}},
		{"min_acr unknown", pub + "    min_acr: 2fa",
			[]string{`clients[0].min_acr: unknown level "2fa"; use one of 1fa, mfa, phr, phrh`}},
		{"backchannel good", pub + "    backchannel_logout_uri: https://app.example/bcl", nil},
		{"backchannel relative", pub + "    backchannel_logout_uri: /bcl",
			[]string{"clients[0].backchannel_logout_uri: must be an absolute http(s) URL without a fragment"}},
		{"backchannel custom scheme", pub + "    backchannel_logout_uri: myapp://bcl",
			[]string{"clients[0].backchannel_logout_uri: must be an absolute http(s) URL without a fragment"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := LoadBytes([]byte(tt.yaml))
			if err != nil {
				t.Fatalf("LoadBytes: %v", err)
			}
			assertLines(t, c.Validate(), tt.want...)
		})
	}
}

func make65() []byte {
	b := make([]byte, 65)
	for i := range b {
		b[i] = 'a'
	}
	return b
}

func TestThreeMistakesInOrder(t *testing.T) {
	in := `
clients:
  - id: app
    public: true
    redirect_uris: ["https://app.example/cb", "/relative"]
totp:
  skew: 9
issuer: ftp://id.example.com
`
	c, err := LoadBytes([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	// Field order, not the order the admin happened to write the sections in.
	assertLines(t, c.Validate(),
		"issuer: must be an absolute http(s) URL",
		"totp.skew: must be between 0 and 3",
		"clients[0].redirect_uris[1]: not an absolute URL",
	)
}

func TestValidateCollectsEverythingInFieldOrder(t *testing.T) {
	c := &Config{
		Clients: []Client{{ID: "a b", Secret: "x", GrantTypes: []string{"password"}, MinACR: "1fa"}},
	}
	assertLines(t, c.Validate(),
		"issuer: required",
		"listen: must be host:port, e.g. 127.0.0.1:8080",
		"database.dsn: required",
		"mail.from: required",
		`mail.smtp_url: required (use "log" to print mails to the log)`,
		"totp.issuer_label: required",
		"magic_link.ttl: must be between 1m and 24h",
		"recovery.delay: must be between 1m and 2160h",
		"lockout.max_failures: must be between 1 and 1000",
		"lockout.window: must be between 1m and 24h",
		"lockout.duration: must be between 1m and 24h",
		`signing.alg: unknown value ""; use one of RS256, ES256`,
		"tokens.access_token_ttl: must be between 1m and 24h",
		"tokens.id_token_ttl: must be between 1m and 24h",
		"tokens.refresh_token_ttl: must be between 1h and 8760h",
		`log.level: unknown value ""; use one of debug, info, warn, error`,
		`log.format: unknown value ""; use one of text, json`,
		"branding.name: required",
		"branding.primary_color: must be a hex colour such as #2151c5",
		"webauthn.rp_name: required",
		"clients[0].id: must be 1 to 64 characters from A-Z, a-z, 0-9, '.', '_' and '-'",
		"clients[0].secret: too short: at least 32 characters",
		`clients[0].grant_types[0]: unknown grant type "password"; use one of authorization_code, refresh_token, client_credentials`,
	)
}

func TestValidateCodeBuiltConfig(t *testing.T) {
	c := Default()
	c.Issuer = "https://id.example.com/"
	c.MagicLink.TTL = Duration{time.Hour}
	assertLines(t, c.Validate(), "issuer: must not end with a slash")
}

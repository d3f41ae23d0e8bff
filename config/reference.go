package config

import (
	"bytes"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// Key documents one setting. Path is its place in the file, with [] for
// list items (clients[].id).
type Key struct {
	Path    string
	Meaning string
	// Default is shown for keys whose default Default() cannot show (the
	// per-client ones); empty means "read it from Default()".
	Default string
}

// Reference documents every key; `config print-defaults` and
// docs/config.md are made from it, and a test fails when a field of Config
// is missing here.
var Reference = []Key{
	{Path: "issuer", Meaning: "The public URL of this server, as relying parties and browsers reach it. Every endpoint URL and the `iss` claim derive from it; it is also the WebAuthn origin."},
	{Path: "listen", Meaning: "Address and port the HTTP server binds. Changing it needs a restart."},
	{Path: "database.dsn", Meaning: "`sqlite://latchkey.db` (relative to the working directory), `sqlite:///abs/path.db`, or `postgres://user:pass@host:5432/db?sslmode=disable`. Changing it needs a restart. " +
		"SQLite query parameters override Latchkey's defaults: `_busy_timeout` (ms a write waits for the database, default 10000; 0 never waits: a write that finds another one under way fails at once), `_synchronous` (default `NORMAL`; `FULL` survives power loss at some cost per write), " +
		"`_cache_size` (pages, or KiB when negative), `_secure_delete`, `_auto_vacuum`, and `_journal_size_limit` (bytes, default 67108864, at least 1 MiB: past it the write-ahead log is checkpointed and truncated, so it stays bounded under steady load). " +
		"Latchkey owns the rest and refuses them with an error, with `latchkey check` too: `_txlock` (writes take the lock up front, so they never deadlock), `_journal_mode` (WAL lets reads run beside the one writer connection), `_foreign_keys`, `mode`, `_query_only`, `_locking_mode`, `cache`, `_loc`; an unknown parameter is an error like an unknown key. " +
		"PostgreSQL parameters go to the driver as written (`sslmode`, `connect_timeout`, `application_name`, `search_path`, `statement_timeout`...), except `pool_max_conns` (1 to 1000, default 32), the size of Latchkey's connection pool."},
	{Path: "secrets.keys", Meaning: "Keys of at least 32 characters: the first encrypts and signs cookies and sealed secrets, all decrypt, so a key can be rotated by putting the new one first. Required with PostgreSQL; with SQLite and no keys a secret is generated beside the database. Use `${LATCHKEY_SECRET}` or `LATCHKEY_SECRET_FILE`."},
	{Path: "signup", Meaning: "Whether anyone may register at `/signup`."},
	{Path: "mail.from", Meaning: "Sender of every mail."},
	{Path: "mail.smtp_url", Meaning: "`log` writes mails to the log (development); `smtp://user:pass@host:587` (STARTTLS; plain only to a loopback host) or `smtps://host:465` (implicit TLS)."},
	{Path: "totp.issuer_label", Meaning: "The name authenticator apps show next to the account."},
	{Path: "totp.skew", Meaning: "Accepted 30-second steps either side of now."},
	{Path: "magic_link.ttl", Meaning: "Lifetime of emailed links and codes; each is single use."},
	{Path: "magic_link.second_factor", Meaning: "Whether an emailed code may also serve as the second factor for users without TOTP or a passkey."},
	{Path: "recovery.delay", Meaning: "A user who lost every second factor waits this long before the factors are removed; they are mailed and can cancel."},
	{Path: "remember_browser.ttl", Meaning: "How long \"remember this browser\" after a second factor lasts; 0 turns the feature off."},
	{Path: "lockout.max_failures", Meaning: "Wrong passwords or codes per account within `lockout.window` that lock the account's guessable factors. It also throttles a client IP across accounts: past this many failures within the window each further attempt waits (250 ms, doubling to 4 s), and at five times it the IP gets 429 until `lockout.duration` has passed. 0 turns both off."},
	{Path: "lockout.window", Meaning: "The window in which failures are counted."},
	{Path: "lockout.duration", Meaning: "How long the guessable factors stay locked (passkeys and magic links still work)."},
	{Path: "signing.alg", Meaning: "ID token signing algorithm: `RS256` or `ES256`; both keys are published during a switch."},
	{Path: "tokens.access_token_ttl", Meaning: "Lifetime of access tokens."},
	{Path: "tokens.id_token_ttl", Meaning: "Lifetime of ID tokens."},
	{Path: "tokens.refresh_token_ttl", Meaning: "Lifetime of refresh tokens (rotated at each use)."},
	{Path: "tokens.refresh_reuse_grace", Meaning: "A rotated refresh token presented again within this is taken for parallel requests of one RP, not theft; after it, reuse revokes the whole family."},
	{Path: "log.level", Meaning: "`debug`, `info`, `warn` or `error`. Applied on reload."},
	{Path: "log.format", Meaning: "`text` (logfmt) or `json` (one object a line). Applied on reload."},
	{Path: "metrics.listen", Meaning: "Address serving Prometheus `/metrics` (e.g. `127.0.0.1:9464`); empty is off. Keep it off the public network. Changing it needs a restart."},
	{Path: "trusted_proxies", Meaning: "CIDRs or addresses of reverse proxies whose `X-Forwarded-For`, `X-Forwarded-Proto` and `X-Request-Id` are believed; from anyone else they are ignored."},
	{Path: "branding.name", Meaning: "Product name shown in pages and mails."},
	{Path: "branding.logo_url", Meaning: "Logo shown in the page header: an absolute http(s) URL or a path on this server."},
	{Path: "branding.primary_color", Meaning: "Accent colour of buttons and links, `#rgb` or `#rrggbb`."},
	{Path: "branding.templates_dir", Meaning: "A directory whose `*.html` files replace the embedded pages of the same name, one by one; a file that does not parse is a config error."},
	{Path: "webauthn.rp_name", Meaning: "The name authenticators show for passkeys."},
	{Path: "webauthn.rp_id", Meaning: "WebAuthn relying party ID; defaults to the issuer's host. Passkeys are bound to it: changing it orphans them."},
	{Path: "webauthn.origins", Meaning: "Origins passkey ceremonies may come from; defaults to the issuer's origin."},
	{Path: "clients", Meaning: "The relying parties (applications). Reloaded live."},
	{Path: "clients[].id", Meaning: "The `client_id`.", Default: "(required)"},
	{Path: "clients[].name", Meaning: "Shown on the sign-in and consent pages.", Default: "the id"},
	{Path: "clients[].secret", Meaning: "The client secret (at least 32 characters); absent for public clients. Use `${ENV}` or `ENV_FILE`.", Default: "(required unless public)"},
	{Path: "clients[].public", Meaning: "A public client (single-page or native app): no secret, PKCE S256 required.", Default: "false"},
	{Path: "clients[].redirect_uris", Meaning: "Exact redirect URIs the client may use.", Default: "(required)"},
	{Path: "clients[].post_logout_redirect_uris", Meaning: "Where RP-initiated logout may return to.", Default: "[]"},
	{Path: "clients[].scopes", Meaning: "Scopes the client may ask for: openid, profile, email, offline_access.", Default: "[openid, profile, email]"},
	{Path: "clients[].grant_types", Meaning: "authorization_code, refresh_token, client_credentials.", Default: "[authorization_code, refresh_token]"},
	{Path: "clients[].skip_consent", Meaning: "First-party apps may skip the consent screen.", Default: "false"},
	{Path: "clients[].min_acr", Meaning: "The weakest sign-in this app accepts: `1fa`, `mfa`, `phr` or `phrh`.", Default: "1fa"},
	{Path: "clients[].step_up_max_age", Meaning: "A second factor older than this is asked again for this app; 0: it counts for the session's life.", Default: "0"},
	{Path: "clients[].remember_browser", Meaning: "Whether a remembered browser may stand in for the second factor here.", Default: "true"},
	{Path: "clients[].backchannel_logout_uri", Meaning: "Receives OIDC back-channel logout tokens when a session ends.", Default: "\"\""},
}

// referenceKey finds the entry of path.
func referenceKey(path string) (Key, bool) {
	for _, k := range Reference {
		if k.Path == path {
			return k, true
		}
	}
	return Key{}, false
}

// exampleClient shows every client key in the printed defaults.
func exampleClient() Client {
	yes := true
	return Client{ID: "example", Name: "Example app", Secret: "${EXAMPLE_CLIENT_SECRET}",
		RedirectURIs:           []string{"https://app.example/callback"},
		PostLogoutRedirectURIs: []string{"https://app.example/"},
		Scopes:                 defaultClientScopes, GrantTypes: defaultClientGrantTypes,
		MinACR: defaultClientMinACR, RememberBrowser: &yes}
}

// DefaultsYAML is every default as a YAML file, each key commented with
// its meaning. It loads and validates as it is; the clients list is empty,
// with a commented example client.
func DefaultsYAML() ([]byte, error) {
	var doc yaml.Node
	if err := doc.Encode(Default()); err != nil {
		return nil, err
	}
	comment(&doc, "")
	var b bytes.Buffer
	b.WriteString("# Latchkey configuration: every key at its default (latchkey config print-defaults).\n")
	b.WriteString("# ${NAME} in a value is replaced by the environment variable NAME, or by the\n")
	b.WriteString("# content of the file NAME_FILE names.\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	var ex yaml.Node
	if err := ex.Encode([]Client{exampleClient()}); err != nil {
		return nil, err
	}
	comment(&ex, "clients")
	var cb bytes.Buffer
	cenc := yaml.NewEncoder(&cb)
	cenc.SetIndent(2)
	if err := cenc.Encode(&ex); err != nil {
		return nil, err
	}
	b.WriteString("# An example client; uncomment and edit:\n")
	for _, l := range strings.Split(strings.TrimRight(cb.String(), "\n"), "\n") {
		b.WriteString("#  " + l + "\n")
	}
	return b.Bytes(), nil
}

// comment attaches each key's meaning to the mapping entries under n;
// prefix is n's path.
func comment(n *yaml.Node, prefix string) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			comment(c, prefix)
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			comment(c, prefix+"[]")
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			path := k.Value
			if prefix != "" {
				path = prefix + "." + k.Value
			}
			if ref, ok := referenceKey(path); ok {
				k.HeadComment = wrap(ref.Meaning, 76)
			}
			comment(v, path)
		}
	}
}

func wrap(s string, width int) string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = w
			continue
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	if line != "" {
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n")
}

// ReferenceMarkdown is docs/config.md.
func ReferenceMarkdown() string {
	var b strings.Builder
	b.WriteString("# Configuration reference\n\n")
	b.WriteString("<!-- Generated from config/reference.go by `go test ./config -run TestConfigDocs -update`; edit there. -->\n\n")
	b.WriteString("Latchkey reads one YAML file (`--config FILE` or `LATCHKEY_CONFIG`). Every key has a default; unknown keys are an error. ")
	b.WriteString("`${NAME}` in a value is replaced by the environment variable `NAME`, or, when only `NAME_FILE` is set, by the content of that file ")
	b.WriteString("(one trailing newline dropped): the way Docker and Kubernetes pass secrets. `$${` is a literal `${`.\n\n")
	b.WriteString("`latchkey config check` lists every problem of a file, one a line, each starting with its key's path. ")
	b.WriteString("`latchkey config print-defaults` prints every default as a commented file that loads as it is. ")
	b.WriteString("A running server reloads the file on SIGHUP and when it changes; an invalid file changes nothing ")
	b.WriteString("(each problem is logged), and `listen`, `database.dsn` and `metrics.listen` need a restart.\n\n")
	b.WriteString("| Key | Default | Meaning |\n| --- | --- | --- |\n")
	defaults := defaultValues()
	for _, k := range Reference {
		def := k.Default
		if def == "" {
			def = defaults[k.Path]
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", k.Path, mdCode(def), strings.ReplaceAll(k.Meaning, "|", "\\|"))
	}
	return b.String()
}

func mdCode(s string) string {
	if s == "" || strings.HasPrefix(s, "(") || strings.Contains(s, " ") && !strings.HasPrefix(s, "[") {
		if s == "" {
			return "`\"\"`"
		}
		return s
	}
	return "`" + strings.ReplaceAll(s, "|", "\\|") + "`"
}

// defaultValues flattens Default() to path -> YAML value.
func defaultValues() map[string]string {
	var doc yaml.Node
	_ = doc.Encode(Default())
	out := map[string]string{}
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		switch n.Kind {
		case yaml.DocumentNode:
			walk(n.Content[0], prefix)
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				p := n.Content[i].Value
				if prefix != "" {
					p = prefix + "." + p
				}
				walk(n.Content[i+1], p)
			}
		case yaml.SequenceNode:
			var items []string
			for _, c := range n.Content {
				items = append(items, c.Value)
			}
			out[prefix] = "[" + strings.Join(items, ", ") + "]"
		default:
			out[prefix] = n.Value
		}
	}
	walk(&doc, "")
	return out
}

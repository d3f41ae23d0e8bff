package config

import (
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	smtpmail "latchkey/mail"
	"latchkey/store"
	"time"
	"unicode/utf8"
)

// minSecretLen is the shortest accepted encryption key or client secret: 32
// characters is enough entropy for a random string and stops "changeme".
const minSecretLen = 32

const httpOnlyLoopback = "http is only allowed for localhost or a loopback address; use https"

var clientIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Validate checks every setting and returns nil or an Errors value listing
// every problem in the order of the fields, so the admin fixes the file in
// one pass. It does not stop at the first problem and never echoes secrets.
func (c *Config) Validate() error {
	v := &validator{}
	issuer := v.issuer(c.Issuer)
	v.listen(c.Listen)
	postgres := v.database(c.Database.DSN)
	v.secrets(c.Secrets.Keys, postgres)
	v.mail(c.Mail)
	v.totp(c.TOTP)
	v.magicLink(c.MagicLink)
	v.durationRange("recovery.delay", c.Recovery.Delay, time.Minute, 90*24*time.Hour)
	v.durationRange("remember_browser.ttl", c.RememberBrowser.TTL, 0, 365*24*time.Hour)
	v.lockout(c.Lockout)
	v.oneOf("signing.alg", c.Signing.Alg, SigningAlgs)
	v.tokens(c.Tokens)
	v.oneOf("log.level", c.Log.Level, LogLevels)
	v.oneOf("log.format", c.Log.Format, LogFormats)
	if c.Metrics.Listen != "" {
		v.hostPort("metrics.listen", c.Metrics.Listen)
	}
	v.trustedProxies(c.TrustedProxies)
	v.branding(c.Branding)
	v.webauthn(c, issuer)
	v.clients(c.Clients)
	if len(v.errs) == 0 {
		return nil
	}
	return v.errs
}

type validator struct {
	errs Errors
}

func (v *validator) add(path, format string, args ...any) {
	v.errs = append(v.errs, FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// issuer returns the parsed issuer when it is good enough for the checks that
// depend on it (rp_id, origins); nil avoids piling follow-on errors onto one mistake.
func (v *validator) issuer(s string) *url.URL {
	const p = "issuer"
	if s == "" {
		v.add(p, "required")
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" {
		v.add(p, "must be an absolute http(s) URL")
		return nil
	}
	ok := true
	if u.User != nil {
		v.add(p, "must not contain a user or password")
		ok = false
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(s, "#") {
		v.add(p, "must not have a query or fragment")
		ok = false
	}
	if strings.HasSuffix(s, "/") {
		// LoadBytes strips it; this catches configs built in code.
		v.add(p, "must not end with a slash")
		ok = false
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		v.add(p, httpOnlyLoopback)
		ok = false
	}
	if !ok {
		return nil
	}
	return u
}

func (v *validator) listen(s string) { v.hostPort("listen", s) }

func (v *validator) hostPort(p, s string) {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		v.add(p, "must be host:port, e.g. 127.0.0.1:8080")
		return
	}
	if !validPort(port) {
		v.add(p, "port must be between 1 and 65535")
	}
}

func validPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 1 && n <= 65535
}

// database reports whether the DSN is PostgreSQL, which makes shared secrets
// mandatory. Messages never quote the DSN: it may hold a password.
func (v *validator) database(dsn string) (postgres bool) {
	const p = "database.dsn"
	switch {
	case dsn == "":
		v.add(p, "required")
	case strings.HasPrefix(dsn, "sqlite://"):
		path, _, _ := strings.Cut(strings.TrimPrefix(dsn, "sqlite://"), "?")
		if path == "" {
			v.add(p, "sqlite needs a file path: sqlite://latchkey.db (relative) or sqlite:///abs/path.db")
			return false
		}
		v.dsnParams(dsn)
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		if _, err := url.Parse(dsn); err != nil {
			v.add(p, "not a valid PostgreSQL URL")
			return true
		}
		v.dsnParams(dsn)
		return true
	default:
		v.add(p, "unsupported database; use sqlite://PATH or postgres://user:pass@host:5432/db")
	}
	return false
}

// dsnParams reports the query parameters the store would refuse at start
// (store.CheckDSN says which and why), one problem per parameter.
func (v *validator) dsnParams(dsn string) {
	err := store.CheckDSN(dsn)
	if err == nil {
		return
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		v.add("database.dsn", "%s", strings.TrimPrefix(line, "database.dsn: "))
	}
}

func (v *validator) secrets(keys []string, postgres bool) {
	if len(keys) == 0 && postgres {
		v.add("secrets.keys", "required with a PostgreSQL database (every replica must share them)")
	}
	seen := map[string]int{}
	for i, k := range keys {
		p := fmt.Sprintf("secrets.keys[%d]", i)
		if utf8.RuneCountInString(k) < minSecretLen {
			v.add(p, "too short: at least %d characters", minSecretLen)
		}
		if j, dup := seen[k]; dup {
			v.add(p, "duplicate of secrets.keys[%d]", j)
			continue
		}
		seen[k] = i
	}
}

func (v *validator) mail(m Mail) {
	if m.From == "" {
		v.add("mail.from", "required")
	} else if _, err := mail.ParseAddress(m.From); err != nil {
		v.add("mail.from", `not a valid address, e.g. "Latchkey <no-reply@example.com>"`)
	}

	const p = "mail.smtp_url"
	if m.SMTPURL == "" {
		v.add(p, `required (use "log" to print mails to the log)`)
		return
	}
	if m.SMTPURL == "log" {
		return
	}
	u, err := url.Parse(m.SMTPURL)
	if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Opaque != "" ||
		u.Hostname() == "" || (u.Path != "" && u.Path != "/") ||
		!smtpQueryOK(u) || u.ForceQuery || u.Fragment != "" {
		v.add(p, `must be "log", smtp://[user:pass@]host[:port][?tls=none] or smtps://[user:pass@]host[:port]`)
		return
	}
	if port := u.Port(); port != "" && !validPort(port) {
		v.add(p, "port must be between 1 and 65535")
	}
	// smtp:// is upgraded with STARTTLS, which the mailer requires except
	// to a loopback relay; ?tls=none asks for plain SMTP, which would carry
	// sign-in links (and the SMTP password) in clear, so only to loopback.
	if tls, ok := u.Query()["tls"]; ok && u.Scheme == "smtp" && len(tls) == 1 && tls[0] == "none" &&
		!smtpmail.IsLoopbackHost(u.Hostname()) {
		v.add(p, "plain SMTP (tls=none) only to a loopback host; use smtp:// (STARTTLS) or smtps:// (implicit TLS)")
	}
}

// smtpQueryOK allows no query but smtp://...?tls=none.
func smtpQueryOK(u *url.URL) bool {
	return u.RawQuery == "" || (u.Scheme == "smtp" && u.RawQuery == "tls=none")
}

func (v *validator) totp(t TOTP) {
	if t.IssuerLabel == "" {
		v.add("totp.issuer_label", "required")
	} else if strings.Contains(t.IssuerLabel, ":") {
		v.add("totp.issuer_label", "must not contain ':' (it separates issuer and account in authenticator apps)")
	}
	// More than 3 steps (±90 s) would widen the guessing window for little gain.
	if t.Skew < 0 || t.Skew > 3 {
		v.add("totp.skew", "must be between 0 and 3")
	}
}

func (v *validator) magicLink(m MagicLink) {
	if m.TTL.Duration < time.Minute || m.TTL.Duration > 24*time.Hour {
		v.add("magic_link.ttl", "must be between 1m and 24h")
	}
}

// durationRange checks lo <= d <= hi, naming the bounds as the admin writes them.
func (v *validator) durationRange(p string, d Duration, lo, hi time.Duration) {
	if d.Duration < lo || d.Duration > hi {
		v.add(p, "must be between %s and %s", Duration{lo}.short(), Duration{hi}.short())
	}
}

func (v *validator) oneOf(p, s string, known []string) {
	if !slices.Contains(known, s) {
		v.add(p, "unknown value %q; use one of %s", s, strings.Join(known, ", "))
	}
}

func (v *validator) lockout(l Lockout) {
	if l.MaxFailures < 1 || l.MaxFailures > 1000 {
		v.add("lockout.max_failures", "must be between 1 and 1000")
	}
	v.durationRange("lockout.window", l.Window, time.Minute, 24*time.Hour)
	v.durationRange("lockout.duration", l.Duration, time.Minute, 24*time.Hour)
}

func (v *validator) tokens(t Tokens) {
	v.durationRange("tokens.access_token_ttl", t.AccessTokenTTL, time.Minute, 24*time.Hour)
	v.durationRange("tokens.id_token_ttl", t.IDTokenTTL, time.Minute, 24*time.Hour)
	v.durationRange("tokens.refresh_token_ttl", t.RefreshTokenTTL, time.Hour, 365*24*time.Hour)
	v.durationRange("tokens.refresh_reuse_grace", t.RefreshReuseGrace, 0, 5*time.Minute)
}

func (v *validator) trustedProxies(cidrs []string) {
	for i, s := range cidrs {
		if _, _, err := net.ParseCIDR(s); err == nil {
			continue
		}
		if net.ParseIP(s) == nil {
			v.add(fmt.Sprintf("trusted_proxies[%d]", i), "not a CIDR (10.0.0.0/8) or an IP address")
		}
	}
}

var colorPattern = regexp.MustCompile(`^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

func (v *validator) branding(b Branding) {
	if strings.TrimSpace(b.Name) == "" {
		v.add("branding.name", "required")
	}
	if b.LogoURL != "" {
		u, err := url.Parse(b.LogoURL)
		abs := err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
		local := err == nil && u.Scheme == "" && u.Host == "" && strings.HasPrefix(b.LogoURL, "/") && !strings.HasPrefix(b.LogoURL, "//")
		if !abs && !local {
			v.add("branding.logo_url", "must be an absolute http(s) URL or a path starting with /")
		}
	}
	if !colorPattern.MatchString(b.PrimaryColor) {
		v.add("branding.primary_color", "must be a hex colour such as #2151c5")
	}
	if b.TemplatesDir != "" {
		if fi, err := os.Stat(b.TemplatesDir); err != nil || !fi.IsDir() {
			v.add("branding.templates_dir", "not a readable directory")
		}
	}
}

func (v *validator) webauthn(c *Config, issuer *url.URL) {
	w := c.WebAuthn
	if w.RPName == "" {
		v.add("webauthn.rp_name", "required")
	}

	rpOK := true
	if w.RPID != "" {
		const p = "webauthn.rp_id"
		rp := strings.ToLower(w.RPID)
		switch {
		case net.ParseIP(rp) != nil:
			v.add(p, "must be a domain name, not an IP address")
			rpOK = false
		case strings.ContainsAny(rp, ":/[] \t"):
			v.add(p, "must be a bare host name, without scheme, port or path")
			rpOK = false
		case issuer != nil:
			host := strings.ToLower(issuer.Hostname())
			// A parent domain must itself have a dot, so "com" is refused;
			// browsers apply the full public suffix list at ceremony time.
			parent := strings.HasSuffix(host, "."+rp) && strings.Contains(rp, ".")
			if host != rp && !parent {
				v.add(p, "must be the issuer's host %q or a registrable parent domain of it", host)
				rpOK = false
			}
		}
	}

	rpID := c.RPID()
	hasIssuerOrigin := false
	for i, o := range w.Origins {
		p := fmt.Sprintf("webauthn.origins[%d]", i)
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" ||
			u.User != nil || u.Path != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" ||
			strings.Contains(o, "#") {
			v.add(p, "must be an origin: http(s)://host[:port], without path, query or fragment")
			continue
		}
		host := strings.ToLower(u.Hostname())
		// Browsers only offer WebAuthn in secure contexts.
		if u.Scheme == "http" && !isLoopback(host) {
			v.add(p, httpOnlyLoopback)
			continue
		}
		if rpOK && issuer != nil && host != rpID && !strings.HasSuffix(host, "."+rpID) {
			v.add(p, "host must be the RP ID %q or a subdomain of it", rpID)
			continue
		}
		if strings.EqualFold(o, issuerOrigin(issuer)) {
			hasIssuerOrigin = true
		}
	}
	if len(w.Origins) > 0 && issuer != nil && !hasIssuerOrigin {
		v.add("webauthn.origins", "must include the issuer's origin %q (the login pages run there)", issuerOrigin(issuer))
	}
}

func (v *validator) clients(clients []Client) {
	firstID := map[string]int{}
	for i, cl := range clients {
		p := fmt.Sprintf("clients[%d]", i)
		switch {
		case cl.ID == "":
			v.add(p+".id", "required")
		case !clientIDPattern.MatchString(cl.ID):
			v.add(p+".id", "must be 1 to 64 characters from A-Z, a-z, 0-9, '.', '_' and '-'")
		default:
			if j, dup := firstID[cl.ID]; dup {
				v.add(p+".id", "duplicate of clients[%d].id", j)
			} else {
				firstID[cl.ID] = i
			}
		}
		v.client(p, cl)
	}
}

// client checks everything but the id, in field order.
func (v *validator) client(p string, cl Client) {
	authCode := slices.Contains(cl.GrantTypes, "authorization_code")

	switch {
	case cl.Public && cl.Secret != "":
		v.add(p+".secret", "a public client must not have a secret")
	case !cl.Public && cl.Secret == "":
		v.add(p+".secret", "required for a confidential client (or set public: true)")
	case !cl.Public && utf8.RuneCountInString(cl.Secret) < minSecretLen:
		v.add(p+".secret", "too short: at least %d characters", minSecretLen)
	}

	if authCode && len(cl.RedirectURIs) == 0 {
		v.add(p+".redirect_uris", "required with the authorization_code grant")
	}
	v.redirectURIs(p+".redirect_uris", cl.RedirectURIs)
	v.redirectURIs(p+".post_logout_redirect_uris", cl.PostLogoutRedirectURIs)

	v.list(p+".scopes", cl.Scopes, "scope", KnownScopes)
	if authCode && !slices.Contains(cl.Scopes, "openid") {
		v.add(p+".scopes", "must include openid with the authorization_code grant")
	}

	if len(cl.GrantTypes) == 0 {
		v.add(p+".grant_types", "at least one is required")
	}
	v.list(p+".grant_types", cl.GrantTypes, "grant type", KnownGrantTypes)
	if cl.Public {
		for j, g := range cl.GrantTypes {
			if g == "client_credentials" {
				v.add(fmt.Sprintf("%s.grant_types[%d]", p, j), "client_credentials needs a confidential client (public: false with a secret)")
			}
		}
	}

	if !slices.Contains(ACRLevels, cl.MinACR) {
		v.add(p+".min_acr", "unknown level %q; use one of %s", cl.MinACR, strings.Join(ACRLevels, ", "))
	}

	if cl.StepUpMaxAge.Duration < 0 {
		v.add(p+".step_up_max_age", "must not be negative")
	} else if cl.StepUpMaxAge.Duration > 0 && cl.StepUpMaxAge.Duration < time.Minute {
		v.add(p+".step_up_max_age", "must be at least 1m (or absent)")
	}

	if cl.BackchannelLogoutURI != "" {
		u, err := url.Parse(cl.BackchannelLogoutURI)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" ||
			u.Fragment != "" || strings.Contains(cl.BackchannelLogoutURI, "#") {
			v.add(p+".backchannel_logout_uri", "must be an absolute http(s) URL without a fragment")
		}
	}
}

// list checks that each item is one of known and appears once.
func (v *validator) list(p string, items []string, what string, known []string) {
	for j, it := range items {
		ip := fmt.Sprintf("%s[%d]", p, j)
		if !slices.Contains(known, it) {
			v.add(ip, "unknown %s %q; use one of %s", what, it, strings.Join(known, ", "))
		} else if k := slices.Index(items, it); k < j {
			v.add(ip, "duplicate of %s[%d]", p, k)
		}
	}
}

// Schemes a browser would run or read locally instead of navigating to an
// app; as a redirect target they turn the IdP into an attack vector.
var forbiddenRedirectSchemes = []string{"javascript", "data", "vbscript", "file", "blob", "about"}

// redirectURIs applies the OAuth 2.0 Security BCP rules: exact absolute URIs,
// no fragment, plain http only where the traffic never leaves the machine
// (RFC 8252 loopback redirects), and private-use schemes for native apps.
func (v *validator) redirectURIs(p string, uris []string) {
	for j, s := range uris {
		ip := fmt.Sprintf("%s[%d]", p, j)
		if k := slices.Index(uris, s); k < j {
			v.add(ip, "duplicate of %s[%d]", p, k)
			continue
		}
		u, err := url.Parse(s)
		// An opaque URI ("localhost:3000/cb") is almost always a URL whose
		// scheme was forgotten, so it counts as not absolute.
		if err != nil || u.Scheme == "" || u.Opaque != "" {
			v.add(ip, "not an absolute URL")
			continue
		}
		scheme := strings.ToLower(u.Scheme)
		if slices.Contains(forbiddenRedirectSchemes, scheme) {
			v.add(ip, "scheme %q is not allowed", scheme)
			continue
		}
		if u.Fragment != "" || strings.Contains(s, "#") {
			v.add(ip, "must not have a fragment")
			continue
		}
		if scheme == "http" || scheme == "https" {
			if u.Hostname() == "" {
				v.add(ip, "must have a host")
				continue
			}
			if scheme == "http" && !isLoopback(u.Hostname()) {
				v.add(ip, "http is only allowed for loopback hosts (localhost, 127.0.0.1, ::1); use https")
			}
		}
	}
}

// isLoopback is true for hosts whose traffic never leaves the machine, the
// only places where plain http can not be intercepted.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

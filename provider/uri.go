package provider

import (
	"net"
	"net/url"
	"slices"
	"strings"
)

// sameURI reports whether a URI a client sent names the one registered,
// under the normalizations RFC 3986 section 6.2.2.1 and 6.2.3 allow and
// nothing looser: scheme and host compare case-insensitively, a default
// port equals no port, and an empty path equals "/" (relying parties such as
// express-openid-connect send their base URL without the slash admins
// write). The path beyond that, the query and the user info compare
// exactly; a fragment never matches.
func sameURI(registered, given string) bool {
	if registered == given {
		return true
	}
	a, okA := normalizeURI(registered)
	b, okB := normalizeURI(given)
	return okA && okB && a == b
}

func normalizeURI(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Opaque != "" || u.Fragment != "" || strings.Contains(raw, "#") {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	switch {
	case port != "":
		host = net.JoinHostPort(host, port)
	case strings.Contains(host, ":"): // an IPv6 literal
		host = "[" + host + "]"
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	n := scheme + "://" + host + path
	if u.User != nil {
		n = scheme + "://" + u.User.String() + "@" + host + path
	}
	if u.ForceQuery || u.RawQuery != "" {
		n += "?" + u.RawQuery
	}
	return n, true
}

// withEmptyPathVariants adds, for each registered redirect URI whose path is
// empty or "/", the other spelling: fosite matches redirect_uri byte for
// byte, and RFC 3986 6.2.3 makes the two the same URI.
func withEmptyPathVariants(uris []string) []string {
	out := append([]string(nil), uris...)
	for _, raw := range uris {
		u, err := url.Parse(raw)
		if err != nil || !u.IsAbs() || u.Fragment != "" || u.RawQuery != "" || u.ForceQuery {
			continue
		}
		var alt string
		switch u.Path {
		case "":
			alt = raw + "/"
		case "/":
			alt = strings.TrimSuffix(raw, "/")
		default:
			continue
		}
		if !slices.Contains(out, alt) {
			out = append(out, alt)
		}
	}
	return out
}

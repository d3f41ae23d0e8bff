package templates

import (
	"net"
	"net/url"
	"slices"
	"strings"
)

// FormOrigins turns redirect URIs into CSP sources for form-action: a form
// posted to Latchkey that ends in a redirect to the application is checked
// against form-action along the whole redirect chain (Chromium), so the
// registered redirect origins must be listed; nothing else is. A loopback
// URI allows any port (RFC 8252 7.3), a custom scheme only that scheme.
func FormOrigins(uris []string) []string {
	var out []string
	for _, s := range uris {
		u, err := url.Parse(s)
		if err != nil || u.Scheme == "" {
			continue
		}
		src := u.Scheme + ":"
		if u.Host != "" {
			host := u.Hostname()
			if strings.Contains(host, ":") {
				host = "[" + host + "]"
			}
			src = u.Scheme + "://" + host
			if ip := net.ParseIP(u.Hostname()); (ip != nil && ip.IsLoopback()) || u.Hostname() == "localhost" {
				src += ":*"
			} else if u.Port() != "" {
				src += ":" + u.Port()
			}
		}
		if !slices.Contains(out, src) && !strings.ContainsAny(src, " ;,'") {
			out = append(out, src)
		}
	}
	return out
}

// SetClientRedirects registers each client's redirect URIs, by client ID,
// for the form-action of the pages of its flows (see FormOrigins); call
// before serving.
func (r *Renderer) SetClientRedirects(redirects map[string][]string) {
	r.clientOrigins = make(map[string][]string, len(redirects))
	for id, uris := range redirects {
		r.clientOrigins[id] = FormOrigins(uris)
	}
}

// formAction is the CSP form-action directive for p: 'self' only, unless
// the page is a step of an authorization flow, whose forms may end (after
// the POST's redirects, which Chromium checks against form-action too) at
// the flow's client and nowhere else.
func (r *Renderer) formAction(p Page) string {
	extra := p.FormAction
	if extra == nil && p.Client != "" {
		extra = r.clientOrigins[p.Client]
	}
	return strings.Join(append([]string{"form-action 'self'"}, extra...), " ")
}

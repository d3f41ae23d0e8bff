package server

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/felixge/httpsnoop"
	"github.com/gorilla/mux"

	"latchkey/logging"
	"latchkey/metrics"
	"latchkey/web"
)

// unmatchedRoute labels requests no route took, so that scanners probing
// random paths do not create a metric series per path.
const unmatchedRoute = "(unmatched)"

// layer is the one thin wrapper every route is mounted through, outside
// guard (which bounds bodies): request IDs, forwarded headers from trusted
// proxies, the common headers, one log line and one latency observation per
// request.
type layer struct {
	log     *slog.Logger
	metrics *metrics.Metrics
	proxies []netip.Prefix
}

// routeKey holds the matched route template; the router fills it in, the
// layer around the router reads it after the request.
type routeKey struct{}

type routeInfo struct{ template string }

// routes makes router record the matched route's template for wrap.
func (l *layer) routes(router *mux.Router) {
	router.Use(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if info, ok := r.Context().Value(routeKey{}).(*routeInfo); ok {
				if t, err := mux.CurrentRoute(r).GetPathTemplate(); err == nil {
					info.template = t
				}
			}
			next.ServeHTTP(w, r)
		})
	})
}

// wrap returns next (the router, behind guard) with the layer around it.
func (l *layer) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := l.requestID(r) // before forwarded replaces the peer's address
		l.forwarded(r)
		info := &routeInfo{template: unmatchedRoute}
		ctx := logging.WithRequestID(r.Context(), id)
		ctx = metrics.With(ctx, l.metrics)
		ctx = context.WithValue(ctx, routeKey{}, info)
		r = r.WithContext(ctx)
		h := w.Header()
		h.Set("X-Request-Id", id)
		h.Set("X-Content-Type-Options", "nosniff")
		// Authorization codes travel in redirect URLs: the next page must
		// not learn them from a Referer.
		h.Set("Referrer-Policy", "no-referrer")

		m := httpsnoop.CaptureMetrics(next, w, r)

		l.metrics.Request(info.template, m.Code, m.Duration)
		// Only the route template is logged, never the URL: query strings
		// carry codes, flow IDs and magic-link tokens.
		l.log.LogAttrs(ctx, slog.LevelInfo, "request",
			slog.String("method", r.Method),
			slog.String("route", info.template),
			slog.Int("status", m.Code),
			slog.Duration("duration", time.Since(start)),
			slog.String("ip", web.ClientIP(r)),
		)
	})
}

// requestID takes a well-formed X-Request-Id from a trusted proxy, so one ID
// follows the request through both logs, and makes one otherwise.
func (l *layer) requestID(r *http.Request) string {
	if l.trusted(r) {
		if id := r.Header.Get("X-Request-Id"); validRequestID(id) {
			return id
		}
	}
	return web.RandomString(nil, 12)
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func (l *layer) trusted(r *http.Request) bool {
	if len(l.proxies) == 0 {
		return false
	}
	return l.trustedAddr(web.ClientIP(r))
}

func (l *layer) trustedAddr(s string) bool {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range l.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwarded believes X-Forwarded-For and X-Forwarded-Proto only when the
// peer is a trusted proxy. The client is the rightmost address not itself a
// trusted proxy: anything left of it was written by the client and proves
// nothing. The result replaces r.RemoteAddr, so web.ClientIP, the audit log
// and the sessions list all see the client, not the proxy.
func (l *layer) forwarded(r *http.Request) {
	if !l.trusted(r) {
		return
	}
	if p := strings.ToLower(strings.TrimSpace(r.Header.Get("X-Forwarded-Proto"))); p == "http" || p == "https" {
		r.URL.Scheme = p
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		for _, h := range strings.Split(v, ",") {
			if h = strings.TrimSpace(h); h != "" {
				hops = append(hops, h)
			}
		}
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(hops[i])
		if err != nil {
			return // a malformed hop: keep the proxy's address rather than guess
		}
		if i == 0 || !l.trustedAddr(a.String()) {
			r.RemoteAddr = net.JoinHostPort(a.Unmap().String(), "0")
			return
		}
	}
}

// parseProxies turns the validated trusted_proxies entries into prefixes.
func parseProxies(entries []string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range entries {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		if a, err := netip.ParseAddr(s); err == nil {
			a = a.Unmap()
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	return out
}

package templates

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strings"
)

//go:embed pages/*.html
var pageFS embed.FS

//go:embed static
var staticFS embed.FS

// Page is what every page template receives: the layout's fields, and the
// page's own data in Data.
type Page struct {
	Title  string
	Error  string
	Notice string
	// CSRF is the token forms on this page carry as csrf_token.
	CSRF string
	// SignedIn is the signed-in user's email, shown in the header.
	SignedIn string
	Data     any
}

// Renderer executes pages; safe for concurrent use.
type Renderer struct {
	pages map[string]*template.Template
	log   *slog.Logger
}

// New parses every page with the layout and the shared partials.
func New(log *slog.Logger) (*Renderer, error) {
	funcs := template.FuncMap{
		"join": strings.Join,
	}
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(pageFS, "pages/layout.html", "pages/_*.html")
	if err != nil {
		return nil, fmt.Errorf("parse layout: %w", err)
	}
	names, err := fs.Glob(pageFS, "pages/*.html")
	if err != nil {
		return nil, err
	}
	r := &Renderer{pages: map[string]*template.Template{}, log: log}
	for _, n := range names {
		b := path.Base(n)
		if b == "layout.html" || strings.HasPrefix(b, "_") {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(pageFS, n)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", n, err)
		}
		r.pages[strings.TrimSuffix(b, ".html")] = t
	}
	return r, nil
}

// Render writes page with status. Rendering into a buffer first means a
// template error becomes a clean 500, not half a page.
func (r *Renderer) Render(w http.ResponseWriter, status int, page string, p Page) {
	t, ok := r.pages[page]
	if !ok {
		r.log.Error("render: unknown page", "page", page)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", p); err != nil {
		r.log.Error("render", "page", page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self' http: https:")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// Error renders the error page with a message meant for the user.
func (r *Renderer) Error(w http.ResponseWriter, status int, title, msg string) {
	r.Render(w, status, "error", Page{Title: title, Error: msg})
}

// ErrorCode is Error with a protocol error code (an OAuth error) shown in
// small print, for people who report the problem to an administrator.
func (r *Renderer) ErrorCode(w http.ResponseWriter, status int, title, msg, code string) {
	r.Render(w, status, "error", Page{Title: title, Error: msg, Data: ErrorDetail{Code: code}})
}

// ErrorDetail is the error page's Data.
type ErrorDetail struct{ Code string }

// Static serves the embedded static assets under /static/.
func Static() http.Handler {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err)
	}
	fsrv := http.FileServer(http.FS(sub))
	return http.StripPrefix("/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		fsrv.ServeHTTP(w, r)
	}))
}

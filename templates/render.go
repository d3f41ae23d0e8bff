package templates

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
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
	// Client is the client ID of the authorization flow this page is a
	// step of ("" for pages outside one): its forms end, through redirects,
	// at that client's redirect URI, so CSP form-action allows that
	// client's registered redirect origins besides 'self'.
	Client string
	// FormAction, when not nil, is the exact list of origins besides
	// 'self' the page posts to (the form_post page: its own callback);
	// it overrides Client.
	FormAction []string
}

// Renderer executes pages; safe for concurrent use.
type Renderer struct {
	pages map[string]*template.Template
	log   *slog.Logger
	brand Brand
	// clientOrigins are each client's redirect origins, by client ID
	// (SetClientRedirects).
	clientOrigins map[string][]string
}

// Brand is what branding changes in the pages (config branding.*).
type Brand struct {
	Name    string
	LogoURL string
	// PrimaryColor is #rgb or #rrggbb; "" keeps the stylesheet's.
	PrimaryColor string
	// Dir holds *.html files that replace the embedded ones of the same
	// name, file by file; "" for none.
	Dir string
}

// New parses every page with the layout and the shared partials, unbranded.
func New(log *slog.Logger) (*Renderer, error) { return NewBranded(log, Brand{Name: "Latchkey"}) }

// NewBranded is New with a brand. A file of b.Dir that does not parse is
// an error naming it, so a broken override stops the server (or a reload)
// before it serves a page.
func NewBranded(log *slog.Logger, b Brand) (*Renderer, error) {
	if b.Name == "" {
		b.Name = "Latchkey"
	}
	src := fs.FS(pageFS)
	if b.Dir != "" {
		src = overlay{dir: os.DirFS(b.Dir), base: pageFS}
	}
	funcs := template.FuncMap{
		"join":  strings.Join,
		"brand": func() Brand { return b },
	}
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(src, "pages/layout.html", "pages/_*.html")
	if err != nil {
		return nil, fmt.Errorf("parse layout: %w", err)
	}
	names, err := fs.Glob(pageFS, "pages/*.html")
	if err != nil {
		return nil, err
	}
	r := &Renderer{pages: map[string]*template.Template{}, log: log, brand: b}
	for _, n := range names {
		bn := path.Base(n)
		if bn == "layout.html" || strings.HasPrefix(bn, "_") {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(src, n)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", n, err)
		}
		r.pages[strings.TrimSuffix(bn, ".html")] = t
	}
	return r, nil
}

// CheckDir parses dir's overrides as NewBranded would, for config check.
func CheckDir(dir string) error {
	_, err := NewBranded(slog.New(slog.DiscardHandler), Brand{Dir: dir})
	return err
}

// overlay serves pages/NAME.html from dir/NAME.html when that file exists,
// and from the embedded pages otherwise.
type overlay struct {
	dir  fs.FS
	base fs.FS
}

func (o overlay) Open(name string) (fs.File, error) {
	if rest, ok := strings.CutPrefix(name, "pages/"); ok {
		if f, err := o.dir.Open(rest); err == nil {
			return f, nil
		}
	}
	return o.base.Open(name)
}

func (o overlay) Glob(pattern string) ([]string, error) { return fs.Glob(o.base, pattern) }

// logoOrigin lets the pages load a logo from another host.
func (r *Renderer) logoOrigin() string {
	u, err := url.Parse(r.brand.LogoURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return ""
	}
	return " " + u.Scheme + "://" + u.Host
}

// BrandCSS serves the brand's colours as CSS custom properties, after
// style.css: the accent, and the text colour on it (white or black,
// whichever contrasts more).
func (r *Renderer) BrandCSS(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	c := r.brand.PrimaryColor
	if c == "" {
		return
	}
	fg := "#fff"
	if Contrast(c, "#000") > Contrast(c, "#fff") {
		fg = "#000"
	}
	fmt.Fprintf(w, ":root { --accent:%s; --accent-fg:%s; }\n", c, fg)
	// Links take the accent in light mode when it reads on white.
	if Contrast(c, "#fff") >= 4.5 {
		fmt.Fprintf(w, "@media (prefers-color-scheme: light) { :root { --link:%s; } }\n", c)
	}
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
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:"+r.logoOrigin()+"; style-src 'self'; script-src 'self'; frame-ancestors 'none'; "+r.formAction(p))
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

package templates

import (
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestOverrideFileByFile: a file in the templates dir replaces the
// embedded page of its name and no other; one that does not parse is an
// error naming it.
func TestOverrideFileByFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "error.html"), []byte(`{{define "content"}}<p id=custom>Custom: {{.Error}}</p>{{end}}`), 0o600)
	r, err := NewBranded(slog.New(slog.DiscardHandler), Brand{Name: "Acme ID", Dir: dir, LogoURL: "https://cdn.acme.example/logo.svg"})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	r.Error(w, 404, "Gone", "nothing here")
	body := w.Body.String()
	if !strings.Contains(body, "<p id=custom>Custom: nothing here</p>") || !strings.Contains(body, "<title>Gone · Acme ID</title>") ||
		!strings.Contains(body, `<img src="https://cdn.acme.example/logo.svg"`) {
		t.Errorf("override or brand not applied:\n%s", body)
	}
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "img-src 'self' data: https://cdn.acme.example;") {
		t.Errorf("the logo's origin is not allowed: %s", csp)
	}
	w = httptest.NewRecorder()
	r.Render(w, 200, "logout", Page{Title: "Sign out"})
	if strings.Contains(w.Body.String(), "id=custom") || !strings.Contains(w.Body.String(), "Acme ID") {
		t.Errorf("another page changed:\n%s", w.Body.String())
	}

	os.WriteFile(filepath.Join(dir, "login.html"), []byte(`{{define "content"}}{{if}}{{end}}`), 0o600)
	err = CheckDir(dir)
	if err == nil || !strings.Contains(err.Error(), "login.html") {
		t.Fatalf("a broken override: %v", err)
	}
}

// TestBrandCSS: the text on the accent is whichever of black and white
// reads better, at 4.5:1 or more for the default and a light brand colour.
func TestBrandCSS(t *testing.T) {
	for _, tc := range []struct{ color, fg string }{{"#2151c5", "#fff"}, {"#ffd400", "#000"}, {"#fff", "#000"}} {
		r, err := NewBranded(slog.New(slog.DiscardHandler), Brand{PrimaryColor: tc.color})
		if err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		r.BrandCSS(w, nil)
		want := "--accent:" + tc.color + "; --accent-fg:" + tc.fg + ";"
		if !strings.Contains(w.Body.String(), want) {
			t.Errorf("%s: %s, want %s", tc.color, w.Body.String(), want)
		}
		if tc.color == "#2151c5" && Contrast(tc.color, tc.fg) < 4.5 {
			t.Errorf("default accent contrast %.2f", Contrast(tc.color, tc.fg))
		}
	}
}

// TestStylesheetContrast: every text colour of style.css on each
// background it is used on reaches 4.5:1, in light and in dark mode.
func TestStylesheetContrast(t *testing.T) {
	css, err := staticFS.ReadFile("static/style.css")
	if err != nil {
		t.Fatal(err)
	}
	text := string(css)
	dark := text[strings.Index(text, "@media (prefers-color-scheme: dark)"):]
	vars := func(s string) map[string]string {
		m := map[string]string{}
		for _, v := range regexp.MustCompile(`--([a-z-]+):\s*(#[0-9a-fA-F]{3,6})`).FindAllStringSubmatch(s, -1) {
			if _, ok := m[v[1]]; !ok {
				m[v[1]] = v[2]
			}
		}
		return m
	}
	light := vars(text)
	darkVars := vars(dark)
	for k, v := range light {
		if _, ok := darkVars[k]; !ok {
			darkVars[k] = v // not redefined: inherits
		}
	}
	if len(darkVars) == len(light) && darkVars["bg"] == light["bg"] {
		t.Fatal("no dark palette")
	}
	pairs := [][2]string{{"fg", "bg"}, {"fg", "card"}, {"muted", "bg"}, {"muted", "card"}, {"accent-fg", "accent"},
		{"link", "bg"}, {"link", "card"}, {"err", "err-bg"}, {"ok", "ok-bg"}}
	for name, p := range map[string]map[string]string{"light": light, "dark": darkVars} {
		for _, pr := range pairs {
			a, b := p[pr[0]], p[pr[1]]
			if a == "" || b == "" {
				t.Errorf("%s: --%s or --%s undefined", name, pr[0], pr[1])
				continue
			}
			if c := Contrast(a, b); c < 4.5 {
				t.Errorf("%s: --%s %s on --%s %s: contrast %.2f < 4.5", name, pr[0], a, pr[1], b, c)
			}
		}
	}
	if !strings.Contains(text, "outline: 3px solid var(--focus)") {
		t.Error("focus rings are gone")
	}
}

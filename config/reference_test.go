package config

import (
	"flag"
	"os"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/config.md from the reference")

// yamlPaths lists every key of t as the file spells it.
func yamlPaths(t reflect.Type, prefix string) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		p := tag
		if prefix != "" {
			p = prefix + "." + tag
		}
		out = append(out, p)
		ft := f.Type
		switch {
		case ft.Kind() == reflect.Struct && ft != reflect.TypeFor[Duration]():
			out = append(out[:len(out)-1], yamlPaths(ft, p)...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			out = append(out, yamlPaths(ft.Elem(), p+"[]")...)
		}
	}
	return out
}

// TestConfigDocs: every key of Config is in the reference and in
// docs/config.md (generated from it), and the reference names no key that
// does not exist.
func TestConfigDocs(t *testing.T) {
	paths := yamlPaths(reflect.TypeFor[Config](), "")
	if len(paths) < 40 {
		t.Fatalf("found only %d keys; the walk is broken", len(paths))
	}
	known := map[string]bool{}
	for _, p := range paths {
		known[p] = true
		if _, ok := referenceKey(p); !ok {
			t.Errorf("%s is not documented in config/reference.go", p)
		}
	}
	for _, k := range Reference {
		if !known[k.Path] {
			t.Errorf("the reference documents %s, which is no key", k.Path)
		}
	}
	want := ReferenceMarkdown()
	const doc = "../docs/config.md"
	if *update {
		if err := os.WriteFile(doc, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		if !strings.Contains(string(got), "| `"+p+"` |") {
			t.Errorf("docs/config.md lacks %s", p)
		}
	}
	if string(got) != want {
		t.Errorf("docs/config.md is stale: run go test ./config -run TestConfigDocs -update")
	}
}

// TestDefaultsYAML: the printed defaults load, validate, equal Default(),
// and carry a comment for every key.
func TestDefaultsYAML(t *testing.T) {
	b, err := DefaultsYAML()
	if err != nil {
		t.Fatal(err)
	}
	c, err := LoadBytes(b)
	if err != nil {
		t.Fatalf("printed defaults do not load: %v\n%s", err, b)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("printed defaults do not validate: %v", err)
	}
	d := Default()
	c.DevMode, d.DevMode = false, false
	if !reflect.DeepEqual(normalize(c), normalize(d)) {
		t.Errorf("printed defaults differ from Default():\n%+v\n%+v", c, d)
	}
	text := string(b)
	for _, k := range Reference {
		first := strings.Fields(k.Meaning)[0]
		if !strings.Contains(text, "# "+first) {
			t.Errorf("no comment for %s", k.Path)
		}
	}
	if !strings.Contains(text, "#      redirect_uris:") && !strings.Contains(text, "#    redirect_uris:") {
		t.Errorf("no example client:\n%s", text)
	}
}

// normalize makes nil and empty lists compare equal.
func normalize(c *Config) *Config {
	cp := *c
	if len(cp.TrustedProxies) == 0 {
		cp.TrustedProxies = nil
	}
	if len(cp.Clients) == 0 {
		cp.Clients = nil
	}
	if len(cp.Secrets.Keys) == 0 {
		cp.Secrets.Keys = nil
	}
	if len(cp.WebAuthn.Origins) == 0 {
		cp.WebAuthn.Origins = nil
	}
	return &cp
}

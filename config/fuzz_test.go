package config

import "testing"

// FuzzDecode: no YAML document, however malformed, panics the decoder, and
// a document it accepts without errors also validates without panicking.
func FuzzDecode(f *testing.F) {
	f.Add([]byte("issuer: https://id.example.com\nlisten: :8080\n"))
	f.Add([]byte("clients:\n  - id: a\n    redirect_uris: [x]\n    scopes: {a: b}\n"))
	f.Add([]byte("secrets:\n  keys: ${LK_SECRET}\nlockout: {max_attempts: -1}\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, errs, err := decode(data)
		if err == nil && c == nil {
			t.Fatal("no config and no syntax error")
		}
		if c != nil && len(errs) == 0 {
			_ = c.Validate()
		}
	})
}

package web

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzLocalPath: whatever LocalPath accepts stays on this server once a
// browser has normalised it (tabs and newlines dropped, backslashes read
// as slashes).
func FuzzLocalPath(f *testing.F) {
	for _, s := range []string{"/", "/account", "//evil", "/\t/evil", "/\\evil", "https://evil", "/a?b=//c", "/%2f%2fevil", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !LocalPath(s) {
			return
		}
		browser := strings.NewReplacer("\t", "", "\n", "", "\r", "", "\\", "/").Replace(s)
		u, err := url.Parse(browser)
		if err != nil || u.Scheme != "" || u.Host != "" || strings.HasPrefix(browser, "//") || !strings.HasPrefix(browser, "/") {
			t.Fatalf("LocalPath(%q) accepted a path that leaves the server (%q)", s, browser)
		}
	})
}

package provider

import (
	"slices"
	"testing"
)

func TestSameURI(t *testing.T) {
	for _, tc := range []struct {
		registered, given string
		want              bool
	}{
		{"https://rp.example/", "https://rp.example/", true},
		{"https://rp.example/", "https://rp.example", true},
		{"https://rp.example", "https://rp.example/", true},
		{"https://rp.example/", "HTTPS://RP.Example", true},
		{"https://rp.example/", "https://rp.example:443", true},
		{"http://127.0.0.1:8080/", "http://127.0.0.1:8080", true},
		{"http://[::1]:8080/", "http://[::1]:8080", true},
		// Nothing looser.
		{"https://rp.example/app/", "https://rp.example/app", false},
		{"https://rp.example/app", "https://rp.example/APP", false},
		{"https://rp.example/", "https://rp.example:8443", false},
		{"https://rp.example/", "http://rp.example", false},
		{"https://rp.example/", "https://rp.example/?x=1", false},
		{"https://rp.example/", "https://rp.example/#x", false},
		{"https://rp.example/", "https://evil@rp.example", false},
		{"https://rp.example/", "https://rp.example.evil", false},
		{"https://rp.example/", "//rp.example/", false},
	} {
		if got := sameURI(tc.registered, tc.given); got != tc.want {
			t.Errorf("sameURI(%q, %q) = %v, want %v", tc.registered, tc.given, got, tc.want)
		}
	}
}

func TestWithEmptyPathVariants(t *testing.T) {
	got := withEmptyPathVariants([]string{"https://a.example", "https://b.example/", "https://c.example/cb", "https://d.example/?q=1"})
	want := []string{"https://a.example", "https://b.example/", "https://c.example/cb", "https://d.example/?q=1", "https://a.example/", "https://b.example"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

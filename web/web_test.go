package web

import "testing"

func TestLocalPath(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"/", true},
		{"/account", true},
		{"/oauth2/auth?client_id=x&redirect_uri=https%3A%2F%2Fa.example%2F", true},
		{"", false},
		{"account", false},
		{"https://evil.example/", false},
		{"//evil.example/", false},
		{"/\\evil.example/", false},
		{"/\t/evil.example/x", false}, // browsers drop the tab: //evil.example
		{"/\n/evil.example/x", false},
		{"/x\x7f", false},
		{"/%2F%2Fevil.example", false}, // harmless in a browser, but nothing needs it
	}
	for _, tc := range tests {
		if got := LocalPath(tc.in); got != tc.want {
			t.Errorf("LocalPath(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

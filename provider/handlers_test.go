package provider

import (
	"slices"
	"testing"
)

func TestClaimsACR(t *testing.T) {
	tests := []struct {
		raw  string
		want []string
	}{
		{``, nil},
		{`not json`, nil},
		{`{"userinfo":{"email":null}}`, nil},
		{`{"id_token":{"acr":{"essential":true,"values":["mfa","phr"]}}}`, []string{"mfa", "phr"}},
		{`{"id_token":{"acr":{"value":"phrh"}}}`, []string{"phrh"}},
	}
	for _, tc := range tests {
		if got := claimsACR(tc.raw); !slices.Equal(got, tc.want) {
			t.Errorf("claimsACR(%q) = %v, want %v", tc.raw, got, tc.want)
		}
	}
}

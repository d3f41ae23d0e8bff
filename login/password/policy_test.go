package password

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckNew(t *testing.T) {
	tests := []struct {
		pw, email string
		ok        bool
	}{
		{"correct horse battery", "a@b.example", true},
		{"short", "", false},
		{"seven77", "", false},
		{"ünïcödé8", "", true}, // eight characters, more bytes
		{"password123", "", false},
		{"PassWord123", "", false}, // case-insensitive
		{"qwertyuiop", "", false},
		{"me@example.com", "Me@Example.com", false},
		{strings.Repeat("x", MaxLength+1), "", false},
		{"no composition rules needed", "", true},
	}
	for _, tc := range tests {
		err := CheckNew(tc.pw, tc.email)
		if (err == nil) != tc.ok {
			t.Errorf("CheckNew(%q) = %v, want ok=%v", tc.pw, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrWeak) {
			t.Errorf("CheckNew(%q) error does not wrap ErrWeak", tc.pw)
		}
	}
	if len(common) < 200 {
		t.Fatalf("common list has %d entries; embedding failed?", len(common))
	}
	for pw := range common {
		if len([]rune(pw)) < MinLength {
			t.Errorf("common list holds %q, shorter than the length rule already refuses", pw)
		}
	}
}

func TestReason(t *testing.T) {
	for _, tc := range []struct{ pw, email, want string }{
		{"short", "", "use at least 8 characters"},
		{strings.Repeat("x", MaxLength+1), "", "use at most 1024 characters"},
		{"password123", "", "it is one of the most common passwords, which attackers try first"},
		{"me@example.com", "Me@Example.com", "do not use your email address"},
	} {
		if got := Reason(CheckNew(tc.pw, tc.email)); got != tc.want {
			t.Errorf("Reason(CheckNew(%.20q)) = %q, want %q", tc.pw, got, tc.want)
		}
	}
}

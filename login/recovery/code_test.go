package recovery

import (
	"bytes"
	"math"
	"regexp"
	"strings"
	"testing"
)

var shape = regexp.MustCompile(`^[2-9A-HJKMNP-TV-Z]{4}-[2-9A-HJKMNP-TV-Z]{4}-[2-9A-HJKMNP-TV-Z]{4}$`)

func TestCodeEntropy(t *testing.T) {
	if bits := codeLen * math.Log2(float64(len(Alphabet))); bits < 50 {
		t.Fatalf("codes carry %.1f bits, want at least 50", bits)
	}
	for _, c := range "0O1IL" {
		if strings.ContainsRune(Alphabet, c) {
			t.Errorf("alphabet holds the ambiguous %q", c)
		}
	}
	seen := map[byte]bool{}
	for i := range len(Alphabet) {
		if seen[Alphabet[i]] {
			t.Errorf("alphabet repeats %q", Alphabet[i])
		}
		seen[Alphabet[i]] = true
	}
}

func TestNewCode(t *testing.T) {
	counts := map[rune]int{}
	codes := map[string]bool{}
	for range 2000 {
		c, err := NewCode(nil)
		if err != nil {
			t.Fatal(err)
		}
		if !shape.MatchString(c) {
			t.Fatalf("code %q has the wrong shape", c)
		}
		if codes[c] {
			t.Fatalf("code %q drawn twice", c)
		}
		codes[c] = true
		for _, r := range strings.ReplaceAll(c, "-", "") {
			counts[r]++
		}
	}
	// 24,000 characters over 30 symbols: 800 each on average; a biased or
	// stuck generator falls far outside this band.
	for _, r := range Alphabet {
		if n := counts[r]; n < 600 || n > 1000 {
			t.Errorf("symbol %q drawn %d times, want about 800", r, n)
		}
	}
}

func TestNewCodeRejectsBiasedBytes(t *testing.T) {
	// Bytes 240..255 would favour the first 16 symbols; they are skipped.
	src := append(bytes.Repeat([]byte{255, 240}, 16), bytes.Repeat([]byte{0, 31}, 16)...)
	c, err := NewCode(bytes.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	if c != "2323-2323-2323" {
		t.Fatalf("code = %q, want 2323-2323-2323 (0 -> '2', 31 %% 30 = 1 -> '3')", c)
	}
	if _, err := NewCode(bytes.NewReader(bytes.Repeat([]byte{250}, 64))); err == nil {
		t.Fatal("an exhausted random source gave a code")
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"7KQM-R2XH-9CTP", "7KQMR2XH9CTP", true},
		{" 7kqm r2xh 9ctp ", "7KQMR2XH9CTP", true},
		{"7KQMR2XH9CTP", "7KQMR2XH9CTP", true},
		{"7KQM-R2XH-9CT", "", false},
		{"7KQM-R2XH-9CTPP", "", false},
		{"0KQM-R2XH-9CTP", "", false},
		{"OKQM-R2XH-9CTP", "", false},
		{"7KQM-R2XH-9CTÉ", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := Normalize(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Normalize(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestHashSaltedPerUser(t *testing.T) {
	a, b := Hash("user-a", "7KQMR2XH9CTP"), Hash("user-b", "7KQMR2XH9CTP")
	if a == b || len(a) != 64 || a != Hash("user-a", "7KQMR2XH9CTP") || a == Hash("user-a", "7KQMR2XH9CTQ") {
		t.Fatalf("hashes: %s %s", a, b)
	}
	if strings.Contains(a, "7KQM") {
		t.Fatal("hash contains the code")
	}
}

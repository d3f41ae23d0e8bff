package recovery

import (
	"crypto/rand"
	"fmt"
	"io"
	"strings"

	"latchkey/web"
)

// Alphabet is what codes are made of: digits and capitals without the
// ones people confuse (0/O, 1/I/L) and without U.
const Alphabet = "23456789ABCDEFGHJKMNPQRSTVWXYZ"

// Code shape: Groups groups of GroupLen characters, joined by '-'.
const (
	GroupLen = 4
	Groups   = 3
	codeLen  = GroupLen * Groups
)

// NewCode returns one random code, formatted for display. Every character
// is drawn uniformly (rejection sampling, no modulo bias).
func NewCode(r io.Reader) (string, error) {
	if r == nil {
		r = rand.Reader
	}
	// The largest multiple of len(Alphabet) that fits a byte.
	limit := 256 / len(Alphabet) * len(Alphabet)
	out := make([]byte, 0, codeLen)
	var buf [32]byte
	for len(out) < codeLen {
		if _, err := io.ReadFull(r, buf[:]); err != nil {
			return "", fmt.Errorf("recovery code: %w", err)
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < codeLen {
				out = append(out, Alphabet[int(b)%len(Alphabet)])
			}
		}
	}
	return format(string(out)), nil
}

func format(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i += GroupLen {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(s[i : i+GroupLen])
	}
	return b.String()
}

// Normalize turns what a user typed into the canonical code: upper case,
// without spaces and dashes. It reports false when the result cannot be a
// code at all.
func Normalize(in string) (string, bool) {
	var b strings.Builder
	for _, r := range strings.ToUpper(in) {
		switch {
		case r == ' ' || r == '-' || r == '\t':
			continue
		case r < 128 && strings.IndexByte(Alphabet, byte(r)) >= 0:
			b.WriteRune(r)
		default:
			return "", false
		}
	}
	if b.Len() != codeLen {
		return "", false
	}
	return b.String(), true
}

// Hash is how a code is stored: SHA-256 over the normalized code, salted
// with the user ID so equal codes of two users differ. Codes carry ~59 bits,
// so a plain fast hash suffices (unlike a password).
func Hash(userID, normalized string) string {
	return web.Hash("latchkey recovery code v1\x00" + userID + "\x00" + normalized)
}

package totp

import (
	"crypto/subtle"
	"encoding/base32"
	"fmt"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
)

// SecretSize is the secret's length in bytes: 160 bits, as RFC 4226
// recommends and authenticator apps expect.
const SecretSize = 20

// Params are the code parameters. The zero value of a field means what
// authenticator apps assume when the otpauth:// URI does not say: 6 digits,
// 30-second steps; the hash is always SHA-1. Skew is how many steps either
// side of now are accepted (config totp.skew).
type Params struct {
	Digits otp.Digits
	Period uint
	Skew   int
}

func (p Params) withDefaults() Params {
	if p.Digits == 0 {
		p.Digits = otp.DigitsSix
	}
	if p.Period == 0 {
		p.Period = 30
	}
	if p.Skew < 0 {
		p.Skew = 0
	}
	return p
}

// Step is the RFC 6238 time step T of t: whole periods since the Unix
// epoch, rounded down (also before 1970).
func (p Params) Step(t time.Time) int64 {
	p = p.withDefaults()
	sec, period := t.Unix(), int64(p.Period)
	step := sec / period
	if sec%period != 0 && sec < 0 {
		step--
	}
	return step
}

// Code is the code of a time step.
func (p Params) Code(secret []byte, step int64) (string, error) {
	p = p.withDefaults()
	if step < 0 {
		return "", fmt.Errorf("totp: negative time step %d", step)
	}
	code, err := hotp.GenerateCodeCustom(encodeSecret(secret), uint64(step),
		hotp.ValidateOpts{Digits: p.Digits, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return "", fmt.Errorf("totp: %w", err)
	}
	return code, nil
}

// Match finds the time step within Skew steps of now whose code is code,
// and reports whether there is one. Every candidate is computed and
// compared in constant time, so the time taken does not tell which step
// (if any) matched; if several match, the newest wins.
func (p Params) Match(secret []byte, code string, now time.Time) (int64, bool) {
	p = p.withDefaults()
	code = NormalizeCode(code)
	if len(code) != p.Digits.Length() {
		return 0, false
	}
	cur := p.Step(now)
	var found int64
	ok := 0
	for step := cur - int64(p.Skew); step <= cur+int64(p.Skew); step++ {
		if step < 0 {
			continue
		}
		want, err := p.Code(secret, step)
		if err != nil {
			continue
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			found, ok = step, 1
		}
	}
	return found, ok == 1
}

// NormalizeCode drops the ASCII spaces and dashes people type or paste
// inside a code ("123 456"), then any whitespace around it (a pasted
// non-breaking space). In that order: trimming first left "0\f-" as "0\f",
// which normalized again to "0" (found by FuzzNormalizeCode).
// It works on bytes: strings.Map would turn invalid UTF-8 into U+FFFD and
// grow the input (found by FuzzNormalizeCode too).
func NormalizeCode(code string) string {
	b := make([]byte, 0, len(code))
	for i := 0; i < len(code); i++ {
		switch c := code[i]; c {
		case ' ', '-', '\t', '\n', '\r', '\f', '\v':
		default:
			b = append(b, c)
		}
	}
	return strings.TrimSpace(string(b))
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// encodeSecret is the secret as authenticator apps take it: unpadded
// base32.
func encodeSecret(secret []byte) string { return b32.EncodeToString(secret) }

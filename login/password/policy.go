package password

import (
	"bufio"
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MinLength follows NIST SP 800-63B: length, not composition rules.
const MinLength = 8

//go:embed common.txt
var commonList []byte

// common is the set of refused passwords, lower-cased.
var common = func() map[string]bool {
	m := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(commonList))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l != "" && !strings.HasPrefix(l, "#") {
			m[strings.ToLower(l)] = true
		}
	}
	return m
}()

// ErrWeak wraps every reason a new password is refused.
var ErrWeak = errors.New("password not accepted")

// CheckNew applies the rules for a password a user chooses: at least
// MinLength characters, at most MaxLength bytes, not a commonly breached
// password, not the account's own email.
func CheckNew(pw, email string) error {
	switch {
	case utf8.RuneCountInString(pw) < MinLength:
		return fmt.Errorf("%w: use at least %d characters", ErrWeak, MinLength)
	case len(pw) > MaxLength:
		return fmt.Errorf("%w: use at most %d characters", ErrWeak, MaxLength)
	case common[strings.ToLower(pw)]:
		return fmt.Errorf("%w: it is one of the most common passwords, which attackers try first", ErrWeak)
	case email != "" && strings.EqualFold(strings.TrimSpace(pw), strings.TrimSpace(email)):
		return fmt.Errorf("%w: do not use your email address", ErrWeak)
	}
	return nil
}

// Reason is why CheckNew refused a password, without ErrWeak's prefix: the
// part a page shows after its own lead-in.
func Reason(err error) string { return strings.TrimPrefix(err.Error(), ErrWeak.Error()+": ") }

package magiclink

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"latchkey/seal"
	"latchkey/store"
	"latchkey/web"
)

// Purposes of a mailed proof; a token made for one never works for another.
const (
	PurposeLogin   = "login"
	PurposeSignup  = "signup"
	PurposeRecover = "recover"
)

// Store keeps the mailed proofs and the request counters; store.Store
// implements it.
type Store interface {
	IssueEmailToken(ctx context.Context, t *store.EmailToken) error
	EmailTokenByLink(ctx context.Context, purpose, tokenHash string) (*store.EmailToken, error)
	UseEmailTokenByLink(ctx context.Context, purpose, tokenHash, flowID string) (*store.EmailToken, error)
	UseEmailTokenByCode(ctx context.Context, purpose, flowID, codeHash string, maxAttempts int) (*store.EmailToken, error)
	Hit(ctx context.Context, key string, limit int, window time.Duration) (bool, error)
}

// ErrNoProof is the one answer for a link or code that is wrong, used,
// expired, voided by a newer request, or not this browser's.
var ErrNoProof = errors.New("this link or code is not valid (it may be used, expired, or replaced by a newer one)")

// ErrTooMany means the client asked for too many mails.
var ErrTooMany = errors.New("too many requests for emails; wait a few minutes and try again")

// Code shape: 8 characters from an alphabet without look-alikes (no 0/O,
// 1/I/L), shown as XXXX-XXXX: 40 bits, with at most MaxCodeAttempts guesses
// per mail.
const (
	codeAlphabet    = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
	codeLen         = 8
	MaxCodeAttempts = 5
)

// Proofs issues and checks mailed proofs of an address: a link token
// (256 bits, stored as its SHA-256) and a code (stored as a keyed MAC bound
// to the flow), bound to the flow of the browser that asked, single use,
// living TTL, only the newest per purpose and address.
type Proofs struct {
	Store Store
	Keys  *seal.Keyring
	TTL   time.Duration
	Rand  io.Reader
	// Requests per address and per client IP allowed within Window.
	PerAddress, PerIP int
	Window            time.Duration
}

// Issued is what goes into the mail.
type Issued struct {
	Token string // for the link
	Code  string // XXXX-XXXX
	Row   *store.EmailToken
}

// Allow counts a request for a mail to email from ip. addressOK false
// means this address had enough mails lately: the caller shows the same
// page but sends nothing, so the limit does not reveal the account. ipOK
// false means the client asked too often.
func (p *Proofs) Allow(ctx context.Context, purpose, email, ip string) (addressOK, ipOK bool, err error) {
	ipOK, err = p.Store.Hit(ctx, "mail:"+purpose+":ip:"+ip, p.perIP(), p.window())
	if err != nil || !ipOK {
		return false, ipOK, err
	}
	addressOK, err = p.Store.Hit(ctx, "mail:"+purpose+":addr:"+web.Hash(store.NormalizeEmail(email)), p.perAddress(), p.window())
	return addressOK, true, err
}

// Issue makes a new proof for email in flowID, voiding older ones. The
// token is stored whether or not email has an account.
func (p *Proofs) Issue(ctx context.Context, purpose, email, flowID string, data []byte, now time.Time) (Issued, error) {
	token := web.RandomString(p.Rand, 32)
	code, err := p.newCode()
	if err != nil {
		return Issued{}, err
	}
	t := &store.EmailToken{ID: web.RandomString(p.Rand, 16), Purpose: purpose, Email: email, FlowID: flowID,
		TokenHash: web.Hash(token), CodeHash: p.codeHash(purpose, flowID, code), Data: data,
		ExpiresAt: now.Add(p.TTL)}
	if err := p.Store.IssueEmailToken(ctx, t); err != nil {
		return Issued{}, err
	}
	return Issued{Token: token, Code: code[:4] + "-" + code[4:], Row: t}, nil
}

// Peek returns the live token of a link without using it.
func (p *Proofs) Peek(ctx context.Context, purpose, token string) (*store.EmailToken, error) {
	t, err := p.Store.EmailTokenByLink(ctx, purpose, web.Hash(token))
	return t, noProof(err)
}

// UseLink uses a link's token, only from the flow that asked for it.
func (p *Proofs) UseLink(ctx context.Context, purpose, token, flowID string) (*store.EmailToken, error) {
	if token == "" || flowID == "" {
		return nil, ErrNoProof
	}
	t, err := p.Store.UseEmailTokenByLink(ctx, purpose, web.Hash(token), flowID)
	return t, noProof(err)
}

// UseCode uses the flow's proof whose code matches.
func (p *Proofs) UseCode(ctx context.Context, purpose, flowID, code string) (*store.EmailToken, error) {
	c := NormalizeCode(code)
	if len(c) != codeLen || flowID == "" {
		return nil, ErrNoProof
	}
	t, err := p.Store.UseEmailTokenByCode(ctx, purpose, flowID, p.codeHash(purpose, flowID, c), MaxCodeAttempts)
	return t, noProof(err)
}

// NormalizeCode upper-cases and drops spaces and dashes, as people type.
func NormalizeCode(s string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		if r == ' ' || r == '-' || r == '\t' {
			continue
		}
		b.WriteRune(r)
		if b.Len() > 32 {
			break
		}
	}
	return b.String()
}

func (p *Proofs) codeHash(purpose, flowID, code string) string {
	return hex.EncodeToString(p.Keys.MAC("email-code", purpose, flowID, code))
}

func (p *Proofs) newCode() (string, error) {
	r := p.Rand
	if r == nil {
		r = rand.Reader
	}
	b := make([]byte, codeLen)
	out := make([]byte, 0, codeLen)
	for len(out) < codeLen {
		if _, err := io.ReadFull(r, b); err != nil {
			return "", fmt.Errorf("email code: %w", err)
		}
		for _, v := range b {
			// Rejection sampling keeps every character equally likely.
			if int(v) < 256-256%len(codeAlphabet) && len(out) < codeLen {
				out = append(out, codeAlphabet[int(v)%len(codeAlphabet)])
			}
		}
	}
	return string(out), nil
}

func noProof(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return ErrNoProof
	}
	return err
}

func (p *Proofs) perAddress() int {
	if p.PerAddress > 0 {
		return p.PerAddress
	}
	return 5
}

func (p *Proofs) perIP() int {
	if p.PerIP > 0 {
		return p.PerIP
	}
	return 30
}

func (p *Proofs) window() time.Duration {
	if p.Window > 0 {
		return p.Window
	}
	return 15 * time.Minute
}

// Human writes a TTL as people read it: "15 minutes", "1 hour".
func Human(d time.Duration) string {
	unit := func(n time.Duration, one, many string) string {
		if n == 1 {
			return "1 " + one
		}
		return fmt.Sprintf("%d %s", n, many)
	}
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return unit(d/time.Hour, "hour", "hours")
	case d >= time.Minute && d%time.Minute == 0:
		return unit(d/time.Minute, "minute", "minutes")
	}
	return d.String()
}

package provider

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"
)

// storedSession is how a token row keeps its openid.DefaultSession: every
// field of it, but an empty one is left out and times are Unix numbers.
// fosite's own JSON spells out every ID-token claim, empty or not, with
// times as text: 400-odd bytes per token, most of them for claims a
// client-credentials token never has. Rows written before this keep the
// full form under "session" and are still read (storedRequest.Session).
type storedSession struct {
	Subject   string                        `json:"s,omitempty"`
	Username  string                        `json:"u,omitempty"`
	ExpiresAt map[fosite.TokenType]unixTime `json:"e,omitempty"`
	Headers   map[string]any                `json:"h,omitempty"`
	Claims    *storedClaims                 `json:"c,omitempty"`
}

// storedClaims are jwt.IDTokenClaims, field for field, under the same
// names, each left out when empty.
type storedClaims struct {
	JTI             string         `json:"jti,omitempty"`
	Issuer          string         `json:"iss,omitempty"`
	Subject         string         `json:"sub,omitempty"`
	Audience        []string       `json:"aud,omitempty"`
	Nonce           string         `json:"nonce,omitempty"`
	ExpiresAt       unixTime       `json:"exp,omitzero"`
	IssuedAt        unixTime       `json:"iat,omitzero"`
	RequestedAt     unixTime       `json:"rat,omitzero"`
	AuthTime        unixTime       `json:"auth_time,omitzero"`
	AccessTokenHash string         `json:"at_hash,omitempty"`
	ACR             string         `json:"acr,omitempty"`
	AMR             []string       `json:"amr,omitempty"`
	CodeHash        string         `json:"c_hash,omitempty"`
	Extra           map[string]any `json:"ext,omitempty"`
}

// compactSession encodes s when it is a DefaultSession; ok is false for
// any other session type, which is kept in fosite's form.
func compactSession(s fosite.Session) (out *storedSession, ok bool) {
	d, ok := s.(*openid.DefaultSession)
	if !ok || d == nil {
		return nil, false
	}
	out = &storedSession{Subject: d.Subject, Username: d.Username}
	if len(d.ExpiresAt) > 0 {
		out.ExpiresAt = make(map[fosite.TokenType]unixTime, len(d.ExpiresAt))
		for k, v := range d.ExpiresAt {
			out.ExpiresAt[k] = unixTime(v)
		}
	}
	if d.Headers != nil && len(d.Headers.Extra) > 0 {
		out.Headers = d.Headers.Extra
	}
	if c := d.Claims; c != nil {
		sc := storedClaims{JTI: c.JTI, Issuer: c.Issuer, Subject: c.Subject, Audience: c.Audience, Nonce: c.Nonce,
			ExpiresAt: unixTime(c.ExpiresAt), IssuedAt: unixTime(c.IssuedAt), RequestedAt: unixTime(c.RequestedAt),
			AuthTime: unixTime(c.AuthTime), AccessTokenHash: c.AccessTokenHash, ACR: c.AuthenticationContextClassReference,
			AMR: c.AuthenticationMethodsReferences, CodeHash: c.CodeHash, Extra: c.Extra}
		if len(sc.Extra) == 0 {
			sc.Extra = nil
		}
		if !sc.empty() {
			out.Claims = &sc
		}
	}
	return out, true
}

func (c *storedClaims) empty() bool {
	return c.JTI == "" && c.Issuer == "" && c.Subject == "" && len(c.Audience) == 0 && c.Nonce == "" &&
		c.ExpiresAt.IsZero() && c.IssuedAt.IsZero() && c.RequestedAt.IsZero() && c.AuthTime.IsZero() &&
		c.AccessTokenHash == "" && c.ACR == "" && len(c.AMR) == 0 && c.CodeHash == "" && len(c.Extra) == 0
}

// restore fills into, the session fosite handed the storage, from the
// compact form.
func (s *storedSession) restore(into fosite.Session) error {
	d := &openid.DefaultSession{Subject: s.Subject, Username: s.Username,
		Headers: &jwt.Headers{Extra: s.Headers}, Claims: &jwt.IDTokenClaims{}}
	if s.ExpiresAt != nil {
		d.ExpiresAt = make(map[fosite.TokenType]time.Time, len(s.ExpiresAt))
		for k, v := range s.ExpiresAt {
			d.ExpiresAt[k] = v.Time()
		}
	}
	if c := s.Claims; c != nil {
		d.Claims = &jwt.IDTokenClaims{JTI: c.JTI, Issuer: c.Issuer, Subject: c.Subject, Audience: c.Audience, Nonce: c.Nonce,
			ExpiresAt: c.ExpiresAt.Time(), IssuedAt: c.IssuedAt.Time(), RequestedAt: c.RequestedAt.Time(),
			AuthTime: c.AuthTime.Time(), AccessTokenHash: c.AccessTokenHash, AuthenticationContextClassReference: c.ACR,
			AuthenticationMethodsReferences: c.AMR, CodeHash: c.CodeHash, Extra: c.Extra}
	}
	if target, ok := into.(*openid.DefaultSession); ok {
		*target = *d
		return nil
	}
	// Another session type: through fosite's JSON form, as before.
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, into)
}

// unixTime is a UTC time as a JSON number of seconds since 1970, with the
// nanoseconds after a point only when there are some (fosite rounds most
// expiries to the second; a client-credentials expiry is not rounded).
type unixTime time.Time

func (t unixTime) Time() time.Time {
	if time.Time(t).IsZero() {
		return time.Time{}
	}
	return time.Time(t).UTC()
}

func (t unixTime) IsZero() bool { return time.Time(t).IsZero() }

func (t unixTime) MarshalJSON() ([]byte, error) {
	tt := time.Time(t)
	b := strconv.AppendInt(nil, tt.Unix(), 10)
	if ns := tt.Nanosecond(); ns != 0 {
		b = append(b, '.')
		b = append(b, strings.TrimRight(fmt.Sprintf("%09d", ns), "0")...)
	}
	return b, nil
}

func (t *unixTime) UnmarshalJSON(b []byte) error {
	whole, frac, _ := bytes.Cut(b, []byte("."))
	sec, err := strconv.ParseInt(string(whole), 10, 64)
	if err != nil {
		return fmt.Errorf("unix time %q: %w", b, err)
	}
	ns := int64(0)
	if len(frac) > 0 {
		if len(frac) > 9 {
			return errors.New("unix time: more than nanoseconds")
		}
		padded := string(frac) + strings.Repeat("0", 9-len(frac))
		if ns, err = strconv.ParseInt(padded, 10, 64); err != nil || ns < 0 {
			return fmt.Errorf("unix time %q: bad fraction", b)
		}
	}
	*t = unixTime(time.Unix(sec, ns).UTC())
	return nil
}

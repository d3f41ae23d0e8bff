package provider

import (
	"context"
	"strings"

	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/token/hmac"
)

// kindStrategy is fosite's HMAC token strategy with signatures that check
// before any lookup: a presented access or refresh token that does not
// carry its kind's prefix, or whose MAC does not verify with the secrets,
// has the empty signature, which the storage answers as not found without
// a query. fosite's introspection (and userinfo, and revocation) tries a
// token as one kind and then the other, reading the database for both and
// checking the MAC only after the read; with this an introspection is at
// most one read by primary key, and a forged token costs none.
type kindStrategy struct {
	*oauth2.HMACSHAStrategy
	enigma *hmac.HMACStrategy
}

// Prefixes of fosite's HMACSHAStrategy tokens (oauth2.HMACSHAStrategy's
// getPrefix, which is not exported).
const (
	accessPrefix  = "ory_at_"
	refreshPrefix = "ory_rt_"
)

func newKindStrategy(cfg hmacConfig) *kindStrategy {
	enigma := &hmac.HMACStrategy{Config: cfg}
	return &kindStrategy{HMACSHAStrategy: oauth2.NewHMACSHAStrategy(enigma, cfg), enigma: enigma}
}

// hmacConfig is what the strategy reads from fosite's config.
type hmacConfig interface {
	hmac.HMACStrategyConfigurator
	oauth2.LifespanConfigProvider
}

func (s *kindStrategy) AccessTokenSignature(ctx context.Context, token string) string {
	return s.signature(ctx, token, accessPrefix)
}

func (s *kindStrategy) RefreshTokenSignature(ctx context.Context, token string) string {
	return s.signature(ctx, token, refreshPrefix)
}

func (s *kindStrategy) signature(ctx context.Context, token, prefix string) string {
	raw, ok := strings.CutPrefix(token, prefix)
	if !ok || s.enigma.Validate(ctx, raw) != nil {
		return ""
	}
	return s.enigma.Signature(raw)
}

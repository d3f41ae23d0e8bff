package provider

import (
	"context"
	"fmt"

	"github.com/ory/fosite/token/jwt"
)

// signer signs with the active key and names it in the kid header, and
// verifies with whichever published key a token names, so tokens (and
// id_token_hints) from before a rotation still verify.
type signer struct {
	keys *Keys
}

var _ jwt.Signer = (*signer)(nil)

func (s *signer) active(ctx context.Context) (*jwt.DefaultSigner, string, error) {
	jwk, err := s.keys.Active(ctx)
	if err != nil {
		return nil, "", err
	}
	return &jwt.DefaultSigner{GetPrivateKey: func(context.Context) (interface{}, error) { return jwk, nil }}, jwk.KeyID, nil
}

func (s *signer) Generate(ctx context.Context, claims jwt.MapClaims, header jwt.Mapper) (string, string, error) {
	d, kid, err := s.active(ctx)
	if err != nil {
		return "", "", err
	}
	// fosite writes the request time as "rat", a claim no specification
	// defines (conformance tools warn); it needs RequestedAt for its
	// prompt and max_age checks, so the claim is dropped only here.
	delete(claims, "rat")
	h := &jwt.Headers{Extra: header.ToMap()}
	h.Add("kid", kid)
	return d.Generate(ctx, claims, h)
}

func (s *signer) Validate(ctx context.Context, token string) (string, error) {
	if _, err := s.Decode(ctx, token); err != nil {
		return "", err
	}
	return s.GetSignature(ctx, token)
}

func (s *signer) Decode(ctx context.Context, token string) (*jwt.Token, error) {
	return jwt.Parse(token, func(t *jwt.Token) (interface{}, error) {
		kid, _ := t.Header["kid"].(string)
		jwk, ok := s.keys.ByID(ctx, kid)
		if !ok {
			return nil, fmt.Errorf("unknown signing key %q", kid)
		}
		// The token's alg must be the key's: an ES256 key never verifies an
		// RS256 header or the other way round.
		if alg, _ := t.Header["alg"].(string); alg != jwk.Algorithm {
			return nil, fmt.Errorf("token alg %q does not match key %q (%s)", alg, kid, jwk.Algorithm)
		}
		return jwk.Public().Key, nil
	})
}

func (s *signer) Hash(ctx context.Context, in []byte) ([]byte, error) {
	d, _, err := s.active(ctx)
	if err != nil {
		return nil, err
	}
	return d.Hash(ctx, in)
}

func (s *signer) GetSignature(ctx context.Context, token string) (string, error) {
	d, _, err := s.active(ctx)
	if err != nil {
		return "", err
	}
	return d.GetSignature(ctx, token)
}

func (s *signer) GetSigningMethodLength(ctx context.Context) int {
	d, _, err := s.active(ctx)
	if err != nil {
		return 0
	}
	return d.GetSigningMethodLength(ctx)
}

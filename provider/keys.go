package provider

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v3"

	"latchkey/seal"
	"latchkey/store"
	"latchkey/web"
)

// KeyStore keeps signing keys; store.Store implements it.
type KeyStore interface {
	SigningKeys(ctx context.Context) ([]store.SigningKey, error)
	AddSigningKey(ctx context.Context, k *store.SigningKey, grace time.Duration) error
	SwitchSigningKey(ctx context.Context, k *store.SigningKey, grace time.Duration) (bool, error)
}

// Signing algorithms (config signing.alg).
const (
	RS256 = "RS256" // RSA 2048, the default every relying party accepts
	ES256 = "ES256" // ECDSA P-256: signs about 25 times faster
)

// keyRefresh bounds how stale a replica's view of the keys may be; SPEC.md
// promises a rotation is picked up within 10 seconds.
const keyRefresh = 5 * time.Second

var errNoKey = errors.New("no signing key: run latchkey migrate or serve once")

// Keys caches the published signing keys, newest first.
type Keys struct {
	Store KeyStore
	Seal  *seal.Keyring
	Now   func() time.Time
	Rand  io.Reader
	// Grace is how long a replaced key stays published: the longest life
	// of a token it signed.
	Grace time.Duration
	// Alg is the algorithm of new keys; "" means RS256.
	Alg string

	mu       sync.Mutex
	loadedAt time.Time
	keys     []*jose.JSONWebKey // private keys, newest first
	parsed   map[string]*jose.JSONWebKey
}

func (k *Keys) aad(kid string) []byte { return []byte("signing-key:" + kid) }

func (k *Keys) alg() string {
	if k.Alg == "" {
		return RS256
	}
	return k.Alg
}

func (k *Keys) generate() (*store.SigningKey, error) {
	r := k.Rand
	if r == nil {
		r = rand.Reader
	}
	var priv crypto.Signer
	var err error
	switch k.alg() {
	case RS256:
		priv, err = rsa.GenerateKey(r, 2048)
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), r)
	default:
		err = fmt.Errorf("unsupported algorithm %q", k.alg())
	}
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("encode signing key: %w", err)
	}
	kid := web.RandomString(k.Rand, 12)
	sealed, err := k.Seal.Seal(der, k.aad(kid))
	if err != nil {
		return nil, err
	}
	return &store.SigningKey{ID: kid, Algorithm: k.alg(), PrivateKey: sealed}, nil
}

// Ensure loads the keys and makes a new one only when needed: when the
// database has none, or when the active key's algorithm is not Alg (a
// switch: the old key stays published for Grace, like after a rotation).
// A start with a key of the right algorithm generates nothing.
func (k *Keys) Ensure(ctx context.Context) error {
	err := k.reload(ctx)
	if err != nil && !errors.Is(err, errNoKey) {
		return err
	}
	if err == nil {
		if active, _ := k.Active(ctx); active != nil && active.Algorithm == k.alg() {
			return nil
		}
	}
	sk, err := k.generate()
	if err != nil {
		return err
	}
	// The store re-checks under a lock, so replicas starting together agree
	// on one new key.
	if _, err := k.Store.SwitchSigningKey(ctx, sk, k.Grace); err != nil {
		return err
	}
	return k.reload(ctx)
}

// Rotate adds a new key that signs from now on; the old ones stay published
// for Grace.
func (k *Keys) Rotate(ctx context.Context) (string, error) {
	sk, err := k.generate()
	if err != nil {
		return "", err
	}
	if err := k.Store.AddSigningKey(ctx, sk, k.Grace); err != nil {
		return "", err
	}
	return sk.ID, k.reload(ctx)
}

func (k *Keys) current(ctx context.Context) ([]*jose.JSONWebKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.keys != nil && k.Now().Sub(k.loadedAt) < keyRefresh {
		return k.keys, nil
	}
	if err := k.reloadLocked(ctx); err != nil {
		if k.keys != nil {
			// A database hiccup must not stop token signing with a
			// known-good key.
			return k.keys, nil
		}
		return nil, err
	}
	return k.keys, nil
}

func (k *Keys) reload(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.reloadLocked(ctx)
}

func (k *Keys) reloadLocked(ctx context.Context) error {
	rows, err := k.Store.SigningKeys(ctx)
	if err != nil {
		return err
	}
	if k.parsed == nil {
		k.parsed = map[string]*jose.JSONWebKey{}
	}
	var out []*jose.JSONWebKey
	for _, row := range rows {
		if jwk, ok := k.parsed[row.ID]; ok {
			out = append(out, jwk)
			continue
		}
		der, err := k.Seal.Open(row.PrivateKey, k.aad(row.ID))
		if err != nil {
			return fmt.Errorf("signing key %s: %w", row.ID, err)
		}
		priv, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			return fmt.Errorf("signing key %s: %w", row.ID, err)
		}
		if !keyFits(priv, row.Algorithm) {
			return fmt.Errorf("signing key %s: a %T is no %s key", row.ID, priv, row.Algorithm)
		}
		jwk := &jose.JSONWebKey{Key: priv, KeyID: row.ID, Algorithm: row.Algorithm, Use: "sig"}
		k.parsed[row.ID] = jwk
		out = append(out, jwk)
	}
	if len(out) == 0 {
		return errNoKey
	}
	k.keys, k.loadedAt = out, k.Now()
	return nil
}

func keyFits(priv any, alg string) bool {
	switch key := priv.(type) {
	case *rsa.PrivateKey:
		return alg == RS256
	case *ecdsa.PrivateKey:
		return alg == ES256 && key.Curve == elliptic.P256()
	}
	return false
}

// Algorithms is what discovery advertises: the configured algorithm first,
// then the other one. Both, always: relying parties read discovery once and
// keep it, so one that cached it before a switch of signing.alg must still
// accept the new key's tokens (and the old key's, during the grace).
func (k *Keys) Algorithms() []string {
	if k.alg() == ES256 {
		return []string{ES256, RS256}
	}
	return []string{RS256, ES256}
}

// Active is the key that signs new tokens.
func (k *Keys) Active(ctx context.Context) (*jose.JSONWebKey, error) {
	ks, err := k.current(ctx)
	if err != nil {
		return nil, err
	}
	return ks[0], nil
}

// ByID returns a published key.
func (k *Keys) ByID(ctx context.Context, kid string) (*jose.JSONWebKey, bool) {
	ks, err := k.current(ctx)
	if err != nil {
		return nil, false
	}
	for _, jwk := range ks {
		if jwk.KeyID == kid {
			return jwk, true
		}
	}
	return nil, false
}

// Public is the JWKS document.
func (k *Keys) Public(ctx context.Context) (jose.JSONWebKeySet, error) {
	ks, err := k.current(ctx)
	if err != nil {
		return jose.JSONWebKeySet{}, err
	}
	var set jose.JSONWebKeySet
	for _, jwk := range ks {
		set.Keys = append(set.Keys, jwk.Public())
	}
	return set, nil
}

package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
)

// ErrOpen is returned when a sealed value cannot be decrypted by any key: it
// was tampered with, or the secret that sealed it is no longer configured.
var ErrOpen = errors.New("seal: cannot decrypt with any configured secret")

const version = 1

type key struct {
	id   [4]byte
	aead cipher.AEAD
	mac  []byte
}

// Keyring holds the keys derived from the configured secrets.
type Keyring struct {
	keys []key
	rand io.Reader
}

// New derives keys from secrets; the first one seals, all of them open.
// random may be nil for crypto/rand.
func New(secrets []string, random io.Reader) (*Keyring, error) {
	if len(secrets) == 0 {
		return nil, errors.New("seal: no secrets configured")
	}
	if random == nil {
		random = rand.Reader
	}
	kr := &Keyring{rand: random}
	for i, s := range secrets {
		if len(s) < 32 {
			return nil, fmt.Errorf("seal: secrets.keys[%d]: shorter than 32 characters", i)
		}
		enc, err := hkdf.Key(sha256.New, []byte(s), nil, "latchkey seal v1", 32)
		if err != nil {
			return nil, fmt.Errorf("seal: derive key: %w", err)
		}
		mac, err := hkdf.Key(sha256.New, []byte(s), nil, "latchkey mac v1", 32)
		if err != nil {
			return nil, fmt.Errorf("seal: derive key: %w", err)
		}
		block, err := aes.NewCipher(enc)
		if err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
		var k key
		sum := sha256.Sum256(enc)
		copy(k.id[:], sum[:4])
		k.aead, k.mac = aead, mac
		kr.keys = append(kr.keys, k)
	}
	return kr, nil
}

// Seal encrypts plaintext; aad binds it to its context (a user ID, a column)
// so a sealed value cannot be moved to another row.
func (kr *Keyring) Seal(plaintext, aad []byte) ([]byte, error) {
	k := kr.keys[0]
	out := make([]byte, 1+4+k.aead.NonceSize(), 1+4+k.aead.NonceSize()+len(plaintext)+k.aead.Overhead())
	out[0] = version
	copy(out[1:5], k.id[:])
	if _, err := io.ReadFull(kr.rand, out[5:]); err != nil {
		return nil, fmt.Errorf("seal: nonce: %w", err)
	}
	return k.aead.Seal(out, out[5:], plaintext, aad), nil
}

// Open decrypts what Seal produced with any configured secret.
func (kr *Keyring) Open(sealed, aad []byte) ([]byte, error) {
	if len(sealed) < 5 || sealed[0] != version {
		return nil, ErrOpen
	}
	for _, k := range kr.keys {
		if !hmac.Equal(k.id[:], sealed[1:5]) {
			continue
		}
		ns := k.aead.NonceSize()
		if len(sealed) < 5+ns {
			return nil, ErrOpen
		}
		pt, err := k.aead.Open(nil, sealed[5:5+ns], sealed[5+ns:], aad)
		if err != nil {
			return nil, ErrOpen
		}
		return pt, nil
	}
	return nil, ErrOpen
}

// MAC computes an HMAC-SHA256 of parts under the sealing key, bound to
// purpose, so a MAC made for one use never verifies for another.
func (kr *Keyring) MAC(purpose string, parts ...string) []byte {
	return mac(kr.keys[0].mac, purpose, parts)
}

// MACs computes the MAC under every configured key, the sealing key first,
// for consumers that keep their own list of current and rotated secrets.
func (kr *Keyring) MACs(purpose string, parts ...string) [][]byte {
	out := make([][]byte, len(kr.keys))
	for i, k := range kr.keys {
		out[i] = mac(k.mac, purpose, parts)
	}
	return out
}

// VerifyMAC checks sum against every configured key in constant time.
func (kr *Keyring) VerifyMAC(sum []byte, purpose string, parts ...string) bool {
	ok := false
	for _, k := range kr.keys {
		if hmac.Equal(sum, mac(k.mac, purpose, parts)) {
			ok = true
		}
	}
	return ok
}

func mac(key []byte, purpose string, parts []string) []byte {
	h := hmac.New(sha256.New, key)
	// Length-prefix every field so ("ab","c") and ("a","bc") differ.
	write := func(s string) {
		var n [4]byte
		n[0], n[1], n[2], n[3] = byte(len(s)>>24), byte(len(s)>>16), byte(len(s)>>8), byte(len(s))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	write(purpose)
	for _, p := range parts {
		write(p)
	}
	return h.Sum(nil)
}

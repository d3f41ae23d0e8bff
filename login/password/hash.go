package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id's cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
	SaltLen uint32
	KeyLen  uint32
}

// OWASP is the OWASP Password Storage Cheat Sheet's first argon2id option
// (m=19 MiB, t=2, p=1).
var OWASP = Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

var errMalformed = errors.New("password: malformed hash")

// Hasher hashes and checks passwords with one parameter set. Every hash
// runs through Pool, so however many sign-ins arrive at once, at most
// Pool's size of argon2's memory blocks are alive.
type Hasher struct {
	Params Params
	Rand   io.Reader // nil: crypto/rand
	// Pool bounds concurrent hashes; nil: one pool of the default size per
	// Hasher, made on first use.
	Pool *Pool

	once sync.Once
	// kdf is argon2.IDKey; tests swap it to watch concurrency.
	kdf func(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte
}

func (h *Hasher) pool() *Pool {
	h.once.Do(func() {
		if h.Pool == nil {
			h.Pool = NewPool(0, 0, 0)
		}
		if h.kdf == nil {
			h.kdf = argon2.IDKey
		}
	})
	return h.Pool
}

// idKey runs argon2id in one of the pool's slots.
func (h *Hasher) idKey(password, salt []byte, p Params, keyLen uint32) ([]byte, error) {
	pool := h.pool()
	if err := pool.acquire(); err != nil {
		return nil, err
	}
	defer pool.release()
	key := h.kdf(password, salt, p.Time, p.Memory, p.Threads, keyLen)
	// The hash's memory (19 MiB at OWASP's parameters) is garbage now.
	// Left to the GC's pacing, the heap grows to twice its live size
	// before a collection, with several such blocks dead in it; collecting
	// here lets the next hash reuse this block, which keeps the peak RSS
	// near idle + slots × memory. A collection costs far less than a hash.
	if p.Memory >= 1024 {
		runtime.GC()
	}
	return key, nil
}

// Hash returns a PHC-format argon2id string.
func (h *Hasher) Hash(password string) (string, error) {
	salt := make([]byte, h.Params.SaltLen)
	r := h.Rand
	if r == nil {
		r = rand.Reader
	}
	if _, err := io.ReadFull(r, salt); err != nil {
		return "", fmt.Errorf("password: salt: %w", err)
	}
	key, err := h.idKey([]byte(password), salt, h.Params, h.Params.KeyLen)
	if err != nil {
		return "", err
	}
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		h.Params.Memory, h.Params.Time, h.Params.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Check reports whether password matches encoded, and whether encoded was
// made with other parameters than h's (so the caller should rehash).
func (h *Hasher) Check(password, encoded string) (ok, rehash bool, err error) {
	p, salt, key, err := decode(encoded)
	if err != nil {
		return false, false, err
	}
	got, err := h.idKey([]byte(password), salt, p, uint32(len(key)))
	if err != nil {
		return false, false, err
	}
	ok = subtle.ConstantTimeCompare(got, key) == 1
	rehash = p.Memory != h.Params.Memory || p.Time != h.Params.Time || p.Threads != h.Params.Threads ||
		uint32(len(key)) != h.Params.KeyLen || uint32(len(salt)) != h.Params.SaltLen
	return ok, rehash, nil
}

// Dummy returns a well-formed hash at h's parameters that no password
// matches: a random salt and a random key, so nothing is computed. Checking
// a password against it costs what checking against a real hash costs.
func (h *Hasher) Dummy() (string, error) {
	r := h.Rand
	if r == nil {
		r = rand.Reader
	}
	buf := make([]byte, h.Params.SaltLen+h.Params.KeyLen)
	if _, err := io.ReadFull(r, buf); err != nil {
		return "", fmt.Errorf("password: dummy hash: %w", err)
	}
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, h.Params.Memory, h.Params.Time,
		h.Params.Threads, b64.EncodeToString(buf[:h.Params.SaltLen]), b64.EncodeToString(buf[h.Params.SaltLen:])), nil
}

func decode(encoded string) (Params, []byte, []byte, error) {
	parts := strings.Split(encoded, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	if len(parts) != 6 || parts[1] != "argon2id" {
		return Params{}, nil, nil, errMalformed
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return Params{}, nil, nil, errMalformed
	}
	var p Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return Params{}, nil, nil, errMalformed
	}
	if p.Memory == 0 || p.Time == 0 || p.Threads == 0 || p.Memory > 1<<21 || p.Time > 64 {
		return Params{}, nil, nil, errMalformed
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return Params{}, nil, nil, errMalformed
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < 16 {
		return Params{}, nil, nil, errMalformed
	}
	return p, salt, key, nil
}

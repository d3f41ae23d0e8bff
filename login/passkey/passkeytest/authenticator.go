package passkeytest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// Authenticator flags (WebAuthn §6.1).
const (
	flagUP = 0x01
	flagUV = 0x04
	flagBE = 0x08
	flagBS = 0x10
	flagAT = 0x40
)

// Credential is one key pair the authenticator holds.
type Credential struct {
	ID         []byte
	Key        *ecdsa.PrivateKey
	RPID       string
	UserHandle []byte
	// SignCount is the counter the next assertion increments; set it back
	// to play a cloned authenticator.
	SignCount uint32
}

// Authenticator is a resident-key capable authenticator.
type Authenticator struct {
	AAGUID [16]byte
	// UserVerified sets the UV flag: the authenticator checked a PIN or a
	// biometric.
	UserVerified bool
	// BackupEligible and BackupState set the BE and BS flags: a synced
	// passkey has both, a device-bound one neither.
	BackupEligible, BackupState bool
	// ZeroCounter makes every assertion report counter 0, as many synced
	// passkey providers do.
	ZeroCounter bool
	// RPID, when set, is hashed into the authenticator data instead of the
	// RP ID the options name.
	RPID string
	// Transports are reported at registration; nil means ["internal"].
	Transports []string
	Creds      []*Credential
}

// New returns an authenticator that verifies its user and keeps
// credentials on the device (BE clear).
func New() *Authenticator {
	a := &Authenticator{UserVerified: true}
	copy(a.AAGUID[:], "latchkey-test-01")
	return a
}

var b64 = base64.RawURLEncoding

// b64bytes decodes the base64url strings WebAuthn's JSON forms use.
type b64bytes []byte

func (b *b64bytes) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	v, err := b64.DecodeString(s)
	if err != nil {
		return fmt.Errorf("base64url: %w", err)
	}
	*b = v
	return nil
}

type descriptor struct {
	ID b64bytes `json:"id"`
}

type creationOptions struct {
	Challenge b64bytes `json:"challenge"`
	RP        struct {
		ID string `json:"id"`
	} `json:"rp"`
	User struct {
		ID b64bytes `json:"id"`
	} `json:"user"`
	Exclude []descriptor `json:"excludeCredentials"`
}

type requestOptions struct {
	Challenge b64bytes     `json:"challenge"`
	RPID      string       `json:"rpId"`
	Allow     []descriptor `json:"allowCredentials"`
}

// publicKeyJSON accepts the options as a value or JSON, either the whole
// {"publicKey": ...} object or its member.
func publicKeyJSON(options any) ([]byte, error) {
	raw, ok := options.([]byte)
	if !ok {
		var err error
		if raw, err = json.Marshal(options); err != nil {
			return nil, err
		}
	}
	var outer struct {
		PublicKey json.RawMessage `json:"publicKey"`
	}
	if err := json.Unmarshal(raw, &outer); err == nil && len(outer.PublicKey) > 0 {
		return outer.PublicKey, nil
	}
	return raw, nil
}

// Create answers navigator.credentials.create from origin: it makes a key
// pair and returns the credential as the page's script posts it.
func (a *Authenticator) Create(origin string, options any) ([]byte, error) {
	raw, err := publicKeyJSON(options)
	if err != nil {
		return nil, err
	}
	var o creationOptions
	if err := json.Unmarshal(raw, &o); err != nil {
		return nil, fmt.Errorf("creation options: %w", err)
	}
	for _, ex := range o.Exclude {
		if a.find(o.RP.ID, ex.ID) != nil {
			return nil, errors.New("InvalidStateError: the authenticator already holds a credential for this account")
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	id := make([]byte, 32)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	c := &Credential{ID: id, Key: key, RPID: o.RP.ID, UserHandle: o.User.ID}
	cose, err := coseKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	var attested bytes.Buffer
	attested.Write(a.AAGUID[:])
	_ = binary.Write(&attested, binary.BigEndian, uint16(len(id)))
	attested.Write(id)
	attested.Write(cose)
	authData := a.authData(o.RP.ID, flagAT, 0, attested.Bytes())
	attObj, err := ctap2.Marshal(struct {
		Fmt      string         `cbor:"fmt"`
		AttStmt  map[string]any `cbor:"attStmt"`
		AuthData []byte         `cbor:"authData"`
	}{"none", map[string]any{}, authData})
	if err != nil {
		return nil, err
	}
	clientData, err := clientDataJSON("webauthn.create", o.Challenge, origin)
	if err != nil {
		return nil, err
	}
	a.Creds = append(a.Creds, c)
	transports := a.Transports
	if transports == nil {
		transports = []string{"internal"}
	}
	return json.Marshal(map[string]any{
		"id": b64.EncodeToString(id), "rawId": b64.EncodeToString(id), "type": "public-key",
		"authenticatorAttachment": "platform", "clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(clientData),
			"attestationObject": b64.EncodeToString(attObj),
			"transports":        transports,
		},
	})
}

// Get answers navigator.credentials.get from origin: with allowCredentials
// it uses one of those, otherwise (discoverable) the newest credential for
// the RP ID. It returns the assertion as the page's script posts it.
func (a *Authenticator) Get(origin string, options any) ([]byte, error) {
	raw, err := publicKeyJSON(options)
	if err != nil {
		return nil, err
	}
	var o requestOptions
	if err := json.Unmarshal(raw, &o); err != nil {
		return nil, fmt.Errorf("request options: %w", err)
	}
	var c *Credential
	if len(o.Allow) > 0 {
		for _, d := range o.Allow {
			if c = a.find(o.RPID, d.ID); c != nil {
				break
			}
		}
	} else {
		for i := len(a.Creds) - 1; i >= 0 && c == nil; i-- {
			if a.Creds[i].RPID == o.RPID {
				c = a.Creds[i]
			}
		}
	}
	if c == nil {
		return nil, errors.New("NotAllowedError: no credential for this request")
	}
	return a.Sign(c, origin, o.RPID, o.Challenge)
}

// Sign makes an assertion with c for challenge, as Get does, without
// looking at options.
func (a *Authenticator) Sign(c *Credential, origin, rpID string, challenge []byte) ([]byte, error) {
	if !a.ZeroCounter {
		c.SignCount++
	}
	count := c.SignCount
	if a.ZeroCounter {
		count = 0
	}
	authData := a.authData(rpID, 0, count, nil)
	clientData, err := clientDataJSON("webauthn.get", challenge, origin)
	if err != nil {
		return nil, err
	}
	cdHash := sha256.Sum256(clientData)
	digest := sha256.Sum256(append(append([]byte(nil), authData...), cdHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, c.Key, digest[:])
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"id": b64.EncodeToString(c.ID), "rawId": b64.EncodeToString(c.ID), "type": "public-key",
		"authenticatorAttachment": "platform", "clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(clientData),
			"authenticatorData": b64.EncodeToString(authData),
			"signature":         b64.EncodeToString(sig),
			"userHandle":        b64.EncodeToString(c.UserHandle),
		},
	})
}

func (a *Authenticator) find(rpID string, id []byte) *Credential {
	for _, c := range a.Creds {
		if c.RPID == rpID && bytes.Equal(c.ID, id) {
			return c
		}
	}
	return nil
}

// authData is rpIdHash | flags | signCount | attested credential data.
func (a *Authenticator) authData(rpID string, extra byte, count uint32, attested []byte) []byte {
	if a.RPID != "" {
		rpID = a.RPID
	}
	h := sha256.Sum256([]byte(rpID))
	flags := byte(flagUP) | extra
	if a.UserVerified {
		flags |= flagUV
	}
	if a.BackupEligible {
		flags |= flagBE
	}
	if a.BackupState {
		flags |= flagBS
	}
	out := append(h[:], flags)
	out = binary.BigEndian.AppendUint32(out, count)
	return append(out, attested...)
}

func clientDataJSON(typ string, challenge []byte, origin string) ([]byte, error) {
	return json.Marshal(struct {
		Type        string `json:"type"`
		Challenge   string `json:"challenge"`
		Origin      string `json:"origin"`
		CrossOrigin bool   `json:"crossOrigin"`
	}{typ, b64.EncodeToString(challenge), origin, false})
}

var ctap2, _ = cbor.CTAP2EncOptions().EncMode()

// coseKey is the COSE_Key of an ES256 public key (RFC 9053): kty EC2,
// alg -7, crv P-256, x, y.
func coseKey(pub *ecdsa.PublicKey) ([]byte, error) {
	raw, err := pub.Bytes() // 0x04 | x | y
	if err != nil {
		return nil, err
	}
	return ctap2.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: raw[1:33], -3: raw[33:65]})
}

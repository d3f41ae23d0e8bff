package passkey

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"latchkey/store"
	"latchkey/web"
)

// HandleBytes is the length of a user handle: random, so it tells nothing
// about the account (WebAuthn allows up to 64 bytes).
const HandleBytes = 64

// user adapts an account and its passkeys to webauthn.User.
type user struct {
	user   *store.User
	handle []byte
	rows   []store.Passkey
	creds  []webauthn.Credential
}

var _ webauthn.User = (*user)(nil)

func (u *user) WebAuthnID() []byte                         { return u.handle }
func (u *user) WebAuthnName() string                       { return u.user.Email }
func (u *user) WebAuthnCredentials() []webauthn.Credential { return u.creds }

func (u *user) WebAuthnDisplayName() string {
	if u.user.Name != "" {
		return u.user.Name
	}
	return u.user.Email
}

// row is the stored passkey with that credential ID, or nil.
func (u *user) row(credentialID []byte) *store.Passkey {
	for i, c := range u.creds {
		if bytes.Equal(c.ID, credentialID) {
			return &u.rows[i]
		}
	}
	return nil
}

// loadUser reads a user with their passkeys. With ensureHandle a user
// handle is made when the user has none (registration); otherwise a user
// without one simply has no credentials.
func (f *Factor) loadUser(ctx context.Context, userID string, ensureHandle bool) (*user, error) {
	u, err := f.Store.UserByID(ctx, userID)
	if err != nil {
		return nil, err
	}
	var handle string
	if ensureHandle {
		handle, err = f.Store.EnsurePasskeyHandle(ctx, userID, web.RandomString(f.Rand, HandleBytes))
	} else {
		handle, err = f.Store.PasskeyHandle(ctx, userID)
		if errors.Is(err, store.ErrNotFound) {
			return &user{user: u}, nil
		}
	}
	if err != nil {
		return nil, err
	}
	h, err := base64.RawURLEncoding.DecodeString(handle)
	if err != nil {
		return nil, fmt.Errorf("passkey: user %s: corrupt user handle: %w", userID, err)
	}
	rows, err := f.Store.ListPasskeys(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := &user{user: u, handle: h, rows: rows}
	for _, p := range rows {
		c, err := credential(p)
		if err != nil {
			return nil, fmt.Errorf("passkey %s: %w", p.ID, err)
		}
		out.creds = append(out.creds, c)
	}
	return out, nil
}

// credential is the go-webauthn view of a stored passkey.
func credential(p store.Passkey) (webauthn.Credential, error) {
	id, err := base64.RawURLEncoding.DecodeString(p.CredentialID)
	if err != nil {
		return webauthn.Credential{}, fmt.Errorf("corrupt credential ID: %w", err)
	}
	var transports []protocol.AuthenticatorTransport
	for _, t := range strings.Fields(p.Transports) {
		transports = append(transports, protocol.AuthenticatorTransport(t))
	}
	return webauthn.Credential{
		ID:                id,
		PublicKey:         p.PublicKey,
		AttestationFormat: p.AttestationFormat,
		Transport:         transports,
		Flags: webauthn.CredentialFlags{
			UserPresent:    true,
			UserVerified:   p.UserVerified,
			BackupEligible: p.BackupEligible,
			BackupState:    p.BackupState,
		},
		Authenticator: webauthn.Authenticator{AAGUID: p.AAGUID, SignCount: uint32(p.SignCount)},
	}, nil
}

package passkey

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"latchkey/login"
	"latchkey/store"
	"latchkey/web"
)

// BeginRegistration starts adding a passkey to u's account: resident key
// and user verification preferred, attestation "none", the user's existing
// credentials excluded (an authenticator holds one passkey per account).
// The SessionData goes into fl, a flow made for this ceremony; the result
// is the publicKey member for navigator.credentials.create.
func (f *Factor) BeginRegistration(ctx context.Context, u *store.User, fl *login.Flow) (any, error) {
	wu, err := f.loadUser(ctx, u.ID, true)
	if err != nil {
		return nil, fmt.Errorf("passkey: begin registration: %w", err)
	}
	creation, session, err := f.wa.BeginRegistration(wu,
		webauthn.WithExclusions(webauthn.Credentials(wu.creds).CredentialDescriptors()))
	if err != nil {
		return nil, fmt.Errorf("passkey: begin registration: %w", err)
	}
	if err := fl.SetState(login.MethodPasskey, session); err != nil {
		return nil, err
	}
	return creation.Response, nil
}

// FinishRegistration checks the browser's answer (the credential as JSON)
// against the SessionData BeginRegistration kept in fl, and stores the
// passkey under name (a default when empty). The caller must have consumed
// fl first, so the challenge answers once. Refusals wrap login.ErrInvalid
// with a message meant for the user.
func (f *Factor) FinishRegistration(ctx context.Context, u *store.User, fl *login.Flow, name string, credentialJSON []byte) (*store.Passkey, error) {
	var session webauthn.SessionData
	ok, err := fl.GetState(login.MethodPasskey, &session)
	if err != nil {
		return nil, err
	}
	if !ok || fl.UserID != u.ID {
		return nil, fmt.Errorf("%w: this registration expired; please try again", login.ErrInvalid)
	}
	if len(credentialJSON) == 0 || len(credentialJSON) > MaxCredentialJSON {
		return nil, fmt.Errorf("%w: the browser sent no usable passkey", login.ErrInvalid)
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(credentialJSON)
	if err != nil {
		return nil, f.refuseRegistration(ctx, u, "parse attestation", err)
	}
	wu, err := f.loadUser(ctx, u.ID, true)
	if err != nil {
		return nil, err
	}
	cred, err := f.wa.CreateCredential(wu, session, parsed)
	if err != nil {
		return nil, f.refuseRegistration(ctx, u, "verify attestation", err)
	}
	if name == "" {
		name = defaultName(cred, len(wu.rows))
	}
	var transports []string
	for _, t := range cred.Transport {
		transports = append(transports, string(t))
	}
	p := &store.Passkey{
		ID:                web.RandomString(f.Rand, 16),
		UserID:            u.ID,
		CredentialID:      base64.RawURLEncoding.EncodeToString(cred.ID),
		PublicKey:         cred.PublicKey,
		AttestationFormat: cred.AttestationFormat,
		SignCount:         int64(cred.Authenticator.SignCount),
		Transports:        strings.Join(transports, " "),
		AAGUID:            cred.Authenticator.AAGUID,
		BackupEligible:    cred.Flags.BackupEligible,
		BackupState:       cred.Flags.BackupState,
		UserVerified:      cred.Flags.UserVerified,
		Name:              name,
		CreatedAt:         f.Now().UTC(),
	}
	if err := f.Store.CreatePasskey(ctx, p); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, fmt.Errorf("%w: this passkey is already registered", login.ErrInvalid)
		}
		return nil, err
	}
	return p, nil
}

func (f *Factor) refuseRegistration(ctx context.Context, u *store.User, what string, err error) error {
	attrs := []any{"user", u.ID, "reason", what}
	var perr *protocol.Error
	if errors.As(err, &perr) {
		attrs = append(attrs, "err", perr.Details, "info", perr.DevInfo)
	} else if err != nil {
		attrs = append(attrs, "err", err)
	}
	f.Log.InfoContext(ctx, "passkey registration refused", attrs...)
	return fmt.Errorf("%w: the passkey could not be verified; please try again", login.ErrInvalid)
}

// defaultName names a passkey the user did not name: a security key when
// it is plugged in or tapped, a passkey otherwise, numbered.
func defaultName(c *webauthn.Credential, existing int) string {
	base := "Passkey"
	roaming := slices.ContainsFunc(c.Transport, func(t protocol.AuthenticatorTransport) bool {
		return t == protocol.USB || t == protocol.NFC || t == protocol.BLE
	})
	if roaming && !slices.Contains(c.Transport, protocol.Internal) && !slices.Contains(c.Transport, protocol.Hybrid) {
		base = "Security key"
	}
	return base + " " + strconv.Itoa(existing+1)
}

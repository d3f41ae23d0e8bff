package passkey

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"latchkey/account"
	"latchkey/login"
	"latchkey/store"
	"latchkey/web"
)

// Store is what the factor needs from the database; store.Store implements
// it.
type Store interface {
	UserByID(ctx context.Context, id string) (*store.User, error)
	EnsurePasskeyHandle(ctx context.Context, userID, candidate string) (string, error)
	PasskeyHandle(ctx context.Context, userID string) (string, error)
	UserIDByPasskeyHandle(ctx context.Context, handle string) (string, error)
	ListPasskeys(ctx context.Context, userID string) ([]store.Passkey, error)
	CountPasskeys(ctx context.Context, userID string) (int, error)
	CreatePasskey(ctx context.Context, p *store.Passkey) error
	PasskeyByCredentialID(ctx context.Context, credentialID string) (*store.Passkey, error)
	RecordPasskeyUse(ctx context.Context, u store.PasskeyUse) error
	Audit(ctx context.Context, e store.AuditEvent) error
}

// Config is the relying party as browsers see it.
type Config struct {
	// RPID is the WebAuthn relying party ID (config.Config.RPID()).
	RPID string
	// RPName is shown by some authenticators.
	RPName string
	// Origins are the origins ceremonies may come from (config.Config.Origins()).
	Origins []string
}

// Factor is the passkey factor.
type Factor struct {
	Store Store
	Log   *slog.Logger
	Now   func() time.Time
	// Rand is the source of user handles; nil means crypto/rand.
	Rand io.Reader
	wa   *webauthn.WebAuthn
}

var (
	_ login.Factor       = (*Factor)(nil)
	_ login.Identifier   = (*Factor)(nil)
	_ login.Enrollable   = (*Factor)(nil)
	_ login.SecondFactor = (*Factor)(nil)
	_ login.Challenger   = (*Factor)(nil)
	_ login.StateUpdater = (*Factor)(nil)
	_ account.Section    = (*Factor)(nil)
)

// ErrNoDomain means the RP ID is an IP address (an issuer such as
// http://127.0.0.1:8080): browsers offer passkeys to domain names only, so
// the factor cannot work there.
var ErrNoDomain = errors.New("passkeys need the issuer (or webauthn.rp_id) to be a domain name, such as localhost, not an IP address")

// New builds the factor for the relying party cfg describes; ErrNoDomain
// when browsers could not use it.
func New(cfg Config, st Store, log *slog.Logger, now func() time.Time, rnd io.Reader) (*Factor, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	if net.ParseIP(strings.Trim(cfg.RPID, "[]")) != nil {
		return nil, fmt.Errorf("%w (RP ID %q)", ErrNoDomain, cfg.RPID)
	}
	wa, err := webauthn.New(&webauthn.Config{
		RPID:          cfg.RPID,
		RPDisplayName: cfg.RPName,
		RPOrigins:     cfg.Origins,
		// Resident key and user verification preferred: a passkey where the
		// authenticator can hold one, a PIN or biometric where it can ask.
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:        protocol.ResidentKeyRequirementPreferred,
			RequireResidentKey: protocol.ResidentKeyNotRequired(),
			UserVerification:   protocol.VerificationPreferred,
		},
		AttestationPreference: protocol.PreferNoAttestation,
	})
	if err != nil {
		return nil, fmt.Errorf("passkey: relying party %q: %w", cfg.RPID, err)
	}
	return &Factor{Store: st, Log: log, Now: now, Rand: rnd, wa: wa}, nil
}

// Method implements login.Factor.
func (f *Factor) Method() login.Method { return login.MethodPasskey }

// Identifies implements login.Identifier: a discoverable credential tells
// who the user is.
func (f *Factor) Identifies() {}

// SecondFactor implements login.SecondFactor: a user with a passkey has 2FA
// on.
func (f *Factor) SecondFactor() {}

// Enrolled implements login.Enrollable.
func (f *Factor) Enrolled(ctx context.Context, userID string) (bool, error) {
	n, err := f.Store.CountPasskeys(ctx, userID)
	if err != nil {
		return false, err
	}
	return n > 0, nil
}

// Overview is the passkeys' line on /account; without a passkey it is the
// invitation to add one.
func (f *Factor) Overview(ctx context.Context, userID string) (account.Status, error) {
	n, err := f.Store.CountPasskeys(ctx, userID)
	if err != nil {
		return account.Status{}, err
	}
	st := account.Status{Title: "Passkeys", Link: "/account/passkeys", LinkText: "Manage passkeys"}
	switch n {
	case 0:
		st.Status = "None yet. Add one to sign in with your fingerprint, face or screen lock: faster than a password, and useless to phishing sites."
		st.LinkText = "Add a passkey"
	case 1:
		st.Status = "1 passkey"
	default:
		st.Status = strconv.Itoa(n) + " passkeys"
	}
	return st, nil
}

// MaxCredentialJSON bounds a posted credential; real ones are a few KiB.
const MaxCredentialJSON = 64 << 10

// CredentialField is the login form field that carries the assertion JSON.
const CredentialField = "credential"

// WantsChallenge implements login.Challenger: the passkey button posted
// without an assertion (no script ran) asks for options, not a check.
func (f *Factor) WantsChallenge(form url.Values) bool {
	return form.Get(CredentialField) == ""
}

// Challenge implements login.Challenger: it begins an assertion and keeps
// its SessionData in fl. Before the user is known the ceremony is
// discoverable (usernameless); after, it lists the user's credentials.
// The view is the *protocol.CredentialAssertion for
// navigator.credentials.get.
func (f *Factor) Challenge(ctx context.Context, fl *login.Flow, _ *http.Request) (any, []login.AfterCommit, error) {
	uv := protocol.VerificationPreferred
	if needsUV(fl) {
		uv = protocol.VerificationRequired
	}
	opts := []webauthn.LoginOption{webauthn.WithUserVerification(uv)}
	var (
		assertion *protocol.CredentialAssertion
		session   *webauthn.SessionData
		err       error
	)
	if fl.UserID == "" {
		assertion, session, err = f.wa.BeginDiscoverableLogin(opts...)
	} else {
		var u *user
		u, err = f.loadUser(ctx, fl.UserID, false)
		if errors.Is(err, store.ErrNotFound) || (err == nil && len(u.creds) == 0) {
			return nil, nil, fmt.Errorf("%w: no passkey is registered for this account", login.ErrUnavailable)
		}
		if err != nil {
			return nil, nil, err
		}
		assertion, session, err = f.wa.BeginLogin(u, opts...)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("passkey: begin sign-in: %w", err)
	}
	if err := fl.SetState(login.MethodPasskey, session); err != nil {
		return nil, nil, err
	}
	return assertion, nil, nil
}

// needsUV tells whether only a verified passkey lets the flow finish: a
// phishing-resistant level with no other factor in hand, where an
// unverified tap would count as one factor and nothing else could make up
// for it.
func needsUV(fl *login.Flow) bool {
	if fl.Required < login.LevelPHR {
		return false
	}
	return !slices.ContainsFunc(fl.Results, func(r login.Result) bool { return r.Method != login.MethodPasskey })
}

// Settle implements login.StateUpdater: the challenge answered once is
// dropped in the transaction that records the result.
func (f *Factor) Settle(fl *login.Flow) {
	delete(fl.State, login.MethodPasskey)
}

// Verify implements login.Factor: it finishes the ceremony begun by
// Challenge with the SessionData kept in the flow. Every refusal is
// login.ErrInvalid, whatever the reason, so nothing tells an unknown
// credential from a bad signature.
func (f *Factor) Verify(ctx context.Context, a login.Attempt) (login.Result, error) {
	raw := a.Form.Get(CredentialField)
	if raw == "" || len(raw) > MaxCredentialJSON {
		return login.Result{}, fmt.Errorf("%w: the passkey sign-in did not complete", login.ErrInvalid)
	}
	var session webauthn.SessionData
	ok, err := a.Flow.GetState(login.MethodPasskey, &session)
	if err != nil {
		return login.Result{}, err
	}
	if !ok {
		return login.Result{}, fmt.Errorf("%w: this passkey request was already used or has expired; please try again", login.ErrInvalid)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes([]byte(raw))
	if err != nil {
		return login.Result{}, f.refuse(ctx, a, "parse assertion", err)
	}

	var u *user
	var cred *webauthn.Credential
	if len(session.UserID) == 0 {
		var wu webauthn.User
		wu, cred, err = f.wa.ValidatePasskeyLogin(f.discover(ctx), session, parsed)
		if err == nil {
			u = wu.(*user)
		}
	} else {
		if a.Flow.UserID == "" {
			return login.Result{}, f.refuse(ctx, a, "assertion for a user the flow does not know", nil)
		}
		u, err = f.loadUser(ctx, a.Flow.UserID, false)
		if errors.Is(err, store.ErrNotFound) {
			return login.Result{}, f.refuse(ctx, a, "load user", err)
		}
		if err != nil {
			return login.Result{}, err
		}
		cred, err = f.wa.ValidateLogin(u, session, parsed)
	}
	if err != nil {
		return login.Result{}, f.refuse(ctx, a, "validate assertion", err)
	}
	if u.user.Disabled {
		return login.Result{}, f.refuse(ctx, a, "disabled user", nil)
	}
	row := u.row(cred.ID)
	if row == nil {
		return login.Result{}, f.refuse(ctx, a, "credential vanished", nil)
	}
	// A pointer, not a copy: built with -race and optimizations (Go
	// 1.26.8), reads of Flags from a copy of this struct came back without
	// the BE and BS bits, turning synced passkeys into device-bound ones.
	data := &parsed.Response.AuthenticatorData
	if cred.Authenticator.CloneWarning {
		f.cloneDetected(ctx, a, row, data.Counter)
		return login.Result{}, fmt.Errorf("%w: this passkey was refused", login.ErrInvalid)
	}
	err = f.Store.RecordPasskeyUse(ctx, store.PasskeyUse{ID: row.ID, SignCount: data.Counter,
		ChallengeHash: web.Hash(session.Challenge), BackupState: data.Flags.HasBackupState(), At: a.Now})
	if errors.Is(err, store.ErrConflict) {
		// Another request recorded this passkey in between: either this
		// very assertion (a replay) or a higher counter (a clone).
		cur, lerr := f.Store.PasskeyByCredentialID(ctx, row.CredentialID)
		if lerr == nil && cur.LastChallenge == web.Hash(session.Challenge) {
			return login.Result{}, f.refuse(ctx, a, "assertion replayed", nil)
		}
		f.cloneDetected(ctx, a, row, data.Counter)
		return login.Result{}, fmt.Errorf("%w: this passkey was refused", login.ErrInvalid)
	}
	if err != nil {
		return login.Result{}, err
	}
	return login.Result{
		Method:       login.MethodPasskey,
		UserID:       u.user.ID,
		At:           a.Now,
		UserVerified: data.Flags.HasUserVerified(),
		DeviceBound:  !data.Flags.HasBackupEligible(),
	}, nil
}

// refuse logs why an assertion failed (for the admin) and returns the
// user's one answer.
func (f *Factor) refuse(ctx context.Context, a login.Attempt, what string, err error) error {
	attrs := []any{"flow", a.Flow.ID, "reason", what}
	var perr *protocol.Error
	if errors.As(err, &perr) {
		attrs = append(attrs, "err", perr.Details, "info", perr.DevInfo)
	} else if err != nil {
		attrs = append(attrs, "err", err)
	}
	f.Log.InfoContext(ctx, "passkey refused", attrs...)
	return fmt.Errorf("%w: this passkey could not be verified", login.ErrInvalid)
}

func (f *Factor) cloneDetected(ctx context.Context, a login.Attempt, row *store.Passkey, got uint32) {
	detail := fmt.Sprintf("passkey=%s name=%q stored_count=%d asserted_count=%d", row.ID, row.Name, row.SignCount, got)
	f.Log.WarnContext(ctx, "passkey sign counter went back: possible cloned authenticator", "user", row.UserID, "passkey", row.ID,
		"stored", row.SignCount, "asserted", got)
	login.Record(ctx, f.Store, f.Log, a.Request, f.Now(), row.UserID, "passkey.clone_detected", detail)
}

// discover finds the user a discoverable credential's user handle names.
func (f *Factor) discover(ctx context.Context) webauthn.DiscoverableUserHandler {
	return func(_, userHandle []byte) (webauthn.User, error) {
		id, err := f.Store.UserIDByPasskeyHandle(ctx, base64.RawURLEncoding.EncodeToString(userHandle))
		if err != nil {
			return nil, fmt.Errorf("user handle: %w", err)
		}
		return f.loadUser(ctx, id, false)
	}
}

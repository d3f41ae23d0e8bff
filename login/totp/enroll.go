package totp

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"image/png"
	"io"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"latchkey/login"
	"latchkey/store"
)

// ErrAlreadyOn means the user has a confirmed authenticator app: it must be
// turned off before another is set up.
var ErrAlreadyOn = errors.New("an authenticator app is already set up")

// ErrNoPending means there is no set-up to confirm (never begun, expired,
// or replaced in another tab).
var ErrNoPending = errors.New("this set-up has expired; scan the new QR code and try again")

// QRSize is the QR code's width and height in pixels.
const QRSize = 240

// Setup is what the user needs to add the account to an authenticator app.
type Setup struct {
	// Secret is the unpadded base32 secret, for manual entry.
	Secret string
	// URI is the otpauth:// URI the QR code encodes.
	URI string
	// QRPNG is the QR code as a PNG image.
	QRPNG []byte
}

// Begin shows the user's pending secret, making a new one when there is
// none or it is older than PendingTTL. accountName labels the account in
// the app (the email). A user whose app is already on gets ErrAlreadyOn.
func (f *Factor) Begin(ctx context.Context, userID, accountName string, now time.Time) (*Setup, error) {
	c, err := f.Store.TOTPCredential(ctx, userID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	var secret []byte
	switch {
	case c != nil && c.ConfirmedAt != nil:
		return nil, ErrAlreadyOn
	case c != nil && now.Sub(c.CreatedAt) < PendingTTL:
		if secret, err = f.open(userID, c.Secret); err != nil {
			return nil, err
		}
	default:
		secret = make([]byte, SecretSize)
		r := f.Rand
		if r == nil {
			r = rand.Reader
		}
		if _, err := io.ReadFull(r, secret); err != nil {
			return nil, fmt.Errorf("totp secret: %w", err)
		}
		sealed, err := f.seal(userID, secret)
		if err != nil {
			return nil, err
		}
		if err := f.Store.PutPendingTOTP(ctx, userID, sealed); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return nil, ErrAlreadyOn
			}
			return nil, err
		}
	}
	return f.setup(secret, accountName)
}

func (f *Factor) setup(secret []byte, accountName string) (*Setup, error) {
	p := f.Params.withDefaults()
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: f.Issuer, AccountName: accountName, Secret: secret,
		Period: p.Period, Digits: p.Digits, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		return nil, fmt.Errorf("totp key: %w", err)
	}
	img, err := key.Image(QRSize, QRSize)
	if err != nil {
		return nil, fmt.Errorf("totp qr code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("totp qr code: %w", err)
	}
	return &Setup{Secret: key.Secret(), URI: key.URL(), QRPNG: buf.Bytes()}, nil
}

// Confirm turns the pending app on when code is valid for its secret. The
// code's step counts as used, so it cannot also sign in. A wrong code
// returns an error wrapping login.ErrInvalid; a missing or expired set-up
// ErrNoPending.
func (f *Factor) Confirm(ctx context.Context, userID, code string, now time.Time) error {
	c, err := f.Store.TOTPCredential(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return ErrNoPending
	}
	if err != nil {
		return err
	}
	if c.ConfirmedAt != nil {
		return ErrAlreadyOn
	}
	if now.Sub(c.CreatedAt) >= PendingTTL {
		return ErrNoPending
	}
	secret, err := f.open(userID, c.Secret)
	if err != nil {
		return err
	}
	step, ok := f.Params.Match(secret, code, now)
	if !ok {
		return fmt.Errorf("%w: that code does not match; check that your device's clock is right and enter the code shown now", login.ErrInvalid)
	}
	if err := f.Store.ConfirmTOTP(ctx, userID, c.Secret, step); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return ErrNoPending
		}
		return err
	}
	return nil
}

// Disable removes the user's app and recovery codes; it reports whether an
// app was set up.
func (f *Factor) Disable(ctx context.Context, userID string) (bool, error) {
	return f.Store.DeleteTOTP(ctx, userID)
}

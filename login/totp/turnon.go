package totp

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"time"

	"latchkey/login"
	"latchkey/mail"
	"latchkey/store"
	"latchkey/web"
)

// Codes issues a user's first recovery codes; recovery.Factor implements
// it (an interface, since recovery depends on this package).
type Codes interface {
	Generate(ctx context.Context, userID string) ([]string, error)
}

// Transactional runs several store calls as one change; store.Store
// implements it.
type Transactional interface {
	Transaction(ctx context.Context, fn func(ctx context.Context) error) error
}

// TurnOn is the one rule for turning 2FA on, shared by /account/totp and
// the enrollment inside a sign-in: the code confirms the pending secret,
// and the confirmed app, the first recovery codes and the audit event are
// one transaction; the user is mailed after it commits.
type TurnOn struct {
	Factor *Factor
	Codes  Codes
	// Tx makes the change one transaction; nil runs the calls in turn.
	Tx    Transactional
	Audit login.Auditor
	// Postman mails the security notice; nil sends none.
	Postman *mail.Postman
}

// Confirm turns the user's pending app on with code and returns the
// recovery codes to show once. Errors: one wrapping login.ErrInvalid for a
// wrong code, ErrNoPending, ErrAlreadyOn, or the store's.
func (t *TurnOn) Confirm(ctx context.Context, r *http.Request, userID, email, code string, now time.Time) ([]string, error) {
	var codes []string
	err := t.inTx(ctx, func(ctx context.Context) error {
		if err := t.Factor.Confirm(ctx, userID, code, now); err != nil {
			return err
		}
		var err error
		if codes, err = t.Codes.Generate(ctx, userID); err != nil {
			return fmt.Errorf("recovery codes: %w", err)
		}
		if t.Audit == nil {
			return nil
		}
		// Written in the transaction: 2FA is never on without its record.
		e := store.AuditEvent{UserID: userID, Event: "totp.enabled",
			Detail: fmt.Sprintf("%d recovery codes issued", len(codes)), At: now.UTC()}
		if r != nil {
			e.IP, e.UserAgent = web.ClientIP(r), truncate(r.UserAgent(), 300)
		}
		return t.Audit.Audit(ctx, e)
	})
	if err != nil {
		return nil, err
	}
	if t.Postman != nil {
		// A failed mail does not undo the change, which is in the audit log.
		ip := ""
		if r != nil {
			ip = web.ClientIP(r)
		}
		_ = t.Postman.Send(ctx, mail.SecurityNotice, email, mail.Vars{Title: "Two-factor authentication turned on",
			Detail: "Two-factor authentication was turned on: signing in now needs your password and a code from your authenticator app (or a recovery code).",
			When:   now.UTC(), IP: ip})
	}
	return codes, nil
}

func (t *TurnOn) inTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if t.Tx == nil {
		return fn(ctx)
	}
	return t.Tx.Transaction(ctx, fn)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// SetupView is a Setup as the pages show it (templates' "totp-setup").
type SetupView struct {
	// QR is the QR code as a data: URI (the page's CSP allows data: images).
	QR     template.URL
	Size   int
	Secret string
}

// View is the setup for a page.
func (s *Setup) View() *SetupView {
	return &SetupView{QR: template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(s.QRPNG)),
		Size: QRSize, Secret: s.Secret}
}

// enrollView is the data of the login_enroll_totp page.
type enrollView struct {
	FlowID string
	Setup  *SetupView
	Codes  []string
}

var _ login.Enroller = (*TurnOn)(nil)

// Method implements login.Enroller.
func (t *TurnOn) Method() login.Method { return login.MethodTOTP }

// EnrollPage implements login.Enroller: the QR code and the confirm form
// for the flow's user.
func (t *TurnOn) EnrollPage(ctx context.Context, fl *login.Flow, email string, now time.Time) (login.ChallengeView, error) {
	setup, err := t.Factor.Begin(ctx, fl.UserID, email, now)
	if err != nil {
		return login.ChallengeView{}, err
	}
	return login.ChallengeView{Page: "login_enroll_totp", Title: "Set up an authenticator app",
		Data: enrollView{FlowID: fl.ID, Setup: setup.View()}}, nil
}

// Enroll implements login.Enroller: the posted code turns 2FA on, and
// proves the app in this sign-in.
func (t *TurnOn) Enroll(ctx context.Context, r *http.Request, fl *login.Flow, email string, now time.Time) (login.Result, login.ChallengeView, error) {
	codes, err := t.Confirm(ctx, r, fl.UserID, email, r.PostForm.Get("code"), now)
	switch {
	case errors.Is(err, ErrNoPending), errors.Is(err, ErrAlreadyOn):
		err = wrongAnswer(err.Error() + ".")
	case errors.Is(err, login.ErrInvalid):
		err = wrongAnswer("That code does not match. Check that your device's clock is right and enter the code the app shows now.")
	}
	if err != nil {
		return login.Result{}, login.ChallengeView{}, err
	}
	return login.Result{Method: login.MethodTOTP, UserID: fl.UserID, At: now},
		login.ChallengeView{Page: "login_enroll_totp", Title: "Two-factor authentication is on",
			Notice: "Two-factor authentication is on. Save your recovery codes now.",
			Data:   enrollView{FlowID: fl.ID, Codes: codes}}, nil
}

// wrongAnswer is an answer the enrollment page shows as it is; it counts as
// a wrong answer (login.ErrInvalid) for the flow.
type wrongAnswer string

func (e wrongAnswer) Error() string        { return string(e) }
func (e wrongAnswer) Is(target error) bool { return target == login.ErrInvalid }

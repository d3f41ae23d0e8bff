package account

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/gorilla/mux"

	"latchkey/login"
	"latchkey/mail"
	"latchkey/store"
	"latchkey/templates"
	"latchkey/web"
)

// PasswordPath is the password change page.
const PasswordPath = "/account/password"

var (
	// ErrWrongPassword: the current password given for a change is wrong.
	ErrWrongPassword = errors.New("the current password is wrong")
	// ErrNewPassword wraps why a new password was refused, in words for
	// the user.
	ErrNewPassword = errors.New("choose another password")
)

// PasswordChanger is the password factor's change (login/password
// implements it): check the current password and the new one's rules,
// store it. With a transaction's context it joins it.
type PasswordChanger interface {
	Change(ctx context.Context, userID, current, next string) error
}

// Postman sends a notice mail (mail.Postman implements it).
type Postman interface {
	Send(ctx context.Context, kind mail.Kind, to string, v mail.Vars) error
}

// PasswordPages serve /account/password: the current password and a new
// one. A change ends every other session of the user (Sessions.End, so
// relying parties hear of it), forgets their remembered browsers, is
// audited and mailed; a wrong current password changes nothing.
//
//	GET  /account/password  the form
//	POST /account/password  current_password, password
type PasswordPages struct {
	Account   *Service
	Passwords PasswordChanger
	// Postman mails the "password changed" notice; nil sends none.
	Postman Postman
}

// Mount registers the routes.
func (p *PasswordPages) Mount(r *mux.Router) {
	r.HandleFunc(PasswordPath, p.show).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc(PasswordPath, p.change).Methods(http.MethodPost)
}

type passwordView struct {
	// HasPassword asks for the current one; an account without a password
	// sets its first after a recent sign-in instead.
	HasPassword bool
	Email       string
	Done        bool
}

func (p *PasswordPages) show(w http.ResponseWriter, r *http.Request) {
	v, ok := p.Account.RequireUser(w, r)
	if !ok {
		return
	}
	if v.User.PasswordHash == "" && !p.Account.RequireRecent(w, r, v, PasswordPath) {
		return
	}
	p.render(w, http.StatusOK, v, "")
}

func (p *PasswordPages) render(w http.ResponseWriter, status int, v *Viewer, errMsg string) {
	title := "Change your password"
	if v.User.PasswordHash == "" {
		title = "Set a password"
	}
	p.Account.Page(w, status, "account_password", v, templates.Page{Title: title, Error: errMsg,
		Data: passwordView{HasPassword: v.User.PasswordHash != "", Email: v.User.Email}})
}

func (p *PasswordPages) change(w http.ResponseWriter, r *http.Request) {
	v, ok := p.Account.PostedForm(w, r)
	if !ok {
		return
	}
	if v.User.PasswordHash == "" && !p.Account.RequireRecent(w, r, v, PasswordPath) {
		return
	}
	ctx := r.Context()
	acct := p.Account
	var ended int
	err := acct.Store.Transaction(ctx, func(ctx context.Context) error {
		if err := p.Passwords.Change(ctx, v.User.ID, r.PostForm.Get("current_password"), r.PostForm.Get("password")); err != nil {
			return err
		}
		var err error
		if ended, err = acct.Login.Sessions.EndUser(ctx, v.User.ID, login.EndPasswordChanged, v.Session.Hash); err != nil {
			return err
		}
		if rb := acct.Login.Remember; rb.On() {
			if _, err := rb.RevokeAll(ctx, v.User.ID); err != nil {
				return err
			}
		}
		return acct.Login.Audit.Audit(ctx, store.AuditEvent{UserID: v.User.ID, Event: "password.changed",
			IP: web.ClientIP(r), UserAgent: r.UserAgent(), At: acct.Now().UTC()})
	})
	switch {
	case errors.Is(err, ErrWrongPassword):
		acct.Audit(r, v.User.ID, "password.change_failed", "")
		p.render(w, http.StatusBadRequest, v, "Your current password is not right. Nothing was changed.")
		return
	case errors.Is(err, ErrNewPassword):
		p.render(w, http.StatusBadRequest, v, "Choose another password: "+strings.TrimPrefix(err.Error(), ErrNewPassword.Error()+": ")+".")
		return
	case err != nil:
		acct.Fail(w, r, err)
		return
	}
	if p.Postman != nil {
		detail := "Your other browsers were signed out and remembered browsers forgotten."
		// A failed mail does not undo the change, which is audited.
		_ = p.Postman.Send(ctx, mail.PasswordChanged, v.User.Email, mail.Vars{Email: v.User.Email, IP: web.ClientIP(r),
			When: acct.Now().UTC(), Detail: detail})
	}
	notice := "Your password was changed."
	if ended > 0 {
		notice += " Your other browsers were signed out."
	}
	v.User.PasswordHash = "set"
	acct.Page(w, http.StatusOK, "account_password", v, templates.Page{Title: "Password changed", Notice: notice,
		Data: passwordView{HasPassword: true, Email: v.User.Email, Done: true}})
}

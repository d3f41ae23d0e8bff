package login

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"latchkey/store"
	"latchkey/templates"
	"latchkey/web"
)

// Registrar is the passkey registration ceremony; login/passkey
// implements it. Its state lives in the sign-in flow while it runs.
type Registrar interface {
	BeginRegistration(ctx context.Context, u *store.User, fl *Flow) (any, error)
	FinishRegistration(ctx context.Context, u *store.User, fl *Flow, name string, credential []byte) (*store.Passkey, error)
}

// PasskeyNotifier mails the owner of a passkey just added (account.Passkeys
// implements it): a passkey added inside a sign-in gets the same security
// notice as one added on /account/passkeys, from the same code.
type PasskeyNotifier interface {
	PasskeyAdded(r *http.Request, u *store.User, pk *store.Passkey)
}

// In-flow passkey registration routes (JSON, called by passkey.js).
const (
	enrollPasskeyBegin  = "/login/enroll/passkey/begin"
	enrollPasskeyFinish = "/login/enroll/passkey/finish"
)

type enrollPasskeyView struct {
	FlowID, Begin, Finish, Continue string
}

func (p *Pages) enrollPasskeyPage(w http.ResponseWriter, r *http.Request, fl *Flow, browser string, status int, errMsg string) {
	q := "?flow=" + url.QueryEscape(fl.ID)
	p.Render.Render(w, status, "login_enroll_passkey", templates.Page{Title: "Add a passkey", Error: errMsg,
		CSRF: p.Kit.CSRFToken(browser, fl.ID), Client: fl.ClientID,
		Data: enrollPasskeyView{FlowID: fl.ID, Begin: enrollPasskeyBegin + q, Finish: enrollPasskeyFinish + q, Continue: "/login" + q}})
}

// enrollPasskeyFlow loads the flow a registration call names and checks
// it may enroll a passkey now: a sign-in at the enrollment step for a
// passkey, whose user proved a factor in it, with the page's CSRF token.
func (p *Pages) enrollPasskeyFlow(w http.ResponseWriter, r *http.Request) (*Flow, *store.User, string, bool) {
	ctx := r.Context()
	browser := p.Kit.BrowserID(w, r)
	refuse := func(status int, msg string) (*Flow, *store.User, string, bool) {
		web.WriteJSON(w, status, web.JSONError{Error: msg})
		return nil, nil, "", false
	}
	if err := r.ParseForm(); err != nil {
		return refuse(http.StatusBadRequest, "The request could not be read.")
	}
	fl, err := p.Flows.Get(ctx, r.URL.Query().Get("flow"), browser)
	if errors.Is(err, ErrFlowNotFound) || (err == nil && !fl.CanLogin()) {
		return refuse(http.StatusBadRequest, "This sign-in has expired. Please start again.")
	}
	if err != nil {
		p.Log.ErrorContext(ctx, "passkey enrollment", "err", err)
		return refuse(http.StatusServiceUnavailable, "Something went wrong. Please try again in a moment.")
	}
	if !p.Kit.CheckCSRF(r, fl.ID) {
		return refuse(http.StatusForbidden, "This page expired. Please reload it.")
	}
	d, err := p.decide(ctx, r, fl)
	if err != nil {
		p.Log.ErrorContext(ctx, "passkey enrollment", "err", err)
		return refuse(http.StatusServiceUnavailable, "Something went wrong. Please try again in a moment.")
	}
	if d.Enroll != MethodPasskey || fl.UserID == "" || !provedBy(fl, fl.UserID) || Next(fl, nil, Client{Decision: d}) != StepEnroll {
		return refuse(http.StatusBadRequest, "A passkey cannot be added at this step.")
	}
	u, err := p.Users.UserByID(ctx, fl.UserID)
	if err != nil {
		p.Log.ErrorContext(ctx, "passkey enrollment", "err", err)
		return refuse(http.StatusServiceUnavailable, "Something went wrong. Please try again in a moment.")
	}
	return fl, u, browser, true
}

func (p *Pages) enrollPasskeyBegin(w http.ResponseWriter, r *http.Request) {
	fl, u, browser, ok := p.enrollPasskeyFlow(w, r)
	if !ok {
		return
	}
	var publicKey any
	_, err := p.Flows.Update(r.Context(), fl.ID, browser, func(ctx context.Context, fl *Flow) ([]AfterCommit, error) {
		var err error
		publicKey, err = p.Passkeys.BeginRegistration(ctx, u, fl)
		return nil, err
	})
	if err != nil {
		p.Log.ErrorContext(r.Context(), "passkey enrollment", "err", err)
		web.WriteJSON(w, http.StatusServiceUnavailable, web.JSONError{Error: "Something went wrong. Please try again in a moment."})
		return
	}
	web.WriteJSON(w, http.StatusOK, struct {
		Flow      string `json:"flow"`
		PublicKey any    `json:"publicKey"`
	}{fl.ID, publicKey})
}

// enrollPasskeyFinish takes the ceremony's state out of the flow (so the
// challenge answers once, even when the answer is wrong), then lets the
// factor verify and store the passkey. The sign-in then continues at
// /login, which asks the new passkey for the level.
func (p *Pages) enrollPasskeyFinish(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	fl, u, browser, ok := p.enrollPasskeyFlow(w, r)
	if !ok {
		return
	}
	var taken Flow
	_, err := p.Flows.Apply(ctx, fl.ID, browser, func(fl *Flow) error {
		taken = Flow{ID: fl.ID, UserID: fl.UserID}
		if s, ok := fl.State[MethodPasskey]; ok {
			taken.State = map[Method]json.RawMessage{MethodPasskey: s}
			delete(fl.State, MethodPasskey)
		}
		return nil
	})
	if err != nil {
		web.WriteJSON(w, http.StatusBadRequest, web.JSONError{Error: "This sign-in has expired. Please start again."})
		return
	}
	pk, err := p.Passkeys.FinishRegistration(ctx, u, &taken, passkeyName(r.PostForm.Get("name")), []byte(r.PostForm.Get("credential")))
	if errors.Is(err, ErrInvalid) {
		msg := strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": ")
		web.WriteJSON(w, http.StatusBadRequest, web.JSONError{Error: strings.ToUpper(msg[:1]) + msg[1:] + "."})
		return
	}
	if err != nil {
		p.Log.ErrorContext(ctx, "passkey enrollment", "err", err)
		web.WriteJSON(w, http.StatusServiceUnavailable, web.JSONError{Error: "Something went wrong. Please try again in a moment."})
		return
	}
	p.audit(ctx, r, u.ID, "passkey.added", "passkey="+pk.ID+" during sign-in")
	if p.PasskeyNotices != nil {
		p.PasskeyNotices.PasskeyAdded(r, u, pk)
	}
	web.WriteJSON(w, http.StatusOK, struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}{pk.ID, pk.Name})
}

// passkeyName bounds the name the user typed (60 characters, no control
// characters); empty lets the factor choose one.
func passkeyName(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, strings.TrimSpace(s))
	if rs := []rune(s); len(rs) > 60 {
		s = string(rs[:60])
	}
	return s
}

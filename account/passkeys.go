package account

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/gorilla/mux"

	"latchkey/login"
	"latchkey/mail"
	"latchkey/store"
	"latchkey/templates"
	"latchkey/web"
)

// PasskeyCeremonies is what /account/passkeys needs from the passkey
// factor (login/passkey implements it): the registration ceremony, whose
// state lives in a flow of its own.
type PasskeyCeremonies interface {
	// BeginRegistration keeps the ceremony's state in fl and returns the
	// publicKey options for navigator.credentials.create.
	BeginRegistration(ctx context.Context, u *store.User, fl *login.Flow) (any, error)
	// FinishRegistration checks the credential JSON against fl's state and
	// stores the passkey; refusals wrap login.ErrInvalid.
	FinishRegistration(ctx context.Context, u *store.User, fl *login.Flow, name string, credential []byte) (*store.Passkey, error)
}

// PasskeyStore is what /account/passkeys reads and changes.
type PasskeyStore interface {
	ListPasskeys(ctx context.Context, userID string) ([]store.Passkey, error)
	RenamePasskey(ctx context.Context, userID, id, name string) error
	DeletePasskey(ctx context.Context, userID, id string) error
}

// Passkeys serves /account/passkeys: the list, registration (JSON endpoints
// the page's script calls), renaming and deleting.
type Passkeys struct {
	Account    *Service
	Ceremonies PasskeyCeremonies
	Store      PasskeyStore
	// Postman sends the "passkey added/removed" security notices; may be nil.
	Postman *mail.Postman
}

// notify mails the user a security notice; a failed mail does not undo
// the change, which is already audited.
func (p *Passkeys) notify(r *http.Request, u *store.User, title, detail string) {
	if p.Postman == nil {
		return
	}
	_ = p.Postman.Send(r.Context(), mail.SecurityNotice, u.Email, mail.Vars{Title: title, Detail: detail,
		When: p.Account.Now().UTC(), IP: web.ClientIP(r)})
}

// PasskeyAdded mails u the notice that pk was added. It implements
// login.PasskeyNotifier, so a passkey added inside a sign-in is announced
// by the same letter as one added here.
func (p *Passkeys) PasskeyAdded(r *http.Request, u *store.User, pk *store.Passkey) {
	p.notify(r, u, "A passkey was added to your account", "A passkey named "+quote(pk.Name)+" was added: it can now sign in to your account.")
}

var _ login.PasskeyNotifier = (*Passkeys)(nil)

// Passkey page routes.
const (
	PasskeysPath       = "/account/passkeys"
	passkeyBeginPath   = PasskeysPath + "/register/begin"
	passkeyFinishPath  = PasskeysPath + "/register/finish"
	passkeyConfirmPath = PasskeysPath + "/confirm"
)

// MaxPasskeyName bounds a passkey's name, in characters.
const MaxPasskeyName = 60

// Mount registers the routes.
func (p *Passkeys) Mount(r *mux.Router) {
	r.HandleFunc(PasskeysPath, p.list).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc(passkeyBeginPath, p.begin).Methods(http.MethodPost)
	r.HandleFunc(passkeyFinishPath, p.finish).Methods(http.MethodPost)
	r.HandleFunc(passkeyConfirmPath, p.confirm).Methods(http.MethodGet)
	r.HandleFunc(suggestPath, p.suggest).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc(suggestPath, p.later).Methods(http.MethodPost)
	r.HandleFunc(PasskeysPath+"/{id}/rename", p.rename).Methods(http.MethodPost)
	r.HandleFunc(PasskeysPath+"/{id}/delete", p.delete).Methods(http.MethodPost)
}

type passkeysView struct {
	Passkeys []passkeyView
	// ConfirmTwoFAOff names the passkey whose deletion would turn 2FA off,
	// for the confirmation form.
	ConfirmTwoFAOff string
}

type passkeyView struct {
	ID, Name string
	Synced   bool
	Created  string
	LastUsed string
}

// notices are the messages a redirect back to the list may show; the query
// names one, so no text is reflected from the URL.
var passkeyNotices = map[string]string{
	"added":   "Your passkey was added. Next time, sign in with it: no password needed.",
	"renamed": "The passkey was renamed.",
	"deleted": "The passkey was deleted. Remove it from the device or password manager too.",
}

func (p *Passkeys) list(w http.ResponseWriter, r *http.Request) {
	v, ok := p.Account.RequireUser(w, r)
	if !ok {
		return
	}
	rows, err := p.Store.ListPasskeys(r.Context(), v.User.ID)
	if err != nil {
		p.Account.Fail(w, r, err)
		return
	}
	var view passkeysView
	for _, k := range rows {
		pv := passkeyView{ID: k.ID, Name: k.Name, Synced: k.BackupEligible, Created: k.CreatedAt.UTC().Format("2006-01-02 15:04 MST")}
		if k.LastUsedAt != nil {
			pv.LastUsed = k.LastUsedAt.UTC().Format("2006-01-02 15:04 MST")
		}
		view.Passkeys = append(view.Passkeys, pv)
	}
	page := templates.Page{Title: "Passkeys", Notice: passkeyNotices[r.URL.Query().Get("done")], Data: view}
	switch r.URL.Query().Get("error") {
	case "last":
		page.Error = "This is your only way to sign in: set a password or add another passkey before deleting it."
	case "last2fa":
		for _, k := range view.Passkeys {
			if k.ID == r.URL.Query().Get("passkey") {
				view.ConfirmTwoFAOff = k.ID
				page.Data = view
				page.Error = "This passkey is your only second factor: deleting it turns two-factor authentication off, and your password alone will sign you in. Add an authenticator app or another passkey first, or confirm below."
			}
		}
	}
	p.Account.Page(w, http.StatusOK, "account_passkeys", v, page)
}

// begin starts a registration. Adding a way to sign in is sensitive (a
// stolen session must not plant a lasting one), so it needs a recent proof
// like deleting does; the script is sent to re-authenticate otherwise.
func (p *Passkeys) begin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	v, ok := p.jsonViewer(w, r)
	if !ok {
		return
	}
	fresh, err := p.Account.Recent(ctx, v)
	if err != nil {
		p.jsonFail(w, r, err)
		return
	}
	if !fresh {
		web.WriteJSON(w, http.StatusForbidden, web.JSONError{
			Error:          "Please confirm it is you before adding a passkey.",
			Reauthenticate: passkeyConfirmPath,
		})
		return
	}
	// The ceremony's state lives in a flow bound to this browser and this
	// session; it is already done as a login, so /login cannot reuse it.
	fl := login.NewCeremony(v.User.ID, v.Session.Hash, PasskeysPath)
	publicKey, err := p.Ceremonies.BeginRegistration(ctx, v.User, fl)
	if err != nil {
		p.jsonFail(w, r, err)
		return
	}
	if err := p.Account.Login.Flows.New(ctx, p.Account.Kit.BrowserID(w, r), fl); err != nil {
		p.jsonFail(w, r, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, struct {
		Flow      string `json:"flow"`
		PublicKey any    `json:"publicKey"`
	}{fl.ID, publicKey})
}

// finish consumes the registration flow (the challenge answers once, even
// when the answer is wrong), then lets the factor verify and store.
func (p *Passkeys) finish(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	v, ok := p.jsonViewer(w, r)
	if !ok {
		return
	}
	browser := p.Account.Kit.BrowserID(w, r)
	flows := p.Account.Login.Flows
	fl, err := flows.Get(ctx, r.URL.Query().Get("flow"), browser)
	if err == nil && (!fl.IsCeremony() || fl.UserID != v.User.ID || fl.SessionHash != v.Session.Hash || fl.ReturnTo != PasskeysPath) {
		err = login.ErrFlowNotFound
	}
	if err == nil {
		err = flows.Consume(ctx, fl.ID)
	}
	if errors.Is(err, login.ErrFlowNotFound) {
		web.WriteJSON(w, http.StatusBadRequest, web.JSONError{Error: "This registration expired. Please try again."})
		return
	}
	if err != nil {
		p.jsonFail(w, r, err)
		return
	}
	pk, err := p.Ceremonies.FinishRegistration(ctx, v.User, fl, cleanName(r.PostForm.Get("name")), []byte(r.PostForm.Get("credential")))
	if errors.Is(err, login.ErrInvalid) {
		web.WriteJSON(w, http.StatusBadRequest, web.JSONError{Error: userMessage(err)})
		return
	}
	if err != nil {
		p.jsonFail(w, r, err)
		return
	}
	kind := "synced"
	if !pk.BackupEligible {
		kind = "device-bound"
	}
	p.Account.Audit(r, v.User.ID, "passkey.added", "passkey="+pk.ID+" name="+quote(pk.Name)+" "+kind)
	p.PasskeyAdded(r, v.User, pk)
	web.WriteJSON(w, http.StatusOK, struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}{pk.ID, pk.Name})
}

// confirm sends the user to prove who they are, then back to the list.
func (p *Passkeys) confirm(w http.ResponseWriter, r *http.Request) {
	v, ok := p.Account.RequireUser(w, r)
	if !ok {
		return
	}
	if p.Account.RequireRecent(w, r, v, PasskeysPath) {
		http.Redirect(w, r, PasskeysPath, http.StatusSeeOther)
	}
}

func (p *Passkeys) rename(w http.ResponseWriter, r *http.Request) {
	v, ok := p.Account.PostedForm(w, r)
	if !ok {
		return
	}
	name := cleanName(r.PostForm.Get("name"))
	if name == "" {
		http.Redirect(w, r, PasskeysPath, http.StatusSeeOther)
		return
	}
	id := mux.Vars(r)["id"]
	if err := p.Store.RenamePasskey(r.Context(), v.User.ID, id, name); err != nil {
		p.notFoundOrFail(w, r, err)
		return
	}
	p.Account.Audit(r, v.User.ID, "passkey.renamed", "passkey="+id+" name="+quote(name))
	http.Redirect(w, r, PasskeysPath+"?done=renamed", http.StatusSeeOther)
}

// delete needs a recent proof; it refuses to remove the last way the user
// has to sign in.
func (p *Passkeys) delete(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	v, ok := p.Account.PostedRecent(w, r, PasskeysPath)
	if !ok {
		return
	}
	id := mux.Vars(r)["id"]
	rows, err := p.Store.ListPasskeys(ctx, v.User.ID)
	if err != nil {
		p.Account.Fail(w, r, err)
		return
	}
	twoFAOff := false
	if len(rows) == 1 && rows[0].ID == id {
		other, err := p.otherSignIn(ctx, v.User.ID)
		if err != nil {
			p.Account.Fail(w, r, err)
			return
		}
		if !other {
			http.Redirect(w, r, PasskeysPath+"?error=last", http.StatusSeeOther)
			return
		}
		// The only second factor: deleting it turns 2FA off, which the
		// user must say in so many words, as on /account/totp.
		if twoFAOff, err = p.lastSecondFactor(ctx, v.User.ID); err != nil {
			p.Account.Fail(w, r, err)
			return
		}
		if twoFAOff && r.PostForm.Get("confirm") != confirmTwoFAOff {
			http.Redirect(w, r, PasskeysPath+"?error=last2fa&passkey="+url.QueryEscape(id), http.StatusSeeOther)
			return
		}
	}
	if err := p.Store.DeletePasskey(ctx, v.User.ID, id); err != nil {
		p.notFoundOrFail(w, r, err)
		return
	}
	detail := "passkey=" + id
	if twoFAOff {
		detail += " 2fa=off"
		p.Account.Audit(r, v.User.ID, "twofactor.disabled", "the last passkey was deleted")
	}
	p.Account.Audit(r, v.User.ID, "passkey.deleted", detail)
	p.notify(r, v.User, "A passkey was removed from your account", "A passkey was removed: it can no longer sign in to your account.")
	http.Redirect(w, r, PasskeysPath+"?done=deleted", http.StatusSeeOther)
}

// otherSignIn tells whether the user can still start a sign-in without a
// passkey: an identifying factor that needs no enrollment (a magic link),
// or one they enrolled (a password).
func (p *Passkeys) otherSignIn(ctx context.Context, userID string) (bool, error) {
	enrolled, _, err := p.Account.Login.Enrolled(ctx, userID)
	if err != nil {
		return false, err
	}
	for _, f := range p.Account.Login.Factors {
		if _, ok := f.(login.Identifier); !ok || f.Method() == login.MethodPasskey {
			continue
		}
		_, enrollable := f.(login.Enrollable)
		if !enrollable || slices.Contains(enrolled, f.Method()) {
			return true, nil
		}
	}
	return false, nil
}

// confirmTwoFAOff is the delete form's answer that turns 2FA off with the
// last second factor.
const confirmTwoFAOff = "turn-off-2fa"

// lastSecondFactor tells whether the user's passkeys are their only second
// factor (no authenticator app): the last one keeps 2FA on.
func (p *Passkeys) lastSecondFactor(ctx context.Context, userID string) (bool, error) {
	enrolled, twoFA, err := p.Account.Login.Enrolled(ctx, userID)
	if err != nil || !twoFA {
		return false, err
	}
	for _, f := range p.Account.Login.Factors {
		if _, second := f.(login.SecondFactor); second && f.Method() != login.MethodPasskey && slices.Contains(enrolled, f.Method()) {
			return false, nil
		}
	}
	return true, nil
}

// jsonViewer is PostedForm for the script's requests: it answers in JSON
// instead of redirecting.
func (p *Passkeys) jsonViewer(w http.ResponseWriter, r *http.Request) (*Viewer, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, 128<<10)
	sess, err := p.Account.Login.Sessions.Current(r.Context(), r)
	if err != nil {
		p.jsonFail(w, r, err)
		return nil, false
	}
	if sess == nil {
		web.WriteJSON(w, http.StatusUnauthorized, web.JSONError{Error: "You are signed out. Reload the page to sign in again."})
		return nil, false
	}
	v, ok := p.Account.RequireUser(w, r)
	if !ok {
		return nil, false
	}
	if err := r.ParseForm(); err != nil || !p.Account.CheckCSRF(r, v) {
		web.WriteJSON(w, http.StatusForbidden, web.JSONError{Error: "This page expired. Reload it and try again."})
		return nil, false
	}
	return v, true
}

func (p *Passkeys) jsonFail(w http.ResponseWriter, r *http.Request, err error) {
	p.Account.Log.ErrorContext(r.Context(), "account passkeys", "path", r.URL.Path, "err", err)
	web.WriteJSON(w, http.StatusServiceUnavailable, web.JSONError{Error: "Something went wrong. Please try again in a moment."})
}

func (p *Passkeys) notFoundOrFail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, store.ErrNotFound) {
		p.Account.Render.Error(w, http.StatusNotFound, "Passkey not found", "It may have been deleted already.")
		return
	}
	p.Account.Fail(w, r, err)
}

// cleanName keeps a user-chosen name printable and short.
func cleanName(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case unicode.IsSpace(r):
			return ' '
		case unicode.IsControl(r) || r == unicode.ReplacementChar:
			return -1
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if rs := []rune(s); len(rs) > MaxPasskeyName {
		s = strings.TrimSpace(string(rs[:MaxPasskeyName]))
	}
	return s
}

func quote(s string) string { return strconv.Quote(s) }

// userMessage is the part of a factor's refusal meant for the user: the
// text after the sentinel's own.
func userMessage(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, ": "); i >= 0 && strings.HasPrefix(msg, login.ErrInvalid.Error()) {
		msg = msg[i+2:]
	}
	if msg == "" {
		return "The passkey could not be added."
	}
	return strings.ToUpper(msg[:1]) + msg[1:] + "."
}

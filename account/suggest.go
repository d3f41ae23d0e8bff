package account

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"latchkey/login"
	"latchkey/templates"
	"latchkey/web"
)

// The passkey suggestion is the upgrade prompt shown right after a
// password sign-in or a sign-up, to users who have no passkey yet and whose
// browser can make one (the login page's script says so in the form's
// "webauthn" field). "Not now" is remembered on the browser for a while.
const (
	suggestPath       = PasskeysPath + "/suggest"
	suggestCookie     = "lk_passkey_later"
	suggestQuietSpell = 30 * 24 * time.Hour
)

// Suggest is login.Pages' AfterLogin hook: it returns where a finished
// sign-in goes next, which is next itself unless the suggestion applies.
func (p *Passkeys) Suggest(r *http.Request, fl *login.Flow, next string) string {
	if r.PostForm.Get("webauthn") != "1" || !local(next) || strings.HasPrefix(next, PasskeysPath) {
		return next
	}
	if c, err := p.Account.Kit.Cookie(r, suggestCookie); err == nil && c.Value == "1" {
		return next
	}
	if len(fl.Results) == 0 || fl.Results[len(fl.Results)-1].Method != login.MethodPassword {
		return next
	}
	keys, err := p.Store.ListPasskeys(r.Context(), fl.UserID)
	if err != nil || len(keys) > 0 {
		return next
	}
	return suggestPath + "?continue=" + url.QueryEscape(next)
}

// local accepts only a path on this server, so ?continue= is no open
// redirect.
func local(s string) bool { return web.LocalPath(s) }

type suggestView struct {
	Continue string
}

func (p *Passkeys) suggest(w http.ResponseWriter, r *http.Request) {
	v, ok := p.Account.RequireUser(w, r)
	if !ok {
		return
	}
	next := r.URL.Query().Get("continue")
	if !local(next) {
		next = "/account"
	}
	p.Account.Page(w, http.StatusOK, "account_passkey_suggest", v, templates.Page{Title: "Sign in faster with a passkey",
		Client: flowClient(next), Data: suggestView{Continue: next}})
}

// flowClient is the client of the authorization a finished sign-in
// returns to, when next is /oauth2/auth: "Not now" posts here and is
// redirected on to that client, which form-action must allow.
func flowClient(next string) string {
	u, err := url.Parse(next)
	if err != nil || u.Path != "/oauth2/auth" {
		return ""
	}
	return u.Query().Get("client_id")
}

func (p *Passkeys) later(w http.ResponseWriter, r *http.Request) {
	if _, ok := p.Account.PostedForm(w, r); !ok {
		return
	}
	next := r.PostForm.Get("continue")
	if !local(next) {
		next = "/account"
	}
	p.Account.Kit.SetCookie(w, suggestCookie, "1", suggestQuietSpell)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

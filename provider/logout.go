package provider

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/ory/fosite/token/jwt"

	"latchkey/login"
	"latchkey/templates"
	"latchkey/web"
)

// SessionClients tracks which clients received tokens in an SSO session.
type SessionClients interface {
	AddSessionClient(ctx context.Context, sessionHash, clientID string) error
	SessionClients(ctx context.Context, sessionHash string) ([]string, error)
}

// backchannelEvent is the event claim of OpenID Back-Channel Logout 1.0.
const backchannelEvent = "http://schemas.openid.net/event/backchannel-logout"

type logoutRequest struct {
	hint, redirect, state, clientID string
}

func (lr logoutRequest) hidden() map[string]string {
	h := map[string]string{}
	for k, v := range map[string]string{"id_token_hint": lr.hint, "post_logout_redirect_uri": lr.redirect, "state": lr.state, "client_id": lr.clientID} {
		if v != "" {
			h[k] = v
		}
	}
	return h
}

// endSession is RP-initiated logout 1.0. A request whose id_token_hint
// names the browser's current session signs out at once; any other asks
// the user to confirm, so a third-party page cannot sign people out.
func (p *Provider) endSession(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := r.ParseForm(); err != nil {
		p.Render.Error(w, http.StatusBadRequest, "Bad request", "The sign-out request could not be read.")
		return
	}
	lr := logoutRequest{hint: r.Form.Get("id_token_hint"), redirect: r.Form.Get("post_logout_redirect_uri"),
		state: r.Form.Get("state"), clientID: r.Form.Get("client_id")}
	var hintSub, hintSID string
	if lr.hint != "" {
		claims, err := p.hintClaims(r, lr.hint)
		if err != nil {
			p.Render.Error(w, http.StatusBadRequest, "Invalid sign-out request", "The id_token_hint was not issued by this provider.")
			return
		}
		hintSub, _ = claims["sub"].(string)
		hintSID, _ = claims["sid"].(string)
		aud := audiences(claims["aud"])
		if lr.clientID == "" && len(aud) == 1 {
			lr.clientID = aud[0]
		} else if lr.clientID != "" && !slices.Contains(aud, lr.clientID) {
			p.Render.Error(w, http.StatusBadRequest, "Invalid sign-out request", "The client_id does not match the id_token_hint.")
			return
		}
	}
	if lr.redirect != "" {
		c, ok := p.Clients.Get(lr.clientID)
		if !ok || !slices.ContainsFunc(c.PostLogoutRedirectURIs, func(u string) bool { return sameURI(u, lr.redirect) }) {
			p.Render.Error(w, http.StatusBadRequest, "Invalid sign-out request",
				"The post_logout_redirect_uri is not registered for this application.")
			return
		}
	}

	sess, err := p.Login.Sessions.Current(ctx, r)
	if err != nil {
		p.unavailable(w, r, err)
		return
	}
	confirmed := r.Method == http.MethodPost && r.PostForm.Get("confirm") == "yes" && p.Login.Kit.CheckCSRF(r, "logout")
	hinted := sess != nil && hintSub == sess.UserID && (hintSID == "" || hintSID == sess.Hash)
	if sess != nil && !confirmed && !hinted {
		browser := p.Login.Kit.BrowserID(w, r)
		page := templates.Page{Title: "Sign out", CSRF: p.Login.Kit.CSRFToken(browser, "logout"),
			Data: struct {
				Action string
				Hidden map[string]string
			}{"/oauth2/logout", lr.hidden()}}
		if u, err := p.Users.UserByID(ctx, sess.UserID); err == nil {
			page.SignedIn = u.Email
		}
		if lr.redirect != "" {
			// Confirming posts here and is redirected to the
			// application: form-action allows exactly that origin.
			page.FormAction = templates.FormOrigins([]string{lr.redirect})
		}
		p.Render.Render(w, http.StatusOK, "logout", page)
		return
	}
	switch {
	case sess != nil:
		if _, err := p.Login.Sessions.End(ctx, sess, login.EndRPLogout); err != nil {
			p.unavailable(w, r, err)
			return
		}
		p.Login.Sessions.ClearCookie(w)
	case hintSub != "":
		// No browser session: the relying party's server calls, or the
		// browser's cookie is gone. The hint names what to end.
		if err := p.endHinted(ctx, hintSub, hintSID, lr.clientID); err != nil {
			p.unavailable(w, r, err)
			return
		}
	}
	if lr.redirect != "" {
		u, _ := url.Parse(lr.redirect)
		if lr.state != "" {
			q := u.Query()
			q.Set("state", lr.state)
			u.RawQuery = q.Encode()
		}
		http.Redirect(w, r, u.String(), http.StatusSeeOther)
		return
	}
	p.Render.Render(w, http.StatusOK, "logout", templates.Page{Title: "Signed out", Notice: "You are signed out."})
}

// endHinted ends the session an id_token_hint names by its sid, or, when
// the hint has no sid, the user's sessions in which the client received
// tokens. Sessions of another user than the hint's subject are left alone.
func (p *Provider) endHinted(ctx context.Context, sub, sid, clientID string) error {
	if sid != "" {
		sess, err := p.Login.Sessions.Get(ctx, sid)
		if err != nil || sess == nil || sess.UserID != sub {
			return err
		}
		_, err = p.Login.Sessions.End(ctx, sess, login.EndRPLogout)
		return err
	}
	if clientID == "" {
		return nil
	}
	list, err := p.Login.Sessions.List(ctx, sub)
	if err != nil {
		return err
	}
	for _, sess := range list {
		ids, err := p.SessionClients.SessionClients(ctx, sess.Hash)
		if err != nil {
			return err
		}
		if !slices.Contains(ids, clientID) {
			continue
		}
		if _, err := p.Login.Sessions.End(ctx, sess, login.EndRPLogout); err != nil {
			return err
		}
	}
	return nil
}

// unavailable answers a sign-out the database could not carry out: it must
// not look like it worked.
func (p *Provider) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	p.Log.ErrorContext(r.Context(), "end session", "err", err)
	p.Render.Error(w, http.StatusServiceUnavailable, "Sign-out did not complete", "Please try again in a moment.")
}

func (p *Provider) hintClaims(r *http.Request, hint string) (jwt.MapClaims, error) {
	tok, err := p.signer.Decode(r.Context(), hint)
	var ve *jwt.ValidationError
	if err != nil && !(errors.As(err, &ve) && ve.Has(jwt.ValidationErrorExpired)) {
		return nil, err
	}
	if tok == nil {
		return nil, errors.New("undecodable id_token_hint")
	}
	if iss, _ := tok.Claims["iss"].(string); iss != p.Issuer {
		return nil, errors.New("id_token_hint from another issuer")
	}
	return tok.Claims, nil
}

func audiences(v any) []string {
	switch a := v.(type) {
	case string:
		return []string{a}
	case []any:
		var out []string
		for _, x := range a {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case []string:
		return a
	}
	return nil
}

// backchannelTimeout bounds each notification; a slow RP must not hold up
// the user's sign-out for long.
const backchannelTimeout = 5 * time.Second

// Backchannel sends OpenID Back-Channel Logout tokens. It implements
// login.LogoutNotifier, so every way a session ends (login.Sessions.End)
// reaches the relying parties; the CLI builds one too.
type Backchannel struct {
	Issuer         string
	Clients        *Clients
	SessionClients SessionClients
	// HTTPClient delivers the tokens; nil: a default with a short timeout.
	HTTPClient *http.Client
	Log        *slog.Logger
	signer     *signer
}

var _ login.LogoutNotifier = (*Backchannel)(nil)

// NewBackchannel builds a sender that signs with keys.
func NewBackchannel(issuer string, clients *Clients, keys *Keys, sc SessionClients, log *slog.Logger) *Backchannel {
	return &Backchannel{Issuer: issuer, Clients: clients, SessionClients: sc, Log: log, signer: &signer{keys: keys}}
}

// NotifyLogout tells every client that received tokens in the ended
// session, and configured a backchannel_logout_uri, with a signed logout
// token. It waits for the deliveries (bounded) so tests and operators see
// their outcome in the log. It must not run inside a transaction.
func (b *Backchannel) NotifyLogout(ctx context.Context, sess *login.Session) {
	ids, err := b.SessionClients.SessionClients(ctx, sess.Hash)
	if err != nil {
		b.Log.ErrorContext(ctx, "back-channel logout", "err", err)
		return
	}
	client := b.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: backchannelTimeout}
	}
	var wg sync.WaitGroup
	for _, id := range ids {
		c, ok := b.Clients.Get(id)
		if !ok || c.BackchannelLogoutURI == "" {
			continue
		}
		token, err := b.logoutToken(ctx, c.ID, sess)
		if err != nil {
			b.Log.ErrorContext(ctx, "back-channel logout token", "client", c.ID, "err", err)
			continue
		}
		wg.Add(1)
		go func(uri, clientID string) {
			defer wg.Done()
			resp, err := client.PostForm(uri, url.Values{"logout_token": {token}})
			if err != nil {
				b.Log.WarnContext(ctx, "back-channel logout failed", "client", clientID, "err", err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
				b.Log.WarnContext(ctx, "back-channel logout refused", "client", clientID, "status", resp.StatusCode)
			}
		}(c.BackchannelLogoutURI, c.ID)
	}
	wg.Wait()
}

func (b *Backchannel) logoutToken(ctx context.Context, clientID string, sess *login.Session) (string, error) {
	// Token times are wall-clock, like the ID tokens fosite issues: the
	// relying party checks them against its own clock.
	now := time.Now().UTC()
	claims := jwt.MapClaims{
		"iss":    b.Issuer,
		"aud":    []string{clientID},
		"iat":    now.Unix(),
		"exp":    now.Add(2 * time.Minute).Unix(),
		"jti":    web.RandomString(nil, 16),
		"sub":    sess.UserID,
		"sid":    sess.Hash,
		"events": map[string]any{backchannelEvent: map[string]any{}},
	}
	tok, _, err := b.signer.Generate(ctx, claims, &jwt.Headers{Extra: map[string]interface{}{"typ": "logout+jwt"}})
	return tok, err
}

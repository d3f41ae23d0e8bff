package provider

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gorilla/mux"
	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"

	"latchkey/login"
	"latchkey/metrics"
	"latchkey/store"
	"latchkey/templates"
)

// Mount registers the OIDC endpoints.
func (p *Provider) Mount(r *mux.Router) {
	r.HandleFunc("/.well-known/openid-configuration", p.discovery).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/oauth2/jwks", p.jwks).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/oauth2/auth", p.authorize).Methods(http.MethodGet, http.MethodPost)
	r.HandleFunc("/oauth2/token", p.token).Methods(http.MethodPost)
	r.HandleFunc("/oauth2/userinfo", p.userinfo).Methods(http.MethodGet, http.MethodPost)
	r.HandleFunc("/oauth2/revoke", p.revoke).Methods(http.MethodPost)
	r.HandleFunc("/oauth2/introspect", p.introspect).Methods(http.MethodPost)
	r.HandleFunc("/oauth2/logout", p.endSession).Methods(http.MethodGet, http.MethodPost)
}

// ClaimsSupported lists the claims the provider issues.
var ClaimsSupported = []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr",
	"at_hash", "sid", "email", "email_verified", "name"}

func (p *Provider) discovery(w http.ResponseWriter, r *http.Request) {
	iss := p.Issuer
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                        iss,
		"authorization_endpoint":                        iss + "/oauth2/auth",
		"token_endpoint":                                iss + "/oauth2/token",
		"userinfo_endpoint":                             iss + "/oauth2/userinfo",
		"jwks_uri":                                      iss + "/oauth2/jwks",
		"revocation_endpoint":                           iss + "/oauth2/revoke",
		"introspection_endpoint":                        iss + "/oauth2/introspect",
		"end_session_endpoint":                          iss + "/oauth2/logout",
		"backchannel_logout_supported":                  true,
		"backchannel_logout_session_supported":          true,
		"scopes_supported":                              []string{"openid", "profile", "email", "offline_access"},
		"response_types_supported":                      []string{"code"},
		"response_modes_supported":                      []string{"query", "form_post"},
		"grant_types_supported":                         []string{"authorization_code", "refresh_token", "client_credentials"},
		"subject_types_supported":                       []string{"public"},
		"id_token_signing_alg_values_supported":         p.Keys.Algorithms(),
		"token_endpoint_auth_methods_supported":         []string{"client_secret_basic", "client_secret_post", "none"},
		"revocation_endpoint_auth_methods_supported":    []string{"client_secret_basic", "client_secret_post"},
		"introspection_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		"code_challenge_methods_supported":              []string{"S256"},
		"claims_supported":                              ClaimsSupported,
		"acr_values_supported":                          login.ACRValuesSupported(),
		"prompt_values_supported":                       []string{"none", "login", "consent"},
		// The claims parameter is read only for acr (claimsACR); claims
		// are granted by scope. Saying false keeps RPs from relying on an
		// essential claim being honoured (see README, Design).
		"claims_parameter_supported":      false,
		"request_parameter_supported":     false,
		"request_uri_parameter_supported": false,
	})
}

func (p *Provider) jwks(w http.ResponseWriter, r *http.Request) {
	set, err := p.Keys.Public(r.Context())
	if err != nil {
		p.Log.ErrorContext(r.Context(), "jwks", "err", err)
		http.Error(w, "signing keys unavailable", http.StatusServiceUnavailable)
		return
	}
	// Short: a rotated key signs within seconds, and relying parties that
	// do not refetch on an unknown kid must see it soon.
	w.Header().Set("Cache-Control", "public, max-age=10")
	writeJSON(w, http.StatusOK, set)
}

// returnURL is the authorization URL the browser comes back to after
// login and consent, without the verifier those steps append.
func returnURL(r *http.Request) string {
	q := url.Values{}
	for k, v := range r.Form {
		if k != login.VerifierParam {
			q[k] = v
		}
	}
	return "/oauth2/auth?" + q.Encode()
}

func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if !p.redirectAllowed(r) {
		// No verified redirect URI: shown, never redirected.
		p.writeAuthorizeError(w, r, nil, fosite.ErrInvalidRequest.WithHint("The redirect_uri is not one the client registered."))
		return
	}
	if err := r.ParseForm(); err != nil {
		p.Render.ErrorCode(w, http.StatusBadRequest, "This sign-in link does not work",
			"The request could not be read.", fosite.ErrInvalidRequest.ErrorField)
		return
	}
	if stateTooLong(r.Form) {
		// Shown, never redirected: the redirect would carry the state.
		p.writeAuthorizeError(w, r, nil, fosite.ErrInvalidRequest.WithHint("The state is too long."))
		return
	}
	// Request objects are not supported (discovery says so). fosite refuses
	// them before it has checked the redirect URI, so the refusal could not
	// go back to the client; set them aside, let fosite check the client and
	// redirect URI, and answer request_not_supported there (OIDC Core 6.1).
	unsupported := requestObjectError(r.Form)
	if unsupported != nil {
		r.Form.Del("request")
		r.Form.Del("request_uri")
	}
	ar, err := p.oauth.NewAuthorizeRequest(ctx, r)
	if unsupported != nil && (err == nil || (ar != nil && ar.IsRedirectURIValid())) {
		p.writeAuthorizeError(w, r, ar, unsupported)
		return
	}
	if err != nil {
		p.authorizeError(w, r, ar, err)
		return
	}
	client := ar.GetClient().(*Client)
	form := ar.GetRequestForm()
	// fosite checks PKCE only when it issues the code; refuse before the
	// user signs in for nothing.
	if client.IsPublic() && (form.Get("code_challenge") == "" || form.Get("code_challenge_method") != "S256") {
		p.writeAuthorizeError(w, r, ar, fosite.ErrInvalidRequest.WithHint("Public clients must use PKCE with code_challenge_method=S256."))
		return
	}
	returnTo := returnURL(r)
	if err := boundsError(r.Form, returnTo); err != nil {
		p.writeAuthorizeError(w, r, ar, err)
		return
	}
	req := login.AuthRequest{
		ClientID:        client.ID,
		ClientMin:       client.MinACR,
		StepUpMaxAge:    client.StepUpMaxAge,
		RememberAllowed: client.RemembersBrowser,
		SkipConsent:     client.SkipConsent,
		ACRValues:       append(strings.Fields(form.Get("acr_values")), claimsACR(form.Get("claims"))...),
		Prompt:          strings.Fields(form.Get("prompt")),
		MaxAge:          -1,
		LoginHint:       form.Get("login_hint"),
		Scopes:          ar.GetRequestedScopes(),
		ReturnTo:        returnTo,
		Verifier:        r.Form.Get(login.VerifierParam),
	}
	if v := form.Get("max_age"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			p.writeAuthorizeError(w, r, ar, fosite.ErrInvalidRequest.WithHint("max_age must be a non-negative integer."))
			return
		}
		req.MaxAge = n
	}
	if hint := form.Get("id_token_hint"); hint != "" {
		sub, err := p.hintSubject(r, hint)
		if err != nil {
			p.writeAuthorizeError(w, r, ar, fosite.ErrInvalidRequest.WithHint("The id_token_hint is not an ID token this provider issued."))
			return
		}
		req.HintSubject = sub
	}

	// Login decides the next step (login.Next); the provider only issues.
	out, err := p.Login.Authorize(ctx, w, r, req)
	switch {
	case errors.Is(err, login.ErrLoginRequired):
		p.writeAuthorizeError(w, r, ar, fosite.ErrLoginRequired)
		return
	case errors.Is(err, login.ErrConsentRequired):
		p.writeAuthorizeError(w, r, ar, fosite.ErrConsentRequired)
		return
	case err != nil:
		p.authorizeError(w, r, ar, err)
		return
	}
	switch out.Step {
	case login.StepIssue:
	case login.StepDeny:
		p.writeAuthorizeError(w, r, ar, fosite.ErrAccessDenied.WithHint("The user denied the request."))
		return
	default:
		http.Redirect(w, r, out.Redirect, http.StatusSeeOther)
		return
	}
	userID := out.Session.UserID
	scopes := ar.GetRequestedScopes()
	for _, s := range scopes {
		ar.GrantScope(s)
	}
	user, err := p.Users.UserByID(ctx, userID)
	if err != nil {
		p.authorizeError(w, r, ar, err)
		return
	}
	sess := newSession(userID, out.Results, out.Session.Hash, out.RequestedAt)
	addScopeClaims(sess.Claims, ar.GetGrantedScopes(), user.Email, user.EmailVerified, user.Name)
	resp, err := p.oauth.NewAuthorizeResponse(ctx, ar, sess)
	if err != nil {
		p.authorizeError(w, r, ar, err)
		return
	}
	if err := p.SessionClients.AddSessionClient(ctx, out.Session.Hash, client.ID); err != nil {
		p.authorizeError(w, r, ar, err)
		return
	}
	p.writeAuthorizeResponse(w, r, ar, resp)
}

// requestObjectError is the refusal for a request or request_uri parameter.
func requestObjectError(form url.Values) error {
	switch {
	case form.Get("request_uri") != "":
		return fosite.ErrRequestURINotSupported.WithHint("Request objects by reference are not supported.")
	case form.Get("request") != "":
		return fosite.ErrRequestNotSupported.WithHint("Request objects are not supported.")
	}
	return nil
}

// redirectAllowed applies exact matching to confidential clients. fosite
// ignores the port of loopback redirect URIs for every client; RFC 8252
// 7.3 allows that only for native apps, which are public clients. Other
// mismatches are left to fosite.
func (p *Provider) redirectAllowed(r *http.Request) bool {
	if r.ParseForm() != nil {
		// fosite goes on with what did parse and may redirect to a
		// loopback URI on another port (found by FuzzAuthorizeRequest):
		// a malformed query gets the error page, never a redirect.
		return false
	}
	c, ok := p.Clients.Get(r.Form.Get("client_id"))
	uri := r.Form.Get("redirect_uri")
	if !ok || c.IsPublic() || uri == "" {
		return true
	}
	return slices.Contains(c.GetRedirectURIs(), uri)
}

// claimsACR reads the acr the claims parameter asks for (OIDC Core 5.5.1.1):
// {"id_token":{"acr":{"essential":true,"values":["mfa"]}}}. Other requested
// claims are served by scope; a malformed parameter asks for nothing.
func claimsACR(raw string) []string {
	if raw == "" {
		return nil
	}
	var req struct {
		IDToken struct {
			ACR *struct {
				Value  string   `json:"value"`
				Values []string `json:"values"`
			} `json:"acr"`
		} `json:"id_token"`
	}
	if json.Unmarshal([]byte(raw), &req) != nil || req.IDToken.ACR == nil {
		return nil
	}
	out := req.IDToken.ACR.Values
	if v := req.IDToken.ACR.Value; v != "" {
		out = append(out, v)
	}
	return out
}

// addScopeClaims puts the claims a scope grants into the ID token.
func addScopeClaims(c *jwt.IDTokenClaims, scopes fosite.Arguments, email string, verified bool, name string) {
	if scopes.Has("email") {
		c.Add("email", email)
		c.Add("email_verified", verified)
	}
	if scopes.Has("profile") && name != "" {
		c.Add("name", name)
	}
}

// authorizeError answers an authorization request that failed. Errors that
// fosite can send back to a verified redirect URI go there; the rest (an
// unknown client, an unregistered redirect URI) are shown to the user,
// never redirected (RFC 6749 4.1.2.1).
func (p *Provider) authorizeError(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, err error) {
	var rfc *fosite.RFC6749Error
	if !errors.As(err, &rfc) || isUnavailable(err) {
		// What is not an OAuth error is the database or the keys failing.
		p.Log.ErrorContext(r.Context(), "authorize", "err", err)
		err = fosite.ErrTemporarilyUnavailable.WithWrap(err)
	}
	p.writeAuthorizeError(w, r, ar, err)
}

// writeAuthorizeError sends an authorization error back to the client's
// redirect URI when fosite verified it. When it did not (unknown client,
// unregistered redirect_uri, a request that never got that far), the error
// is for the person at the browser: an HTML page with the OAuth error code
// in small print, never raw JSON and never a redirect (RFC 6749 4.1.2.1).
func (p *Provider) writeAuthorizeError(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, err error) {
	rfc := fosite.ErrorToRFC6749Error(err)
	if ar == nil || !ar.IsRedirectURIValid() {
		status := http.StatusBadRequest
		if rfc.CodeField >= 500 {
			status = rfc.CodeField
		}
		p.Render.ErrorCode(w, status, "This sign-in link does not work", errorExplanation(rfc), rfc.ErrorField)
		return
	}
	if ar.GetResponseMode() == fosite.ResponseModeFormPost {
		v := rfc.ToValues()
		v.Set("state", ar.GetState())
		p.formPost(w, ar, v)
		return
	}
	p.oauth.WriteAuthorizeError(r.Context(), w, ar, err)
}

// errorExplanation says in plain words why an authorization request that
// cannot go back to its application failed.
func errorExplanation(rfc *fosite.RFC6749Error) string {
	switch rfc.ErrorField {
	case fosite.ErrInvalidClient.ErrorField:
		return "The application that sent you here is not known to this sign-in service. Go back to it and try again, or tell its administrator."
	case fosite.ErrInvalidRequest.ErrorField:
		if strings.Contains(rfc.HintField, "redirect_uri") {
			return "The application that sent you here asked to return to an address it has not registered, so we cannot send you back. Tell its administrator."
		}
	case fosite.ErrServerError.ErrorField, fosite.ErrTemporarilyUnavailable.ErrorField:
		return "Something went wrong on our side. Please try again in a moment."
	}
	return "The application that sent you here made a request we cannot complete. Go back to it and try again."
}

// writeAuthorizeResponse sends the code: a redirect, or for
// response_mode=form_post a page that posts it (OAuth 2.0 Form Post
// Response Mode), rendered by us so it carries the product's headers.
func (p *Provider) writeAuthorizeResponse(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, resp fosite.AuthorizeResponder) {
	if ar.GetResponseMode() == fosite.ResponseModeFormPost {
		p.formPost(w, ar, resp.GetParameters())
		return
	}
	p.oauth.WriteAuthorizeResponse(r.Context(), w, ar, resp)
}

// formPost renders the auto-submitting form; the script that submits it is
// a static file, so the page's CSP (script-src 'self') allows it, and the
// form-action directive allows posting to the client's redirect URI.
func (p *Provider) formPost(w http.ResponseWriter, ar fosite.AuthorizeRequester, params url.Values) {
	redir := *ar.GetRedirectURI()
	redir.Fragment = ""
	type field struct{ Name, Value string }
	var fields []field
	keys := slices.Sorted(maps.Keys(params))
	for _, k := range keys {
		for _, v := range params[k] {
			fields = append(fields, field{k, v})
		}
	}
	w.Header().Set("Pragma", "no-cache")
	p.Render.Render(w, http.StatusOK, "form_post", templates.Page{Title: "Returning to the application",
		FormAction: templates.FormOrigins([]string{redir.String()}),
		Data: struct {
			Action string
			Fields []field
		}{redir.String(), fields}})
}

func (p *Provider) hintSubject(r *http.Request, hint string) (string, error) {
	tok, err := p.signer.Decode(r.Context(), hint)
	var ve *jwt.ValidationError
	if err != nil && !(errors.As(err, &ve) && ve.Has(jwt.ValidationErrorExpired)) {
		return "", err
	}
	if tok == nil {
		return "", errors.New("undecodable id_token_hint")
	}
	if iss, _ := tok.Claims["iss"].(string); iss != p.Issuer {
		return "", errors.New("id_token_hint from another issuer")
	}
	sub, _ := tok.Claims["sub"].(string)
	if sub == "" {
		return "", errors.New("id_token_hint without subject")
	}
	return sub, nil
}

func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sess := &openid.DefaultSession{Claims: &jwt.IDTokenClaims{}, Headers: &jwt.Headers{}}
	ar, err := p.oauth.NewAccessRequest(ctx, r, sess)
	if err != nil {
		p.tokenError(w, r, ar, err)
		return
	}
	if ar.GetGrantTypes().ExactOne("refresh_token") || ar.GetGrantTypes().ExactOne("authorization_code") {
		// A user disabled since the grant gets nothing more.
		u, err := p.Users.UserByID(ctx, ar.GetSession().GetSubject())
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			p.tokenError(w, r, ar, unavailable(err))
			return
		}
		if err != nil || u.Disabled {
			p.tokenError(w, r, ar, fosite.ErrInvalidGrant.WithHint("The user's account is not active."))
			return
		}
	}
	if ar.GetGrantTypes().ExactOne("client_credentials") {
		// A machine acts for itself: no user, so no ID token and no
		// refresh token.
		for _, s := range ar.GetRequestedScopes() {
			if s != "openid" && s != "offline_access" {
				ar.GrantScope(s)
			}
		}
		sess.Subject = ar.GetClient().GetID()
		sess.Claims.Subject = ar.GetClient().GetID()
	}
	resp, err := p.oauth.NewAccessResponse(ctx, ar)
	if err != nil {
		p.tokenError(w, r, ar, err)
		return
	}
	p.oauth.WriteAccessResponse(ctx, w, ar, resp)
	for _, g := range ar.GetGrantTypes() {
		metrics.From(ctx).TokenIssued(g)
	}
}

// tokenError answers a failed token request. A code or refresh token that
// another request used while this one ran is a replay that lost the race
// (on PostgreSQL both can read it before either commits): it is answered
// like any replay, invalid_grant, and what the grant issued is revoked, as
// fosite does when the replay comes later.
func (p *Provider) tokenError(w http.ResponseWriter, r *http.Request, ar fosite.AccessRequester, err error) {
	ctx := r.Context()
	if ar != nil && (errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) || errors.Is(err, fosite.ErrSerializationFailure)) {
		if rerr := p.revokeGrant(ctx, ar.GetID()); rerr != nil {
			err = unavailable(rerr)
		} else {
			err = fosite.ErrInvalidGrant.WithHint("The authorization code or refresh token was already used.").WithWrap(err)
		}
	}
	err = oauthError(err)
	p.logTokenError(ctx, err)
	p.oauth.WriteAccessError(ctx, w, ar, err)
}
func (p *Provider) logTokenError(ctx context.Context, err error) {
	var rfc *fosite.RFC6749Error
	if errors.As(err, &rfc) && rfc.CodeField < 500 {
		p.Log.InfoContext(ctx, "token request refused", "error", rfc.ErrorField, "hint", rfc.HintField, "debug", rfc.DebugField)
		return
	}
	cause := err
	if errors.As(err, &rfc) && rfc.Unwrap() != nil {
		cause = rfc.Unwrap()
	}
	p.Log.ErrorContext(ctx, "token request failed", "err", err.Error(), "cause", cause.Error())
}

func (p *Provider) userinfo(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	// Only the Authorization header: a token in the URL ends up in logs
	// and Referer headers (RFC 6750 5.3).
	if r.URL.Query().Has("access_token") {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "Send the access token in the Authorization header, not the URL."})
		return
	}
	token := fosite.AccessTokenFromRequest(r)
	if token == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="latchkey"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_request", "error_description": "A bearer access token is required."})
		return
	}
	sess := &openid.DefaultSession{Claims: &jwt.IDTokenClaims{}, Headers: &jwt.Headers{}}
	_, ar, err := p.oauth.IntrospectToken(ctx, token, fosite.AccessToken, sess)
	if isUnavailable(err) {
		p.Log.ErrorContext(r.Context(), "userinfo", "err", err.Error())
		writeUnavailable(w)
		return
	}
	if err != nil || !ar.GetGrantedScopes().Has("openid") || sess.Claims.Subject == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="latchkey", error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token", "error_description": "The access token is invalid, expired or revoked."})
		return
	}
	user, err := p.Users.UserByID(ctx, sess.Claims.Subject)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		p.Log.ErrorContext(r.Context(), "userinfo", "err", err.Error())
		writeUnavailable(w)
		return
	}
	if err != nil || user.Disabled {
		w.Header().Set("WWW-Authenticate", `Bearer realm="latchkey", error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token"})
		return
	}
	claims := map[string]any{"sub": user.ID}
	scopes := ar.GetGrantedScopes()
	if scopes.Has("email") {
		claims["email"], claims["email_verified"] = user.Email, user.EmailVerified
	}
	if scopes.Has("profile") && user.Name != "" {
		claims["name"] = user.Name
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, claims)
}

func (p *Provider) revoke(w http.ResponseWriter, r *http.Request) {
	err := p.oauth.NewRevocationRequest(r.Context(), r)
	// fosite answers 200 to a revocation the database did not store; the
	// client must know to retry.
	if isUnavailable(err) {
		p.Log.ErrorContext(r.Context(), "revoke", "err", err.Error())
		writeUnavailable(w)
		return
	}
	p.oauth.WriteRevocationResponse(r.Context(), w, err)
}

func (p *Provider) introspect(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	// fosite authenticates introspection callers only through the
	// Authorization header; client_secret_post credentials are moved there
	// so both methods work as on the token endpoint.
	if r.Header.Get("Authorization") == "" && r.ParseForm() == nil && r.PostForm.Get("client_secret") != "" {
		r.SetBasicAuth(url.QueryEscape(r.PostForm.Get("client_id")), url.QueryEscape(r.PostForm.Get("client_secret")))
	}
	// Only a client authenticated by its own credentials may ask: fosite
	// would also take a bearer access token as the caller, even a public
	// client's.
	id, _, ok := r.BasicAuth()
	caller, uerr := url.QueryUnescape(id)
	if !ok || uerr != nil {
		w.Header().Set("WWW-Authenticate", `Basic realm="latchkey"`)
		p.oauth.WriteIntrospectionError(ctx, w, fosite.ErrRequestUnauthorized.WithHint("Authenticate with the client's credentials."))
		return
	}
	sess := &openid.DefaultSession{Claims: &jwt.IDTokenClaims{}, Headers: &jwt.Headers{}}
	ir, err := p.oauth.NewIntrospectionRequest(ctx, r, sess)
	if isUnavailable(err) {
		p.Log.ErrorContext(r.Context(), "introspect", "err", err.Error())
		writeUnavailable(w)
		return
	}
	if err != nil {
		p.oauth.WriteIntrospectionError(ctx, w, err)
		return
	}
	// A client learns only about its own tokens; about any other token
	// the answer is the same as for an unknown one.
	if ir.GetAccessRequester().GetClient().GetID() != caller {
		p.oauth.WriteIntrospectionResponse(ctx, w, &fosite.IntrospectionResponse{Active: false})
		return
	}
	p.oauth.WriteIntrospectionResponse(ctx, w, ir)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

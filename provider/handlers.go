package provider

import (
	"context"
	"encoding/json"
	"errors"
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
		"response_modes_supported":                      []string{"query"},
		"grant_types_supported":                         []string{"authorization_code", "refresh_token", "client_credentials"},
		"subject_types_supported":                       []string{"public"},
		"id_token_signing_alg_values_supported":         []string{"RS256"},
		"token_endpoint_auth_methods_supported":         []string{"client_secret_basic", "client_secret_post", "none"},
		"revocation_endpoint_auth_methods_supported":    []string{"client_secret_basic", "client_secret_post"},
		"introspection_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		"code_challenge_methods_supported":              []string{"S256"},
		"claims_supported":                              ClaimsSupported,
		"acr_values_supported":                          login.ACRValuesSupported(),
		"prompt_values_supported":                       []string{"none", "login", "consent"},
		"claims_parameter_supported":                    true,
		"request_parameter_supported":                   false,
		"request_uri_parameter_supported":               false,
	})
}

func (p *Provider) jwks(w http.ResponseWriter, r *http.Request) {
	set, err := p.Keys.Public(r.Context())
	if err != nil {
		p.Log.Error("jwks", "err", err)
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
	ar, err := p.oauth.NewAuthorizeRequest(ctx, r)
	if err != nil {
		p.authorizeError(w, r, ar, err)
		return
	}
	client := ar.GetClient().(*Client)
	form := ar.GetRequestForm()
	// fosite checks PKCE only when it issues the code; refuse before the
	// user signs in for nothing.
	if client.IsPublic() && (form.Get("code_challenge") == "" || form.Get("code_challenge_method") != "S256") {
		p.oauth.WriteAuthorizeError(ctx, w, ar, fosite.ErrInvalidRequest.WithHint("Public clients must use PKCE with code_challenge_method=S256."))
		return
	}
	req := login.AuthRequest{
		ClientID:  client.ID,
		ClientMin: client.MinACR,
		ACRValues: append(strings.Fields(form.Get("acr_values")), claimsACR(form.Get("claims"))...),
		Prompt:    strings.Fields(form.Get("prompt")),
		MaxAge:    -1,
		LoginHint: form.Get("login_hint"),
		Scopes:    ar.GetRequestedScopes(),
		ReturnTo:  returnURL(r),
		Verifier:  r.Form.Get(login.VerifierParam),
	}
	if v := form.Get("max_age"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			p.oauth.WriteAuthorizeError(ctx, w, ar, fosite.ErrInvalidRequest.WithHint("max_age must be a non-negative integer."))
			return
		}
		req.MaxAge = n
	}
	if hint := form.Get("id_token_hint"); hint != "" {
		sub, err := p.hintSubject(r, hint)
		if err != nil {
			p.oauth.WriteAuthorizeError(ctx, w, ar, fosite.ErrInvalidRequest.WithHint("The id_token_hint is not an ID token this provider issued."))
			return
		}
		req.HintSubject = sub
	}

	out, err := p.Login.Authorize(ctx, w, r, req)
	if errors.Is(err, login.ErrLoginRequired) {
		p.oauth.WriteAuthorizeError(ctx, w, ar, fosite.ErrLoginRequired)
		return
	}
	if err != nil {
		p.authorizeError(w, r, ar, err)
		return
	}
	if out.Redirect != "" {
		http.Redirect(w, r, out.Redirect, http.StatusSeeOther)
		return
	}

	userID := out.Session.UserID
	scopes := ar.GetRequestedScopes()
	if out.Flow != nil && out.Flow.ConsentDenied {
		_ = p.Login.Flows.Consume(ctx, out.Flow.ID)
		p.oauth.WriteAuthorizeError(ctx, w, ar, fosite.ErrAccessDenied.WithHint("The user denied the request."))
		return
	}
	consented := out.Flow != nil && out.Flow.ConsentDone && covers(out.Flow.GrantedScopes, scopes)
	needConsent := false
	if slices.Contains(req.Prompt, "consent") {
		needConsent = !consented
	} else if !client.SkipConsent && !consented {
		granted, err := p.Consent.Granted(ctx, userID, client.ID, scopes)
		if err != nil {
			p.authorizeError(w, r, ar, err)
			return
		}
		needConsent = !granted
	}
	if needConsent {
		if slices.Contains(req.Prompt, "none") {
			p.oauth.WriteAuthorizeError(ctx, w, ar, fosite.ErrConsentRequired)
			return
		}
		fl, err := p.Login.InteractionFlow(ctx, w, r, out, req)
		if err != nil {
			p.authorizeError(w, r, ar, err)
			return
		}
		http.Redirect(w, r, "/consent?flow="+url.QueryEscape(fl.ID), http.StatusSeeOther)
		return
	}

	// The return URL is single-use: consuming the flow stops a replayed
	// redirect from minting a second code.
	if out.Flow != nil {
		if err := p.Login.Flows.Consume(ctx, out.Flow.ID); err != nil {
			p.authorizeError(w, r, ar, err)
			return
		}
	}
	for _, s := range scopes {
		ar.GrantScope(s)
	}
	user, err := p.Users.UserByID(ctx, userID)
	if err != nil {
		p.authorizeError(w, r, ar, err)
		return
	}
	sess := newSession(userID, out.Session.Results, out.Session.Hash, out.RequestedAt)
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
	p.oauth.WriteAuthorizeResponse(ctx, w, ar, resp)
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

func covers(granted, want []string) bool {
	for _, s := range want {
		if !slices.Contains(granted, s) {
			return false
		}
	}
	return true
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
	if !errors.As(err, &rfc) {
		p.Log.ErrorContext(r.Context(), "authorize", "err", err)
		err = fosite.ErrServerError.WithWrap(err)
	}
	p.oauth.WriteAuthorizeError(r.Context(), w, ar, err)
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
		p.logTokenError(ctx, err)
		p.oauth.WriteAccessError(ctx, w, ar, err)
		return
	}
	if ar.GetGrantTypes().ExactOne("refresh_token") || ar.GetGrantTypes().ExactOne("authorization_code") {
		// A user disabled since the grant gets nothing more.
		if u, err := p.Users.UserByID(ctx, ar.GetSession().GetSubject()); err != nil || u.Disabled {
			err := fosite.ErrInvalidGrant.WithHint("The user's account is not active.")
			p.logTokenError(ctx, err)
			p.oauth.WriteAccessError(ctx, w, ar, err)
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
		p.logTokenError(ctx, err)
		p.oauth.WriteAccessError(ctx, w, ar, err)
		return
	}
	p.oauth.WriteAccessResponse(ctx, w, ar, resp)
	for _, g := range ar.GetGrantTypes() {
		metrics.From(ctx).TokenIssued(g)
	}
}

func (p *Provider) logTokenError(ctx context.Context, err error) {
	var rfc *fosite.RFC6749Error
	if errors.As(err, &rfc) && rfc.CodeField < 500 {
		p.Log.InfoContext(ctx, "token request refused", "error", rfc.ErrorField, "hint", rfc.HintField, "debug", rfc.DebugField)
		return
	}
	p.Log.ErrorContext(ctx, "token request failed", "err", err)
}

func (p *Provider) userinfo(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	token := fosite.AccessTokenFromRequest(r)
	if token == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="latchkey"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_request", "error_description": "A bearer access token is required."})
		return
	}
	sess := &openid.DefaultSession{Claims: &jwt.IDTokenClaims{}, Headers: &jwt.Headers{}}
	_, ar, err := p.oauth.IntrospectToken(ctx, token, fosite.AccessToken, sess)
	if err != nil || !ar.GetGrantedScopes().Has("openid") || sess.Claims.Subject == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="latchkey", error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token", "error_description": "The access token is invalid, expired or revoked."})
		return
	}
	user, err := p.Users.UserByID(ctx, sess.Claims.Subject)
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
	sess := &openid.DefaultSession{Claims: &jwt.IDTokenClaims{}, Headers: &jwt.Headers{}}
	ir, err := p.oauth.NewIntrospectionRequest(ctx, r, sess)
	if err != nil {
		p.oauth.WriteIntrospectionError(ctx, w, err)
		return
	}
	p.oauth.WriteIntrospectionResponse(ctx, w, ir)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

package e2e

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"latchkey/config"
	"latchkey/internal/testkit"
)

const (
	shopCallback = "https://shop.example/callback"
	spaCallback  = "http://127.0.0.1:9999/cb"
	shopSecret   = "shop-secret-shop-secret-shop-secret-42"
)

// standardClients is a confidential web app and a public single-page app.
func standardClients(cfg *config.Config) {
	cfg.Clients = []config.Client{
		{ID: "shop", Name: "Shop", Secret: shopSecret, RedirectURIs: []string{shopCallback},
			Scopes: []string{"openid", "profile", "email", "offline_access"}, GrantTypes: []string{"authorization_code", "refresh_token"}, MinACR: "1fa"},
		{ID: "spa", Name: "SPA", Public: true, RedirectURIs: []string{spaCallback},
			Scopes: []string{"openid", "email"}, GrantTypes: []string{"authorization_code"}, MinACR: "1fa"},
	}
}

// rp is a relying party built from go-oidc and x/oauth2.
type rp struct {
	Provider *oidc.Provider
	OAuth    oauth2.Config
	Verifier *oidc.IDTokenVerifier
}

func newRP(t *testing.T, issuer, clientID, secret, redirect string, scopes ...string) *rp {
	t.Helper()
	p, err := oidc.NewProvider(context.Background(), issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	return &rp{
		Provider: p,
		OAuth:    oauth2.Config{ClientID: clientID, ClientSecret: secret, Endpoint: p.Endpoint(), RedirectURL: redirect, Scopes: scopes},
		Verifier: p.Verifier(&oidc.Config{ClientID: clientID}),
	}
}

// authStart is one authorization request's secrets.
type authStart struct {
	URL, State, Nonce, PKCE string
}

func (r *rp) start(extra ...oauth2.AuthCodeOption) authStart {
	s := authStart{State: oauth2.GenerateVerifier(), Nonce: oauth2.GenerateVerifier(), PKCE: oauth2.GenerateVerifier()}
	opts := append([]oauth2.AuthCodeOption{oidc.Nonce(s.Nonce), oauth2.S256ChallengeOption(s.PKCE)}, extra...)
	s.URL = r.OAuth.AuthCodeURL(s.State, opts...)
	return s
}

// callback reads the code (or error) the browser was redirected back with.
func callback(t *testing.T, p *testkit.Page, prefix string) url.Values {
	t.Helper()
	if p.Location == "" || !strings.HasPrefix(p.Location, prefix) {
		t.Fatalf("expected a redirect to %s, got status %d at %s location %q:\n%.1500s", prefix, p.Status, p.URL, p.Location, p.Body)
	}
	u, err := url.Parse(p.Location)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

// passwordLogin fills the identify step of the login page.
func passwordLogin(t *testing.T, b *testkit.Browser, page *testkit.Page, email, pw string) *testkit.Page {
	t.Helper()
	f := page.FormWithButton(t, "method", "password")
	f.Set("identifier", email).Set("password", pw)
	return b.Submit(f)
}

// idClaims is what the tests read from ID tokens.
type idClaims struct {
	Sub      string   `json:"sub"`
	AMR      []string `json:"amr"`
	ACR      string   `json:"acr"`
	AuthTime int64    `json:"auth_time"`
	AtHash   string   `json:"at_hash"`
	Nonce    string   `json:"nonce"`
	Email    string   `json:"email"`
	SID      string   `json:"sid"`
}

func eachBackend(t *testing.T, fn func(t *testing.T, dsn string)) {
	for _, be := range testkit.Backends() {
		t.Run(be.Name, func(t *testing.T) { fn(t, be.DSN(t)) })
	}
}

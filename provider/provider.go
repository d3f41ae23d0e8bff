package provider

import (
	"context"
	"log/slog"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"

	"latchkey/config"
	"latchkey/login"
	"latchkey/seal"
	"latchkey/store"
	"latchkey/templates"
)

// Token lifetimes; access, ID and refresh tokens take theirs from
// tokens.* (Deps.Tokens), these are the defaults.
const (
	AccessTokenLifespan   = time.Hour
	IDTokenLifespan       = time.Hour
	AuthorizeCodeLifespan = 10 * time.Minute
	RefreshTokenLifespan  = 30 * 24 * time.Hour
	// KeyGrace keeps a replaced signing key published until every ID token
	// it signed has expired, with room for clock skew.
	KeyGrace = IDTokenLifespan + 5*time.Minute
)

// KeyGraceFor is KeyGrace for a configured ID token lifetime.
func KeyGraceFor(idTokenTTL time.Duration) time.Duration {
	if idTokenTTL <= 0 {
		return KeyGrace
	}
	return idTokenTTL + 5*time.Minute
}

// Users is what the provider reads about users (userinfo, ID token claims).
type Users interface {
	UserByID(ctx context.Context, id string) (*store.User, error)
}

// Provider is the OpenID Provider.
type Provider struct {
	Issuer  string
	Clients *Clients
	Keys    *Keys
	Login   *login.Service
	Users   Users
	// SessionClients remembers which clients a session signed in to.
	SessionClients SessionClients
	// Backchannel tells relying parties of ended sessions; New builds it.
	Backchannel *Backchannel
	Render      *templates.Renderer
	Log         *slog.Logger
	Now         func() time.Time

	oauth  fosite.OAuth2Provider
	signer *signer
	tokens TokenStore
}

// Deps are the parts New wires into fosite.
type Deps struct {
	Issuer  string
	Store   TokenStore
	Clients *Clients
	Keys    *Keys
	Seal    *seal.Keyring
	Now     func() time.Time
	// Tokens are the configured lifetimes and the refresh-reuse grace;
	// zero lifetimes take the defaults above.
	Tokens config.Tokens
}

func orDefault(d config.Duration, def time.Duration) time.Duration {
	if d.Duration > 0 {
		return d.Duration
	}
	return def
}

// Assemble builds fosite from explicit factories: only the flows Latchkey
// offers are compiled in (no implicit or hybrid flow, no password grant).
func Assemble(d Deps) (fosite.OAuth2Provider, *signer) {
	// fosite's HMAC strategy signs opaque tokens with a 32-byte secret;
	// derive it from the configured secrets so every replica agrees. The
	// older secrets.keys keep validating what they signed, so rotating the
	// secrets does not sign every relying party out.
	secrets := d.Seal.MACs("fosite-global-secret")
	refreshTTL := orDefault(d.Tokens.RefreshTokenTTL, RefreshTokenLifespan)
	cfg := &fosite.Config{
		IDTokenIssuer:               d.Issuer,
		AccessTokenIssuer:           d.Issuer,
		AccessTokenLifespan:         orDefault(d.Tokens.AccessTokenTTL, AccessTokenLifespan),
		IDTokenLifespan:             orDefault(d.Tokens.IDTokenTTL, IDTokenLifespan),
		AuthorizeCodeLifespan:       AuthorizeCodeLifespan,
		RefreshTokenLifespan:        refreshTTL,
		GlobalSecret:                secrets[0],
		RotatedGlobalSecrets:        secrets[1:],
		EnforcePKCEForPublicClients: true,
		ScopeStrategy:               fosite.ExactScopeStrategy,
		AudienceMatchingStrategy:    fosite.DefaultAudienceMatchingStrategy,
		ClientSecretsHasher:         secretHasher{},
		RefreshTokenScopes:          []string{"offline_access"},
		AllowedPromptValues:         []string{"login", "none", "consent"},
		MinParameterEntropy:         fosite.MinParameterEntropy,
		TokenURL:                    d.Issuer + "/oauth2/token",
	}
	st := &storage{tokens: d.Store, clients: d.Clients, lifespan: refreshTTL,
		grace: d.Tokens.RefreshReuseGrace.Duration, now: d.Now}
	sg := &signer{keys: d.Keys}
	strategy := &compose.CommonStrategy{
		CoreStrategy:               newKindStrategy(cfg),
		OpenIDConnectTokenStrategy: &openid.DefaultStrategy{Signer: sg, Config: cfg},
		Signer:                     sg,
	}
	return compose.Compose(cfg, st, strategy,
		compose.OAuth2AuthorizeExplicitFactory,
		compose.OAuth2PKCEFactory,
		compose.OpenIDConnectExplicitFactory,
		compose.OAuth2RefreshTokenGrantFactory,
		compose.OpenIDConnectRefreshFactory,
		compose.OAuth2ClientCredentialsGrantFactory,
		compose.OAuth2TokenIntrospectionFactory,
		compose.OAuth2TokenRevocationFactory,
	), sg
}

// New assembles the provider.
func New(p *Provider, d Deps) *Provider {
	p.oauth, p.signer = Assemble(d)
	p.Backchannel = &Backchannel{Issuer: p.Issuer, Clients: p.Clients, SessionClients: p.SessionClients, Log: p.Log, signer: p.signer}
	p.tokens = d.Store
	return p
}

// newSession is the fosite session for an authenticated user; amr, acr and
// auth_time come from login, nothing here decides them.
func newSession(subject string, results []login.Result, sid string, requestedAt time.Time) *openid.DefaultSession {
	return &openid.DefaultSession{
		Claims: &jwt.IDTokenClaims{
			Subject:                             subject,
			AuthTime:                            login.AuthTime(results).UTC().Truncate(time.Second),
			RequestedAt:                         requestedAt.UTC().Truncate(time.Second),
			AuthenticationMethodsReferences:     login.AMR(results),
			AuthenticationContextClassReference: login.ACR(results).String(),
			Extra:                               map[string]interface{}{"sid": sid},
		},
		Headers: &jwt.Headers{},
		Subject: subject,
	}
}

package provider

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/handler/pkce"
	fstorage "github.com/ory/fosite/storage"

	"latchkey/store"
)

// TokenStore is what the adapter needs; store.Store implements it.
type TokenStore interface {
	CreateToken(ctx context.Context, t *store.OAuthToken) error
	GetToken(ctx context.Context, kind, signature string) (*store.OAuthToken, error)
	DeactivateToken(ctx context.Context, kind, signature string) error
	RotateToken(ctx context.Context, kind, signature string) error
	RequestHasActive(ctx context.Context, kind, requestID string) (bool, error)
	DeactivateRequestTokens(ctx context.Context, kind, requestID string) error
	DeleteToken(ctx context.Context, kind, signature string) error
	LockRequest(ctx context.Context, requestID string) error
	BeginTx(ctx context.Context) (context.Context, error)
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error
}

// storage adapts the store to fosite's storage interfaces. Every request is
// kept as one JSON document (storedRequest) keyed by kind and signature.
type storage struct {
	tokens  TokenStore
	clients *Clients
	// lifespan is used for rows whose session carries no expiry.
	lifespan time.Duration
	// grace is tokens.refresh_reuse_grace (see GetRefreshTokenSession).
	grace time.Duration
	now   func() time.Time
}

var (
	_ fosite.Storage                     = (*storage)(nil)
	_ oauth2.CoreStorage                 = (*storage)(nil)
	_ oauth2.TokenRevocationStorage      = (*storage)(nil)
	_ openid.OpenIDConnectRequestStorage = (*storage)(nil)
	_ pkce.PKCERequestStorage            = (*storage)(nil)
	_ fstorage.Transactional             = (*storage)(nil)
)

type storedRequest struct {
	ID string `json:"id"`
	// RequestedAt is the old rows' time; new ones write At.
	RequestedAt       time.Time  `json:"requested_at,omitzero"`
	At                unixTime   `json:"at,omitzero"`
	ClientID          string     `json:"client_id"`
	RequestedScope    []string   `json:"scopes"`
	GrantedScope      []string   `json:"granted_scopes"`
	RequestedAudience []string   `json:"audience,omitempty"`
	GrantedAudience   []string   `json:"granted_audience,omitempty"`
	Form              url.Values `json:"form,omitempty"`
	// Session is fosite's JSON of the session: old rows, and a session
	// that is not an openid.DefaultSession. New rows keep a
	// DefaultSession in Compact (session.go).
	Session json.RawMessage `json:"session,omitempty"`
	Compact *storedSession  `json:"sess,omitempty"`
}

// formKept lists the request parameters worth keeping with a token; nothing
// secret (client_secret, code_verifier, the verifier) is stored.
var formKept = []string{"redirect_uri", "response_type", "nonce", "state", "max_age", "prompt", "acr_values",
	"code_challenge", "code_challenge_method", "grant_type", "scope", "claims", "id_token_hint", "login_hint"}

func (s *storage) GetClient(_ context.Context, id string) (fosite.Client, error) {
	c, ok := s.clients.Get(id)
	if !ok {
		return nil, fosite.ErrNotFound
	}
	return c, nil
}

// Client assertion JWTs (private_key_jwt) are not offered; fosite only asks
// these when a client uses them.
func (s *storage) ClientAssertionJWTValid(context.Context, string) error { return nil }
func (s *storage) SetClientAssertionJWT(context.Context, string, time.Time) error {
	return errors.New("client assertions are not supported")
}

func (s *storage) create(ctx context.Context, kind, signature string, req fosite.Requester, tokenType fosite.TokenType) error {
	stored := storedRequest{
		ID: req.GetID(), At: unixTime(req.GetRequestedAt()), ClientID: req.GetClient().GetID(),
		RequestedScope: req.GetRequestedScopes(), GrantedScope: req.GetGrantedScopes(),
		RequestedAudience: req.GetRequestedAudience(), GrantedAudience: req.GetGrantedAudience(),
	}
	if c, ok := compactSession(req.GetSession()); ok {
		stored.Compact = c
	} else {
		sess, err := json.Marshal(req.GetSession())
		if err != nil {
			return fmt.Errorf("encode session: %w", err)
		}
		stored.Session = sess
	}
	form := url.Values{}
	for _, k := range formKept {
		if v, ok := req.GetRequestForm()[k]; ok {
			form[k] = v
		}
	}
	if len(form) > 0 {
		stored.Form = form
	}
	doc, err := json.Marshal(stored)
	if err != nil {
		return fmt.Errorf("encode request: %w", err)
	}
	exp := time.Time{}
	if req.GetSession() != nil {
		exp = req.GetSession().GetExpiresAt(tokenType)
	}
	if exp.IsZero() {
		exp = s.now().Add(s.lifespan)
	}
	subject := ""
	if req.GetSession() != nil {
		subject = req.GetSession().GetSubject()
	}
	return storeFault(s.tokens.CreateToken(ctx, &store.OAuthToken{Kind: kind, Signature: signature, RequestID: req.GetID(),
		ClientID: req.GetClient().GetID(), Subject: subject, Active: true, Data: doc, ExpiresAt: exp}))
}

// get loads a request and its row; an inactive row comes back with the
// request too, so fosite can revoke what it issued.
func (s *storage) get(ctx context.Context, kind, signature string, session fosite.Session) (fosite.Requester, *store.OAuthToken, error) {
	if signature == "" {
		// A token of another kind or with a bad MAC (kindStrategy).
		return nil, nil, fosite.ErrNotFound
	}
	row, err := s.tokens.GetToken(ctx, kind, signature)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, fosite.ErrNotFound
	}
	if err != nil {
		return nil, nil, unavailable(err)
	}
	var doc storedRequest
	if err := json.Unmarshal(row.Data, &doc); err != nil {
		return nil, nil, fmt.Errorf("decode request: %w", err)
	}
	client, err := s.GetClient(ctx, doc.ClientID)
	if err != nil {
		// The client was removed from the config: its tokens die with it.
		return nil, nil, fosite.ErrNotFound
	}
	if session != nil {
		if doc.Compact != nil {
			err = doc.Compact.restore(session)
		} else {
			err = json.Unmarshal(doc.Session, session)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("decode session: %w", err)
		}
	}
	at := doc.RequestedAt
	if !doc.At.IsZero() {
		at = doc.At.Time()
	}
	req := &fosite.Request{
		ID: doc.ID, RequestedAt: at, Client: client,
		RequestedScope: doc.RequestedScope, GrantedScope: doc.GrantedScope,
		RequestedAudience: doc.RequestedAudience, GrantedAudience: doc.GrantedAudience,
		Form: doc.Form, Session: session,
	}
	if req.Form == nil {
		req.Form = url.Values{}
	}
	return req, row, nil
}

func (s *storage) CreateAuthorizeCodeSession(ctx context.Context, code string, req fosite.Requester) error {
	return s.create(ctx, store.KindAuthorizeCode, code, req, fosite.AuthorizeCode)
}

func (s *storage) GetAuthorizeCodeSession(ctx context.Context, code string, session fosite.Session) (fosite.Requester, error) {
	req, row, err := s.get(ctx, store.KindAuthorizeCode, code, session)
	if err != nil {
		return nil, err
	}
	if !row.Active {
		return req, fosite.ErrInvalidatedAuthorizeCode
	}
	return req, nil
}

// InvalidateAuthorizeCodeSession is the single use of a code: a conditional
// update, so of two concurrent exchanges only one gets tokens.
func (s *storage) InvalidateAuthorizeCodeSession(ctx context.Context, code string) error {
	if err := s.tokens.DeactivateToken(ctx, store.KindAuthorizeCode, code); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fosite.ErrInvalidatedAuthorizeCode
		}
		return unavailable(err)
	}
	return nil
}

func (s *storage) CreateAccessTokenSession(ctx context.Context, sig string, req fosite.Requester) error {
	return s.create(ctx, store.KindAccessToken, sig, req, fosite.AccessToken)
}

func (s *storage) GetAccessTokenSession(ctx context.Context, sig string, session fosite.Session) (fosite.Requester, error) {
	req, row, err := s.get(ctx, store.KindAccessToken, sig, session)
	if err != nil {
		return nil, err
	}
	if !row.Active {
		return nil, fosite.ErrNotFound
	}
	return req, nil
}

func (s *storage) DeleteAccessTokenSession(ctx context.Context, sig string) error {
	return storeFault(s.tokens.DeleteToken(ctx, store.KindAccessToken, sig))
}

func (s *storage) CreateRefreshTokenSession(ctx context.Context, sig, _ string, req fosite.Requester) error {
	return s.create(ctx, store.KindRefreshToken, sig, req, fosite.RefreshToken)
}

// The refresh-reuse grace. An RP that refreshes from several requests at
// once (oauth2-proxy, mod_auth_openidc) presents one refresh token twice;
// without a grace the second use looks like theft and revokes the family,
// the first request's fresh tokens included.
//
// Design: a sibling in the family. A refresh token rotated less than
// tokens.refresh_reuse_grace ago, presented again by the same client
// (fosite checks the client before it rotates) while its family still has a
// live refresh token, is answered like a first use: fosite mints a new
// access and refresh token under the same request ID. Nothing is revoked on
// that path, so the first request's tokens stay valid; whichever pair the
// RP keeps works, and the family is still one authorization that a later
// reuse or revocation ends as a whole. We do not replay the first answer:
// fosite stores only token signatures, so replaying would mean keeping
// live tokens decryptable at rest. Outside the grace, or once the family
// is revoked (no live refresh token left), reuse revokes the family as
// before. The grace is measured on the injected clock from rotated_at,
// which only rotation sets.
func (s *storage) withinGrace(ctx context.Context, row *store.OAuthToken) (bool, error) {
	if row.Active || row.RotatedAt == nil || s.grace <= 0 {
		return false, nil
	}
	if s.now().Sub(*row.RotatedAt) > s.grace {
		return false, nil
	}
	return s.tokens.RequestHasActive(ctx, store.KindRefreshToken, row.RequestID)
}

func (s *storage) GetRefreshTokenSession(ctx context.Context, sig string, session fosite.Session) (fosite.Requester, error) {
	req, row, err := s.get(ctx, store.KindRefreshToken, sig, session)
	if err != nil {
		return nil, err
	}
	if !row.Active {
		ok, err := s.withinGrace(ctx, row)
		if err != nil {
			return nil, err
		}
		if ok {
			return req, nil
		}
		// A rotated token came back after the grace: fosite treats this
		// as theft and revokes the whole family.
		return req, fosite.ErrInactiveToken
	}
	return req, nil
}

// DeleteRefreshTokenSession keeps the row, which is already inactive when
// fosite calls this (a replayed token): deleting it would take a row lock
// before the family lock of LockRequest and deadlock with a concurrent
// refresh on PostgreSQL. The purge removes it when it expires.
func (s *storage) DeleteRefreshTokenSession(context.Context, string) error {
	return nil
}

// RotateRefreshToken retires the used refresh token (kept, inactive, so a
// replay is recognised) and the access tokens issued before it. A token
// already rotated within the reuse grace gets a sibling instead: nothing
// is retired, so the tokens the first request received keep working. This
// also covers two requests racing: the loser's conditional update finds
// the row already rotated (on PostgreSQL after waiting for the winner's
// commit) and takes the grace path instead of failing.
func (s *storage) RotateRefreshToken(ctx context.Context, requestID, sig string) error {
	if err := s.tokens.LockRequest(ctx, requestID); err != nil {
		return unavailable(err)
	}
	err := s.tokens.RotateToken(ctx, store.KindRefreshToken, sig)
	if errors.Is(err, store.ErrNotFound) {
		row, gerr := s.tokens.GetToken(ctx, store.KindRefreshToken, sig)
		if gerr != nil {
			return fosite.ErrSerializationFailure
		}
		ok, gerr := s.withinGrace(ctx, row)
		if gerr != nil {
			return unavailable(gerr)
		}
		if ok && row.RequestID == requestID {
			return nil
		}
		return fosite.ErrSerializationFailure
	}
	if err != nil {
		return unavailable(err)
	}
	return storeFault(s.tokens.DeactivateRequestTokens(ctx, store.KindAccessToken, requestID))
}

func (s *storage) RevokeRefreshToken(ctx context.Context, requestID string) error {
	return storeFault(s.tokens.DeactivateRequestTokens(ctx, store.KindRefreshToken, requestID))
}

func (s *storage) RevokeAccessToken(ctx context.Context, requestID string) error {
	return storeFault(s.tokens.DeactivateRequestTokens(ctx, store.KindAccessToken, requestID))
}

// The OIDC and PKCE rows are keyed by the raw authorization code in fosite's
// calls; only its digest is stored.
func digest(v string) string {
	sum := sha256.Sum256([]byte(v))
	return hex.EncodeToString(sum[:])
}

func (s *storage) CreateOpenIDConnectSession(ctx context.Context, code string, req fosite.Requester) error {
	return s.create(ctx, store.KindOIDC, digest(code), req, fosite.AuthorizeCode)
}

func (s *storage) GetOpenIDConnectSession(ctx context.Context, code string, req fosite.Requester) (fosite.Requester, error) {
	r, _, err := s.get(ctx, store.KindOIDC, digest(code), req.GetSession())
	return r, err
}

func (s *storage) DeleteOpenIDConnectSession(ctx context.Context, code string) error {
	return storeFault(s.tokens.DeleteToken(ctx, store.KindOIDC, digest(code)))
}

func (s *storage) CreatePKCERequestSession(ctx context.Context, sig string, req fosite.Requester) error {
	return s.create(ctx, store.KindPKCE, sig, req, fosite.AuthorizeCode)
}

func (s *storage) GetPKCERequestSession(ctx context.Context, sig string, session fosite.Session) (fosite.Requester, error) {
	r, _, err := s.get(ctx, store.KindPKCE, sig, session)
	return r, err
}

// DeletePKCERequestSession keeps the row: fosite deletes it before the
// code's conditional consume, so a concurrent exchange of the same code
// would fail on the missing challenge instead of being seen as a replay
// (and the replay revocation skipped). The row dies with the code: the
// code is single-use on its own, and the purge removes expired rows.
func (s *storage) DeletePKCERequestSession(context.Context, string) error {
	return nil
}

func (s *storage) BeginTX(ctx context.Context) (context.Context, error) {
	ctx, err := s.tokens.BeginTx(ctx)
	return ctx, unavailable(err)
}
func (s *storage) Commit(ctx context.Context) error   { return unavailable(s.tokens.Commit(ctx)) }
func (s *storage) Rollback(ctx context.Context) error { return unavailable(s.tokens.Rollback(ctx)) }

package provider

import (
	"context"
	"encoding/json"
	"net/url"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"

	"latchkey/config"
	"latchkey/store"
)

func sessionTestStorage(t *testing.T) (*storage, *store.Store, fosite.Client) {
	t.Helper()
	st, err := store.Open("sqlite://"+filepath.Join(t.TempDir(), "s.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	clients, err := NewClients([]config.Client{{ID: "shop", Name: "Shop", Secret: "shop-secret-shop-secret-shop-secret-42",
		RedirectURIs: []string{"https://shop.example/cb"}, Scopes: []string{"openid", "email", "offline_access"}, MinACR: "1fa"}})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := clients.Get("shop")
	return &storage{tokens: st, clients: clients, lifespan: time.Hour, now: time.Now}, st, c
}

// TestStoredSessionRoundTrip: what the compact form stores comes back as
// the same openid.DefaultSession, for an empty session (client
// credentials) and one with every field set (an ID token's claims, times
// to the nanosecond).
func TestStoredSessionRoundTrip(t *testing.T) {
	ctx := context.Background()
	s, _, client := sessionTestStorage(t)
	at := time.Date(2026, 11, 28, 22, 16, 19, 123456789, time.UTC)
	full := &openid.DefaultSession{
		Claims: &jwt.IDTokenClaims{JTI: "j", Issuer: "https://id.example", Subject: "u1", Audience: []string{"shop"},
			Nonce: "n-123", ExpiresAt: at.Add(time.Hour), IssuedAt: at, RequestedAt: at.Truncate(time.Second),
			AuthTime: at.Add(-time.Minute), AccessTokenHash: "ath", AuthenticationContextClassReference: "phr",
			AuthenticationMethodsReferences: []string{"pwd", "hwk"}, CodeHash: "ch", Extra: map[string]any{"sid": "s1"}},
		Headers:   &jwt.Headers{Extra: map[string]any{"kid": "k1"}},
		ExpiresAt: map[fosite.TokenType]time.Time{fosite.AccessToken: at.Add(time.Hour), fosite.RefreshToken: at.Add(24 * time.Hour).Round(time.Second)},
		Username:  "ray", Subject: "u1",
	}
	empty := &openid.DefaultSession{Claims: &jwt.IDTokenClaims{}, Headers: &jwt.Headers{}}
	for name, sess := range map[string]*openid.DefaultSession{"full": full, "empty": empty} {
		t.Run(name, func(t *testing.T) {
			req := fosite.NewRequest()
			req.ID, req.Client, req.Session, req.RequestedAt = "req-"+name, client, sess, at
			req.GrantedScope = fosite.Arguments{"openid"}
			req.Form = url.Values{"nonce": {"n-123"}}
			if err := s.CreateAccessTokenSession(ctx, "sig-"+name, req); err != nil {
				t.Fatal(err)
			}
			got := &openid.DefaultSession{}
			r, err := s.GetAccessTokenSession(ctx, "sig-"+name, got)
			if err != nil {
				t.Fatal(err)
			}
			want := *sess
			if len(want.ExpiresAt) == 0 && len(got.ExpiresAt) == 0 {
				want.ExpiresAt = got.ExpiresAt // nil and empty are one to fosite
			}
			if !reflect.DeepEqual(got, &want) {
				a, _ := json.Marshal(got)
				b, _ := json.Marshal(&want)
				t.Fatalf("session came back as\n%s\nwant\n%s", a, b)
			}
			if !r.GetRequestedAt().Equal(at) || r.GetID() != req.ID {
				t.Fatalf("request came back as %v %q", r.GetRequestedAt(), r.GetID())
			}
		})
	}
}

// TestOldStoredSessionReadable: rows written before the compact form
// (fosite's session JSON under "session", the time as text) still load.
func TestOldStoredSessionReadable(t *testing.T) {
	ctx := context.Background()
	s, st, _ := sessionTestStorage(t)
	at := time.Date(2026, 11, 28, 22, 16, 19, 5, time.UTC)
	old := &openid.DefaultSession{Claims: &jwt.IDTokenClaims{Subject: "u1", AuthTime: at.Truncate(time.Second),
		AuthenticationMethodsReferences: []string{"pwd"}, Extra: map[string]any{"sid": "s1"}},
		Headers: &jwt.Headers{}, ExpiresAt: map[fosite.TokenType]time.Time{fosite.AccessToken: at.Add(time.Hour)}, Subject: "u1"}
	sess, _ := json.Marshal(old)
	doc, _ := json.Marshal(map[string]any{"id": "req-old", "requested_at": at, "client_id": "shop",
		"scopes": []string{"openid"}, "granted_scopes": []string{"openid"}, "session": json.RawMessage(sess)})
	if err := st.CreateToken(ctx, &store.OAuthToken{Kind: store.KindAccessToken, Signature: "sig-old", RequestID: "req-old",
		ClientID: "shop", Subject: "u1", Active: true, Data: doc, ExpiresAt: at.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	got := &openid.DefaultSession{}
	r, err := s.GetAccessTokenSession(ctx, "sig-old", got)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, old) || !r.GetRequestedAt().Equal(at) {
		a, _ := json.Marshal(got)
		t.Fatalf("old row came back as %s at %v", a, r.GetRequestedAt())
	}
}

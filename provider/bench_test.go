package provider

import (
	"context"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"

	"latchkey/config"
	"latchkey/login"
	"latchkey/seal"
	"latchkey/store"
)

func benchStore(b *testing.B) *store.Store {
	b.Helper()
	st, err := store.Open("sqlite://"+filepath.Join(b.TempDir(), "bench.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		b.Fatal(err)
	}
	return st
}

func benchRequest(b *testing.B, clients *Clients) *fosite.Request {
	c, _ := clients.Get("shop")
	at := time.Now()
	results := []login.Result{{Method: login.MethodPassword, UserID: "user-1", At: at}}
	req := fosite.NewRequest()
	req.ID = "request-1"
	req.Client = c
	req.RequestedScope = fosite.Arguments{"openid", "email", "offline_access"}
	req.GrantedScope = req.RequestedScope
	req.Session = newSession("user-1", results, "sid-1", at)
	return req
}

// BenchmarkStorageCreateGet stores an access token's request through the
// fosite adapter and loads it back (a grant, then an introspection), on
// SQLite.
func BenchmarkStorageCreateGet(b *testing.B) {
	ctx := context.Background()
	clients, err := NewClients([]config.Client{{ID: "shop", Name: "Shop", Secret: "shop-secret-shop-secret-shop-secret-42",
		RedirectURIs: []string{"https://shop.example/cb"}, Scopes: []string{"openid", "email", "offline_access"}, MinACR: "1fa"}})
	if err != nil {
		b.Fatal(err)
	}
	s := &storage{tokens: benchStore(b), clients: clients, lifespan: time.Hour, now: time.Now}
	req := benchRequest(b, clients)
	i := 0
	for b.Loop() {
		i++
		sig := "sig-" + strconv.Itoa(i)
		if err := s.CreateAccessTokenSession(ctx, sig, req); err != nil {
			b.Fatal(err)
		}
		if _, err := s.GetAccessTokenSession(ctx, sig, openid.NewDefaultSession()); err != nil {
			b.Fatal(err)
		}
	}
}

// benchStorage is the fosite adapter on a fresh SQLite database with the
// client the benchmark requests name.
func benchStorage(b *testing.B) (*storage, *fosite.Request) {
	b.Helper()
	clients, err := NewClients([]config.Client{{ID: "shop", Name: "Shop", Secret: "shop-secret-shop-secret-shop-secret-42",
		RedirectURIs: []string{"https://shop.example/cb"}, Scopes: []string{"openid", "email", "offline_access"}, MinACR: "1fa"}})
	if err != nil {
		b.Fatal(err)
	}
	return &storage{tokens: benchStore(b), clients: clients, lifespan: time.Hour, now: time.Now}, benchRequest(b, clients)
}

// requestContext is a context that can be cancelled, as an HTTP
// request's is (the SQLite driver treats those differently).
func requestContext(b *testing.B) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	return ctx
}

// BenchmarkStorageCreate stores one access token's request (a grant's
// write) and reports the stored document's size.
func BenchmarkStorageCreate(b *testing.B) {
	ctx := requestContext(b)
	s, req := benchStorage(b)
	i := 0
	for b.Loop() {
		i++
		if err := s.CreateAccessTokenSession(ctx, "sig-"+strconv.Itoa(i), req); err != nil {
			b.Fatal(err)
		}
	}
	row, err := s.tokens.GetToken(ctx, store.KindAccessToken, "sig-1")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(len(row.Data)), "stored-B/op")
}

// BenchmarkStorageCreateParallel is BenchmarkStorageCreate from 16
// goroutines per core, as the token endpoint under load: writers queue.
func BenchmarkStorageCreateParallel(b *testing.B) {
	ctx := requestContext(b)
	s, req := benchStorage(b)
	var n atomic.Int64
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.CreateAccessTokenSession(ctx, "sig-"+strconv.FormatInt(n.Add(1), 10), req); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkStorageGet loads one access token's request (an
// introspection's read).
func BenchmarkStorageGet(b *testing.B) {
	ctx := requestContext(b)
	s, req := benchStorage(b)
	if err := s.CreateAccessTokenSession(ctx, "sig-1", req); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.GetAccessTokenSession(ctx, "sig-1", openid.NewDefaultSession()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIDToken mints an ID token (claims, header, signature) with each
// algorithm.
func BenchmarkIDToken(b *testing.B) {
	for _, alg := range []string{RS256, ES256} {
		b.Run(alg, func(b *testing.B) {
			ctx := context.Background()
			kr, _ := seal.New([]string{"test-secret-test-secret-test-secret-0123"}, nil)
			keys := &Keys{Store: benchStore(b), Seal: kr, Now: time.Now, Grace: KeyGrace, Alg: alg}
			if err := keys.Ensure(ctx); err != nil {
				b.Fatal(err)
			}
			clients, _ := NewClients([]config.Client{{ID: "shop", Name: "Shop", Secret: "shop-secret-shop-secret-shop-secret-42",
				RedirectURIs: []string{"https://shop.example/cb"}, Scopes: []string{"openid", "email", "offline_access"}, MinACR: "1fa"}})
			cfg := &fosite.Config{IDTokenIssuer: "https://id.example", IDTokenLifespan: time.Hour, MinParameterEntropy: 8}
			strategy := &openid.DefaultStrategy{Signer: &signer{keys: keys}, Config: cfg}
			req := benchRequest(b, clients)
			req.Form.Set("nonce", "a-nonce-of-enough-length")
			for b.Loop() {
				if _, err := strategy.GenerateIDToken(ctx, time.Hour, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
